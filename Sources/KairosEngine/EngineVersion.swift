/// A semantic engine version such as `1.0.0`. Each version's physics lives in its own type.
public struct EngineVersion: Sendable, Hashable, Comparable, CustomStringConvertible, Codable {
    public let major: Int
    public let minor: Int
    public let patch: Int

    public init(_ major: Int, _ minor: Int, _ patch: Int) {
        self.major = major
        self.minor = minor
        self.patch = patch
    }

    /// Parses `MAJOR.MINOR.PATCH` (non-negative integers, no leading `v`); nil otherwise.
    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { return nil }
        var numbers: [Int] = []
        for part in parts {
            guard !part.isEmpty, part.count <= 9, part.allSatisfy({ $0.isASCII && $0.isNumber }),
                  let n = Int(part) else { return nil }
            numbers.append(n)
        }
        self.init(numbers[0], numbers[1], numbers[2])
    }

    public var description: String { "\(major).\(minor).\(patch)" }

    public static func < (a: EngineVersion, b: EngineVersion) -> Bool {
        (a.major, a.minor, a.patch) < (b.major, b.minor, b.patch)
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let v = EngineVersion(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "not an engine version: \(text)"))
        }
        self = v
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// The physics of one engine version. A new version adds a new conforming type; an old
/// one is never edited, so its traces stay identical for as long as it is offered.
public protocol EnginePhysics: Sendable {
    static var version: EngineVersion { get }
    /// Starts a simulation of a validated scenario at tick 0.
    static func start(_ scenario: Scenario) -> any Simulation
    /// Rebuilds a simulation of `scenario` exactly as it was when `checkpoint` was taken.
    static func restore(_ checkpoint: SimulationCheckpoint, scenario: Scenario) throws(CheckpointError) -> any Simulation
}

/// Why a checkpoint could not be restored.
public struct CheckpointError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Maps engine versions to their physics. Every way of running a scenario goes through here.
public enum EngineRegistry {
    /// Every engine version offered, oldest first.
    public static let engines: [any EnginePhysics.Type] = [EngineV1_0_0.self, EngineV1_1_0.self]

    /// The version used when none is pinned: the newest offered.
    public static let latest: EngineVersion = EngineV1_1_0.version

    public static var available: [EngineVersion] { engines.map { $0.version }.sorted() }

    public static func physics(for version: EngineVersion) -> (any EnginePhysics.Type)? {
        engines.first { $0.version == version }
    }

    /// Starts `scenario` on `version` (the latest when nil); nil when the version is not offered.
    public static func start(_ scenario: Scenario, version: EngineVersion? = nil) -> (any Simulation)? {
        physics(for: version ?? latest)?.start(scenario)
    }

    /// Restores a checkpoint of any offered version, given the scenario it was started from.
    public static func restore(_ checkpoint: SimulationCheckpoint, scenario: Scenario) throws(CheckpointError) -> any Simulation {
        guard let physics = physics(for: checkpoint.engineVersion) else {
            throw CheckpointError("engine \(checkpoint.engineVersion) is not offered")
        }
        return try physics.restore(checkpoint, scenario: scenario)
    }
}
