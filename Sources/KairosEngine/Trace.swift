import Crypto

/// Incremental trace digest: `sha256:` + SHA-256 of the canonical step lines, each followed
/// by `\n`, so a canonically written NDJSON trace has `sha256sum` equal to its digest.
public struct TraceDigest: Sendable {
    private var hasher = SHA256()

    public init() {}

    /// Adds one canonical step line (without its newline).
    public mutating func add(line: [UInt8]) {
        hasher.update(data: line)
        hasher.update(data: [0x0A])
    }

    /// Adds bytes that already hold whole lines with their newlines.
    public mutating func add(lines: UnsafeRawBufferPointer) {
        hasher.update(bufferPointer: lines)
    }

    public mutating func add(step: TraceStep) {
        var w = CanonicalJSONWriter(capacity: 512)
        w.step(step)
        add(line: w.bytes)
    }

    public func finalize() -> String {
        var out = "sha256:"
        for byte in hasher.finalize() {
            let hex: [Character] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "a", "b", "c", "d", "e", "f"]
            out.append(hex[Int(byte >> 4)])
            out.append(hex[Int(byte & 0xF)])
        }
        return out
    }

    /// The digest of whole steps.
    public static func of(_ steps: some Sequence<TraceStep>) -> String {
        var d = TraceDigest()
        var w = CanonicalJSONWriter(capacity: 1024)
        for s in steps {
            w.reset()
            w.step(s)
            d.add(line: w.bytes)
        }
        return d.finalize()
    }
}

/// A trace's summary figures, accumulated step by step in constant memory (losses are few:
/// every loss shrinks the ceiling by RHO, so a world runs out of re-armable basins).
public struct TraceSummary: Sendable, Equatable {
    public private(set) var ticks = 0
    public private(set) var finalPhase: Phase?
    public private(set) var finalStability: Double?
    public private(set) var minStability: Double?
    public private(set) var stabilitySum = 0.0
    public private(set) var losses: [BasinLoss] = []
    public private(set) var warnings = 0
    public private(set) var prophecies = 0
    public private(set) var paradoxes = 0

    public init() {}

    public init(_ steps: some Sequence<TraceStep>) {
        for s in steps { add(s) }
    }

    public mutating func add(_ step: TraceStep) {
        let s = step.state.stability
        ticks += 1
        stabilitySum = stabilitySum + s
        finalPhase = step.state.phase
        finalStability = s
        if let m = minStability { minStability = Swift.min(m, s) } else { minStability = s }
        if let loss = step.loss { losses.append(loss) }
        if step.warning != nil { warnings += 1 }
        if step.prophecy != nil { prophecies += 1 }
        if step.paradox != nil { paradoxes += 1 }
    }

    /// Sum of stabilities in step order divided by the count; nil for an empty trace.
    public var meanStability: Double? { ticks == 0 ? nil : stabilitySum / Double(ticks) }
}

/// The `metadata` of a trace object (API.md).
public struct TraceMetadata: Sendable, Equatable {
    public var simulationId: String?
    public var scenarioId: String?
    public var engineVersion: EngineVersion
    public var seed: UInt64
    public var ticks: Int
    public var digest: String
    public init(simulationId: String?, scenarioId: String?, engineVersion: EngineVersion, seed: UInt64, ticks: Int,
                digest: String) {
        self.simulationId = simulationId
        self.scenarioId = scenarioId
        self.engineVersion = engineVersion
        self.seed = seed
        self.ticks = ticks
        self.digest = digest
    }
}

/// A whole trace held in memory (its steps in the compact `TraceSteps`).
public struct Trace: Sendable, Equatable {
    public var metadata: TraceMetadata
    public var initialState: SimulationSnapshot
    public var steps: TraceSteps

    public init(metadata: TraceMetadata, initialState: SimulationSnapshot, steps: TraceSteps) {
        self.metadata = metadata
        self.initialState = initialState
        self.steps = steps
    }

    public init(metadata: TraceMetadata, initialState: SimulationSnapshot, steps: [TraceStep]) {
        self.init(metadata: metadata, initialState: initialState, steps: TraceSteps(steps))
    }

    /// Runs `scenario` for `ticks` ticks on `version` (latest when nil); nil if the version is not offered.
    public static func run(_ scenario: Scenario, ticks: Int, version: EngineVersion? = nil,
                           scenarioId: String? = nil, simulationId: String? = nil) -> Trace? {
        guard let sim = EngineRegistry.start(scenario, version: version) else { return nil }
        let initial = sim.snapshot()
        var steps = TraceSteps()
        steps.reserveCapacity(max(0, ticks))
        var digest = TraceDigest()
        var w = CanonicalJSONWriter(capacity: 1024)
        for _ in 0 ..< max(0, ticks) {
            let s = sim.step()
            w.reset()
            w.step(s)
            digest.add(line: w.bytes)
            steps.append(s)
        }
        return Trace(
            metadata: TraceMetadata(simulationId: simulationId, scenarioId: scenarioId, engineVersion: sim.engineVersion,
                                    seed: scenario.seed, ticks: steps.count, digest: digest.finalize()),
            initialState: initial, steps: steps)
    }

    public var summary: TraceSummary { TraceSummary(steps) }
}
