import KairosAPI
import KairosEngine
import NIOConcurrencyHelpers

/// A stored simulation: what it was started from, where it is now, and the checkpoint that
/// lets the next step continue without replaying from tick 0.
public struct SimulationRecord: Sendable, Equatable {
    public var id: String
    public var organizationId: String
    public var scenarioId: String?
    /// The native scenario as canonical JSON (decoded only when the engine needs it).
    public var scenarioJSON: [UInt8]
    public var seed: UInt64
    public var engineVersion: EngineVersion
    public var status: SimulationStatus
    /// The next tick to compute (= ticks computed so far).
    public var tick: Int
    /// Milliseconds since 1970.
    public var createdAt: Int64
    /// Canonical JSON of the current snapshot.
    public var state: [UInt8]
    /// Canonical JSON of the snapshot before tick 0.
    public var initialState: [UInt8]
    /// The engine state after the last entry of the log (pending decrees included).
    public var checkpoint: SimulationCheckpoint
    /// Entries in the log; the next entry's sequence number.
    public var logLength: Int
    /// Playback speed while `playing`.
    public var speed: Double
    /// Whether the trace is stored (costly scenarios) or derived from the log when read (the
    /// rest: replaying is cheaper than storing ~0.7 KB per tick). Fixed at creation.
    public var storesTrace: Bool
    /// The simulation and tick this one was forked from (`POST /v1/simulations/{id}/fork`).
    public var forkedFrom: ForkOrigin?

    public init(id: String, organizationId: String, scenarioId: String?, scenarioJSON: [UInt8], seed: UInt64,
                engineVersion: EngineVersion, status: SimulationStatus, tick: Int, createdAt: Int64, state: [UInt8],
                initialState: [UInt8], checkpoint: SimulationCheckpoint, logLength: Int, speed: Double = 1,
                storesTrace: Bool = true, forkedFrom: ForkOrigin? = nil) {
        self.id = id
        self.organizationId = organizationId
        self.scenarioId = scenarioId
        self.scenarioJSON = scenarioJSON
        self.seed = seed
        self.engineVersion = engineVersion
        self.status = status
        self.tick = tick
        self.createdAt = createdAt
        self.state = state
        self.initialState = initialState
        self.checkpoint = checkpoint
        self.logLength = logLength
        self.speed = speed
        self.storesTrace = storesTrace
        self.forkedFrom = forkedFrom
    }
}

/// One entry of a simulation's ordered log — the durable record everything else is derived
/// from: replaying the log on the scenario reproduces the state and the trace exactly, and
/// live events (steps, decrees, status changes) are read back from it.
public struct SimulationLogEntry: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        /// `{ticks}`: ticks computed.
        case step
        /// `{id, decree}`: a decree queued for the next tick.
        case decree
        /// `{agentId, decree}`: a policy change (a `policy` decree) queued for the next tick.
        case policy
        /// `{status, speed?}`: a playback status change.
        case status
    }

    public var sequence: Int
    /// For steps, the first tick computed; otherwise the tick it applies at.
    public var tick: Int
    public var kind: Kind
    public var payload: JSONValue
    public var createdAt: Int64

    public init(sequence: Int, tick: Int, kind: Kind, payload: JSONValue, createdAt: Int64) {
        self.sequence = sequence
        self.tick = tick
        self.kind = kind
        self.payload = payload
        self.createdAt = createdAt
    }
}

/// Consecutive trace steps as canonical NDJSON lines (each followed by `\n`): the trace,
/// derived from the log when it was computed; kept for simulations that store their trace.
public struct TraceSegment: Sendable, Equatable {
    public var firstTick: Int
    public var tickCount: Int
    public var lines: [UInt8]
    public init(firstTick: Int, tickCount: Int, lines: [UInt8]) {
        self.firstTick = firstTick
        self.tickCount = tickCount
        self.lines = lines
    }

