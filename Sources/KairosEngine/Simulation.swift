/// A running simulation of one engine version: stepped incrementally, steered by decrees
/// between steps, checkpointed and restored exactly.
public protocol Simulation: AnyObject {
    var engineVersion: EngineVersion { get }
    var scenario: Scenario { get }
    /// The next tick to compute, which is also the number of ticks computed so far.
    var tick: Int { get }
    /// Computes one tick without materialising its step (the fastest way forward).
    func advance()
    /// Computes one tick and returns its step.
    func step() -> TraceStep
    /// The world and agents as they are now (before any tick: the initial state).
    func snapshot() -> SimulationSnapshot
    /// Queues a decree for the next tick computed; returns that tick.
    @discardableResult
    func submit(_ decree: Action) throws(ValidationFailure) -> Int
    /// Decrees queued for the next tick, in submission order.
    var pendingDecrees: [Action] { get }
    /// Everything needed to continue exactly from here, given the same scenario.
    func checkpoint() -> SimulationCheckpoint
}

/// The state of a simulation between ticks.
public struct SimulationSnapshot: Sendable, Equatable {
    /// The next tick to compute.
    public var tick: Int
    public var world: WorldSnapshot
    public var agents: [AgentSnapshot]
    public init(tick: Int, world: WorldSnapshot, agents: [AgentSnapshot]) {
        self.tick = tick
        self.world = world
        self.agents = agents
    }
}

/// A version-specific, self-describing binary image of a simulation's state. It does not
/// carry the scenario: restoring takes the scenario the simulation was started from.
public struct SimulationCheckpoint: Sendable, Equatable {
    public var engineVersion: EngineVersion
    public var tick: Int
    public var data: [UInt8]
    public init(engineVersion: EngineVersion, tick: Int, data: [UInt8]) {
        self.engineVersion = engineVersion
        self.tick = tick
        self.data = data
    }
}

extension Simulation {
    /// Runs `count` ticks, handing each step to `body`.
    public func run(ticks count: Int, _ body: (TraceStep) throws -> Void) rethrows {
        for _ in 0 ..< max(0, count) { try body(step()) }
    }
}

/// Little-endian binary writer for checkpoints.
struct CheckpointWriter {
    var bytes: [UInt8] = []
    mutating func u64(_ v: UInt64) {
        var x = v
        for _ in 0 ..< 8 {
            bytes.append(UInt8(truncatingIfNeeded: x))
            x >>= 8
        }
    }
    mutating func int(_ v: Int) { u64(UInt64(bitPattern: Int64(v))) }
    mutating func double(_ v: Double) { u64(v.bitPattern) }
    mutating func bool(_ v: Bool) { bytes.append(v ? 1 : 0) }
    mutating func optionalDouble(_ v: Double?) {
        bool(v != nil)
        if let v { double(v) }
    }
    mutating func string(_ s: String) {
        let utf8 = Array(s.utf8)
        int(utf8.count)
        bytes.append(contentsOf: utf8)
    }
}

/// Reader matching `CheckpointWriter`; every read is bounds-checked.
struct CheckpointReader {
    let bytes: [UInt8]
    var offset = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func u64() throws(CheckpointError) -> UInt64 {
        guard offset + 8 <= bytes.count else { throw CheckpointError("checkpoint truncated at byte \(offset)") }
        var v: UInt64 = 0
        for i in 0 ..< 8 { v |= UInt64(bytes[offset + i]) << (8 * UInt64(i)) }
        offset += 8
        return v
    }
    mutating func int() throws(CheckpointError) -> Int { Int(Int64(bitPattern: try u64())) }
    mutating func double() throws(CheckpointError) -> Double { Double(bitPattern: try u64()) }
    mutating func bool() throws(CheckpointError) -> Bool {
        guard offset < bytes.count else { throw CheckpointError("checkpoint truncated at byte \(offset)") }
        defer { offset += 1 }
        switch bytes[offset] {
        case 0: return false
        case 1: return true
        default: throw CheckpointError("checkpoint corrupt at byte \(offset)")
        }
    }
    mutating func optionalDouble() throws(CheckpointError) -> Double? {
        try bool() ? try double() : nil
    }
    mutating func count(max: Int) throws(CheckpointError) -> Int {
        let n = try int()
        guard n >= 0, n <= max else { throw CheckpointError("checkpoint corrupt: count \(n) at byte \(offset)") }
        return n
    }
    mutating func string() throws(CheckpointError) -> String {
        let n = try count(max: bytes.count - offset)
        defer { offset += n }
        return String(decoding: bytes[offset ..< offset + n], as: UTF8.self)
    }
    var atEnd: Bool { offset == bytes.count }
}
