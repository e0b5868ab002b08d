import KairosAPI
import KairosEngine

/// Simulations held in memory, for tests; the same contract as `SQLiteSimulationRepository`.
public actor InMemorySimulationRepository: SimulationRepository {
    private struct Stored {
        var record: SimulationRecord
        var log: [SimulationLogEntry] = []
        var segments: [TraceSegment] = []
        var prophecies: [Prophecy] = []
        var lossTicks: [Int] = []
    }

    private var simulations: [String: Stored] = [:]
    /// Insertion order, for listing.
    private var order: [String] = []
    /// Usage by organization and day.
    private var usageDays: [String: [Int: UsageDay]] = [:]

    public init() {}

    public nonisolated var storageName: String { "memory" }

    public func insert(_ change: SimulationChange) throws {
        let id = change.record.id
        guard simulations[id] == nil else { throw StorageError("simulation \(id) exists") }
        var stored = Stored(record: change.record)
        apply(change, to: &stored)
        simulations[id] = stored
        order.append(id)
    }

    public func addUsage(_ deltas: [UsageDelta]) {
        for d in deltas {
            usageDays[d.organizationId, default: [:]][d.usage.day, default: UsageDay(day: d.usage.day)].add(d.usage)
        }
    }

    public func usage(organizationId: String, fromDay: Int, toDay: Int) -> [UsageDay] {
        (usageDays[organizationId] ?? [:]).values.filter { (fromDay ... toDay).contains($0.day) }.sorted { $0.day < $1.day }
    }

    private func apply(_ change: SimulationChange, to stored: inout Stored) {
        stored.record = change.record
        stored.log += change.log
        if change.record.storesTrace, let segment = change.segment, segment.tickCount > 0 { stored.segments.append(segment) }
        stored.prophecies += change.prophecies
        stored.lossTicks += change.lossTicks
    }

    public func find(id: String) -> SimulationRecord? { simulations[id]?.record }

    public func list(organizationIds: [String], limit: Int, offset: Int) -> (records: [SimulationRecord], total: Int) {
        let matching = order.reversed().compactMap { simulations[$0]?.record }.filter { organizationIds.contains($0.organizationId) }
        return (Array(matching.dropFirst(offset).prefix(limit)), matching.count)
    }

    public func update<Result: Sendable>(
        id: String, _ body: @Sendable (SimulationRecord) async throws -> (SimulationChange, Result)
    ) async throws -> Result? {
        // `body` may suspend (the engine runs on the `EnginePool`), letting other calls in:
        // stored only if the simulation did not change meanwhile, as the other repositories do.
        for _ in 0 ..< 64 {
            guard let current = simulations[id]?.record else { return nil }
            let (change, result) = try await body(current)
            guard var stored = simulations[id] else { return nil }
            guard stored.record == current else { continue }
            apply(change, to: &stored)
            simulations[id] = stored
            return result
        }
        throw StorageError("simulation \(id) kept changing while being updated")
    }

    public func traceSegments(simulationId: String) -> [TraceSegment] { simulations[simulationId]?.segments ?? [] }

    public func log(simulationId: String, from sequence: Int) -> [SimulationLogEntry] {
        (simulations[simulationId]?.log ?? []).filter { $0.sequence >= sequence }
    }

    public func prophecies(simulationId: String) -> (prophecies: [Prophecy], lossTicks: [Int]) {
        (simulations[simulationId]?.prophecies ?? [], simulations[simulationId]?.lossTicks ?? [])
    }

    public func simulationIds(status: SimulationStatus) -> [String] {
        order.filter { simulations[$0]?.record.status == status }
    }
}

/// Organizations and API keys held in memory, for tests.
public actor InMemoryIdentityRepository: IdentityRepository {
    private var organizations: [String: OrganizationRecord] = [:]
    private var keysByID: [String: APIKeyRecord] = [:]
    private var keyOrder: [String] = []

    public init() {}

    public func upsertOrganization(_ organization: OrganizationRecord) {
        if var existing = organizations[organization.id] {
            existing.tier = organization.tier
            organizations[organization.id] = existing
        } else {
            organizations[organization.id] = organization
        }
    }

    public func organization(id: String) -> OrganizationRecord? { organizations[id] }

    public func insertKey(_ key: APIKeyRecord) {
        keysByID[key.id] = key
        keyOrder.append(key.id)
    }

    public func key(hash: [UInt8]) -> APIKeyRecord? { keysByID.values.first { $0.keyHash == hash } }

    public func keys(organizationId: String?) -> [APIKeyRecord] {
        keyOrder.compactMap { keysByID[$0] }.filter { organizationId == nil || $0.organizationId == organizationId }
    }

    public func revokeKey(id: String, at time: Int64) -> Bool {
        guard var key = keysByID[id], key.revokedAt == nil else { return false }
        key.revokedAt = time
        keysByID[id] = key
        return true
    }
}

/// A storage failure that is not the caller's fault (answered as INTERNAL_ERROR).
public struct StorageError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