    /// The segment from tick `tick` on (the lines before it dropped); nil when it ends before `tick`.
    public func from(tick: Int) -> TraceSegment? {
        guard tick > firstTick else { return self }
        guard tick < firstTick + tickCount else { return nil }
        var skip = tick - firstTick
        var start = 0
        while skip > 0, let i = lines[start...].firstIndex(of: 0x0A) {
            start = i + 1
            skip -= 1
        }
        return TraceSegment(firstTick: tick, tickCount: firstTick + tickCount - tick, lines: Array(lines[start...]))
    }
}

/// What one mutation stores, atomically: the record as it now is, the log entries it appended,
/// and the steps, prophecies and losses it computed.
public struct SimulationChange: Sendable, Equatable {
    public var record: SimulationRecord
    public var log: [SimulationLogEntry]
    public var segment: TraceSegment?
    public var prophecies: [Prophecy]
    public var lossTicks: [Int]

    public init(record: SimulationRecord, log: [SimulationLogEntry] = [], segment: TraceSegment? = nil,
                prophecies: [Prophecy] = [], lossTicks: [Int] = []) {
        self.record = record
        self.log = log
        self.segment = segment
        self.prophecies = prophecies
        self.lossTicks = lossTicks
    }
}

extension SimulationRepository {
    /// Every segment, those ending before `fromTick` left out (a backend that can select them
    /// in its query overrides this).
    public func traceSegments(simulationId: String, fromTick: Int) async throws -> [TraceSegment] {
        try await traceSegments(simulationId: simulationId).filter { $0.firstTick + $0.tickCount > fromTick }
    }
}

/// Where simulations live. Implementations: `SQLiteSimulationRepository` (the default,
/// durable) and `InMemorySimulationRepository` (tests). A PostgreSQL implementation keeps the
/// same contract: `update` writes with `WHERE log_length = ?` and retries on a miss, so
/// several server processes can share simulations without holding row locks while the engine runs.
public protocol SimulationRepository: Sendable {
    /// Shown by `GET /health`.
    var storageName: String { get }

    /// Stores a new simulation with what it computed at creation.
    func insert(_ change: SimulationChange) async throws

    func find(id: String) async throws -> SimulationRecord?

    /// Simulations of the given organizations, newest first, with the total count.
    func list(organizationIds: [String], limit: Int, offset: Int) async throws -> (records: [SimulationRecord], total: Int)

    /// Runs `body` on the current record and stores the change it returns, all or nothing, only
    /// if the simulation did not change meanwhile (its `logLength` is the version); nil when
    /// there is no such simulation. `body` may run more than once, so it must depend on the
    /// record alone. Errors thrown by `body` store nothing.
    func update<Result: Sendable>(
        id: String, _ body: @Sendable (SimulationRecord) async throws -> (SimulationChange, Result)
    ) async throws -> Result?

    /// The stored trace, in tick order (empty unless the record `storesTrace`).
    func traceSegments(simulationId: String) async throws -> [TraceSegment]

    /// The stored segments holding ticks from `fromTick` on, in tick order (the first may start
    /// before `fromTick`; `TraceSegment.from(tick:)` cuts it).
    func traceSegments(simulationId: String, fromTick: Int) async throws -> [TraceSegment]

    /// The log, in order, from `sequence` on.
    func log(simulationId: String, from sequence: Int) async throws -> [SimulationLogEntry]

    /// Every prophecy so far, and the ticks of every basin loss.
    func prophecies(simulationId: String) async throws -> (prophecies: [Prophecy], lossTicks: [Int])

    /// Ids of simulations whose status is `status` (playback resumes them after a restart).
    func simulationIds(status: SimulationStatus) async throws -> [String]

    /// Adds to the usage table, in one transaction (what `UsageRecorder` batched: simulations
    /// created, ticks computed and requests admitted per organization and UTC day).
    func addUsage(_ deltas: [UsageDelta]) async throws

    /// The organization's usage on days `fromDay…toDay` (days since 1970, UTC) with any
    /// activity, oldest first.
    func usage(organizationId: String, fromDay: Int, toDay: Int) async throws -> [UsageDay]
}

/// An organization and its tier.
public struct OrganizationRecord: Sendable, Equatable {
    public var id: String
    public var tier: OrganizationTier
    public var createdAt: Int64
    public init(id: String, tier: OrganizationTier, createdAt: Int64) {
        self.id = id
        self.tier = tier
        self.createdAt = createdAt
    }
}

/// A stored API key: only the SHA-256 of the key is kept.
public struct APIKeyRecord: Sendable, Equatable {
    public var id: String
    public var organizationId: String
    public var keyHash: [UInt8]
    /// The first characters of the key, to recognise it in listings (`krs_AbC1…`).
    public var prefix: String
    public var scopes: [APIScope]
    public var createdAt: Int64
    public var revokedAt: Int64?
    public init(id: String, organizationId: String, keyHash: [UInt8], prefix: String, scopes: [APIScope],
                createdAt: Int64, revokedAt: Int64? = nil) {
        self.id = id
        self.organizationId = organizationId
        self.keyHash = keyHash
        self.prefix = prefix
        self.scopes = scopes
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }
}

/// Organizations and their API keys.
public protocol IdentityRepository: Sendable {
    /// Creates the organization, or sets the tier of an existing one.
    func upsertOrganization(_ organization: OrganizationRecord) async throws
    func organization(id: String) async throws -> OrganizationRecord?
    func insertKey(_ key: APIKeyRecord) async throws
    /// The key with this hash, revoked or not.
    func key(hash: [UInt8]) async throws -> APIKeyRecord?
    func keys(organizationId: String?) async throws -> [APIKeyRecord]
    /// Marks a key revoked; false when there is no such active key.
    func revokeKey(id: String, at time: Int64) async throws -> Bool
}

/// A repository that wraps another and changes some of what it does (publishing, metering, a
/// test's failures): everything it does not implement passes through to `base`.
protocol SimulationRepositoryDecorator: SimulationRepository {
    associatedtype Base: SimulationRepository
    var base: Base { get }
}

extension SimulationRepositoryDecorator {
    var storageName: String { base.storageName }

    func insert(_ change: SimulationChange) async throws { try await base.insert(change) }

    func find(id: String) async throws -> SimulationRecord? { try await base.find(id: id) }

    func list(organizationIds: [String], limit: Int, offset: Int) async throws -> (records: [SimulationRecord], total: Int) {
        try await base.list(organizationIds: organizationIds, limit: limit, offset: offset)
    }

    func update<Result: Sendable>(
        id: String, _ body: @Sendable (SimulationRecord) async throws -> (SimulationChange, Result)
    ) async throws -> Result? {
        try await base.update(id: id, body)
    }

    func traceSegments(simulationId: String) async throws -> [TraceSegment] { try await base.traceSegments(simulationId: simulationId) }

    func traceSegments(simulationId: String, fromTick: Int) async throws -> [TraceSegment] {
        try await base.traceSegments(simulationId: simulationId, fromTick: fromTick)
    }

    func log(simulationId: String, from sequence: Int) async throws -> [SimulationLogEntry] {
        try await base.log(simulationId: simulationId, from: sequence)
    }

    func prophecies(simulationId: String) async throws -> (prophecies: [Prophecy], lossTicks: [Int]) {
        try await base.prophecies(simulationId: simulationId)
    }

    func simulationIds(status: SimulationStatus) async throws -> [String] { try await base.simulationIds(status: status) }

    func addUsage(_ deltas: [UsageDelta]) async throws { try await base.addUsage(deltas) }

    func usage(organizationId: String, fromDay: Int, toDay: Int) async throws -> [UsageDay] {
        try await base.usage(organizationId: organizationId, fromDay: fromDay, toDay: toDay)
    }
}

extension SimulationRepository {
    /// `update`, also answering the change it stored (of `body`'s last run, since `body` may
    /// run more than once); nil when there is no such simulation.
    func updateReturningChange<Result: Sendable>(
        id: String, _ body: @Sendable (SimulationRecord) async throws -> (SimulationChange, Result)
    ) async throws -> (result: Result, change: SimulationChange)? {
        let stored = NIOLockedValueBox<SimulationChange?>(nil)
        let result = try await update(id: id) { record in
            let (change, result) = try await body(record)
            stored.withLockedValue { $0 = change }
            return (change, result)
        }
        guard let result, let change = stored.withLockedValue({ $0 }) else { return nil }
        return (result, change)
    }
}
