import Foundation
import KairosAPI
import KairosEngine
import Logging
import NIOCore
import PostgresNIO

/// Simulations in PostgreSQL, shared by every replica. `update` is optimistic, as the protocol
/// says: the engine runs outside any transaction, then the write succeeds only `WHERE
/// log_length = ` the version it read; a replica that lost the race reads again and retries,
/// so two replicas stepping one simulation at once neither lose nor duplicate a tick. Every
/// stored change also keeps its computed steps in `event_segment` for a few minutes and
/// notifies `changeChannel`, in the same transaction, so other replicas' live streams see it.
public struct PostgresSimulationRepository: SimulationRepository, EventSegmentSource {
    public let database: KairosPostgres
    private let gate = KeyedGate()

    public init(database: KairosPostgres) { self.database = database }

    public var storageName: String { "postgresql" }

    private var s: String { database.schema }
    private var logger: Logger { database.logger }

    public func insert(_ change: SimulationChange) async throws {
        let r = change.record
        try await database.transaction { c in
            try await c.query("""
                INSERT INTO \(unescaped: s).simulation (id, organization_id, scenario_id, scenario, seed, engine_version, status,
                    speed, stores_trace, tick, created_at, state, initial_state, checkpoint, log_length, forked_from_id, forked_from_tick)
                VALUES (\(r.id), \(r.organizationId), \(r.scenarioId), \(r.scenarioJSON.bytea), \(Int64(bitPattern: r.seed)),
                    \(r.engineVersion.description), \(r.status.rawValue), \(r.speed), \(r.storesTrace), \(r.tick), \(r.createdAt),
                    \(r.state.bytea), \(r.initialState.bytea), \(r.checkpoint.data.bytea), \(r.logLength),
                    \(r.forkedFrom?.simulationId), \(r.forkedFrom?.tick))
                """, logger: logger)
            try await storeAppended(change, connection: c, followed: false)
        }
    }

    public func find(id: String) async throws -> SimulationRecord? {
        try await database.rows("SELECT * FROM \(unescaped: s).simulation WHERE id = \(id)").first.map(Self.record)
    }

    public func list(organizationIds: [String], limit: Int, offset: Int) async throws -> (records: [SimulationRecord], total: Int) {
        guard !organizationIds.isEmpty else { return ([], 0) }
        let total = try await database.rows("""
            SELECT COUNT(*) AS n FROM \(unescaped: s).simulation WHERE organization_id = ANY(\(organizationIds))
            """).first?.get("n", as: Int.self) ?? 0
        let rows = try await database.rows("""
            SELECT * FROM \(unescaped: s).simulation WHERE organization_id = ANY(\(organizationIds))
            ORDER BY created_at DESC, id DESC LIMIT \(limit) OFFSET \(offset)
            """)
        return (try rows.map(Self.record), total)
    }

    public func update<Result: Sendable>(
        id: String, _ body: @Sendable (SimulationRecord) async throws -> (SimulationChange, Result)
    ) async throws -> Result? {
        // Within this process requests on one simulation queue at the gate, so only another
        // replica's write can make the optimistic write miss; then read again and retry.
        try await gate.withLock(id) {
            for attempt in 0 ..< 64 {
                guard let current = try await find(id: id) else { return nil }
                let (change, result) = try await body(current)
                if change.log.isEmpty, change.record == current { return result }
                let r = change.record
                let stored = try await database.transaction { c -> Bool in
                    let updated = try await c.rows("""
                        UPDATE \(unescaped: s).simulation SET status = \(r.status.rawValue), speed = \(r.speed), tick = \(r.tick),
                            state = \(r.state.bytea), checkpoint = \(r.checkpoint.data.bytea), log_length = \(r.logLength)
                        WHERE id = \(id) AND log_length = \(current.logLength) RETURNING 1 AS ok
                        """, logger: logger)
                    guard updated.count == 1 else { return false }
                    try await storeAppended(change, connection: c)
                    return true
                }
                if stored { return result }
                // Another replica stored first; back off a little (more each time) before reading again.
                try await Task.sleep(for: .milliseconds(Int.random(in: 1 ... 5) * min(attempt + 1, 10)))
            }
            throw StorageError("simulation \(id) kept changing while being updated")
        }
    }

    /// `followed: false` (a new simulation: nobody can follow it yet) skips the live-event steps.
    private func storeAppended(_ change: SimulationChange, connection c: PostgresConnection, followed: Bool = true) async throws {
        let id = change.record.id
        let log = change.log
        if !log.isEmpty {
            let payloads = log.map { entry in
                var w = CanonicalJSONWriter(capacity: 128)
                w.value(entry.payload)
                return w.bytes.bytea
            }
            try await c.query("""
                INSERT INTO \(unescaped: s).simulation_log (simulation_id, sequence, tick, kind, payload, created_at)
                SELECT \(id), e.sequence, e.tick, e.kind, e.payload, e.created_at
                FROM UNNEST(\(log.map { Int64($0.sequence) }), \(log.map { Int64($0.tick) }), \(log.map(\.kind.rawValue)),
                    \(payloads), \(log.map(\.createdAt))) AS e(sequence, tick, kind, payload, created_at)
                """, logger: logger)
        }
        if let segment = change.segment, segment.tickCount > 0 {
            if change.record.storesTrace {
                try await c.query("""
                    INSERT INTO \(unescaped: s).trace_segment (simulation_id, first_tick, tick_count, lines)
                    VALUES (\(id), \(segment.firstTick), \(segment.tickCount), \(segment.lines.bytea))
                    """, logger: logger)
            }
            // Only while some replica's live streams follow the simulation (else nobody needs them).
            if followed, let first = change.log.first?.sequence {
                try await c.query("""
                    INSERT INTO \(unescaped: s).event_segment (simulation_id, first_sequence, first_tick, tick_count, lines, created_at)
                    SELECT \(id), \(first), \(segment.firstTick), \(segment.tickCount), \(segment.lines.bytea),
                        \(ServerTime.nowMilliseconds())
                    WHERE EXISTS (SELECT 1 FROM \(unescaped: s).event_follow WHERE simulation_id = \(id))
                    """, logger: logger)
            }
        }
        // One statement per table however many rows (arrays unnested): a 1 000-tick step makes
        // ~20 prophecies, and each row used to be a round trip of its own.
        let prophecies = change.prophecies
        if !prophecies.isEmpty {
            try await c.query("""
                INSERT INTO \(unescaped: s).prophecy (simulation_id, id, tick, horizon, predicted_stability, predicted_loss)
                SELECT \(id), p.id, p.tick, p.horizon, p.stability, CASE WHEN p.has_loss THEN p.loss END
                FROM UNNEST(\(prophecies.map { Int64($0.id) }), \(prophecies.map { Int64($0.tick) }),
                    \(prophecies.map { Int64($0.horizon) }), \(prophecies.map(\.predictedStability)),
                    \(prophecies.map { $0.predictedLoss != nil }), \(prophecies.map { Int64($0.predictedLoss ?? 0) }))
                    AS p(id, tick, horizon, stability, has_loss, loss)
                """, logger: logger)
        }
        if !change.lossTicks.isEmpty {
            try await c.query("""
                INSERT INTO \(unescaped: s).basin_loss (simulation_id, tick)
                SELECT \(id), t FROM UNNEST(\(change.lossTicks.map { Int64($0) })) AS t
                """, logger: logger)
        }
        if !change.log.isEmpty {
            try await c.query("SELECT pg_notify(\(database.changeChannel), \(id + " " + String(change.record.logLength)))",
                              logger: logger)
        }
    }

    static func record(_ row: PostgresRandomAccessRow) throws -> SimulationRecord {
        let id: String = try row.get("id")
        guard let version = EngineVersion(try row.get("engine_version", as: String.self)),
              let status = SimulationStatus(rawValue: try row.get("status", as: String.self)) else {
            throw StorageError("simulation row \(id) is corrupt")
        }
        let tick: Int = try row.get("tick")
        return SimulationRecord(
            id: id, organizationId: try row.get("organization_id"), scenarioId: try row.get("scenario_id"),
            scenarioJSON: try row.bytes("scenario"), seed: UInt64(bitPattern: try row.get("seed", as: Int64.self)),
            engineVersion: version, status: status, tick: tick, createdAt: try row.get("created_at"),
            state: try row.bytes("state"), initialState: try row.bytes("initial_state"),
            checkpoint: SimulationCheckpoint(engineVersion: version, tick: tick, data: try row.bytes("checkpoint")),
            logLength: try row.get("log_length"), speed: try row.get("speed"), storesTrace: try row.get("stores_trace"),
            forkedFrom: try row.get("forked_from_id", as: String?.self).map {
                ForkOrigin(simulationId: $0, tick: try row.get("forked_from_tick", as: Int?.self) ?? 0)
            })
    }

    public func traceSegments(simulationId: String) async throws -> [TraceSegment] {
        try await traceSegments(simulationId: simulationId, fromTick: 0)
    }

    public func traceSegments(simulationId: String, fromTick: Int) async throws -> [TraceSegment] {
        try await database.rows("""
            SELECT first_tick, tick_count, lines FROM \(unescaped: s).trace_segment
            WHERE simulation_id = \(simulationId) AND first_tick + tick_count > \(fromTick)
            ORDER BY first_tick
            """).map { row in
            TraceSegment(firstTick: try row.get("first_tick"), tickCount: try row.get("tick_count"), lines: try row.bytes("lines"))
        }
    }

    /// The steps of the changes stored from log `sequence` on that are still kept for live
    /// streams (a few minutes), by first log sequence.
    func eventSegments(simulationId: String, from sequence: Int) async throws -> [Int: TraceSegment] {
        var segments: [Int: TraceSegment] = [:]
        for row in try await database.rows("""
            SELECT first_sequence, first_tick, tick_count, lines FROM \(unescaped: s).event_segment
            WHERE simulation_id = \(simulationId) AND first_sequence >= \(sequence)
            """) {
            segments[try row.get("first_sequence")] = TraceSegment(
                firstTick: try row.get("first_tick"), tickCount: try row.get("tick_count"), lines: try row.bytes("lines"))
        }
        return segments
    }

    /// Forgets event segments stored at or before `time`.
    func removeEventSegments(createdAtOrBefore time: Int64) async throws {
        try await database.execute("DELETE FROM \(unescaped: s).event_segment WHERE created_at <= \(time)")
    }

    public func log(simulationId: String, from sequence: Int) async throws -> [SimulationLogEntry] {
        try await database.rows("""
            SELECT sequence, tick, kind, payload, created_at FROM \(unescaped: s).simulation_log
            WHERE simulation_id = \(simulationId) AND sequence >= \(sequence) ORDER BY sequence
            """).map { row in
            guard let kind = SimulationLogEntry.Kind(rawValue: try row.get("kind", as: String.self)),
                  let json = try? JSONParser.parse(try row.bytes("payload")) else {
                throw StorageError("log of simulation \(simulationId) is corrupt")
            }
            return SimulationLogEntry(sequence: try row.get("sequence"), tick: try row.get("tick"), kind: kind, payload: json,
                                      createdAt: try row.get("created_at"))
        }
    }

    public func prophecies(simulationId: String) async throws -> (prophecies: [Prophecy], lossTicks: [Int]) {
        let prophecies = try await database.rows("""
            SELECT id, tick, horizon, predicted_stability, predicted_loss FROM \(unescaped: s).prophecy
            WHERE simulation_id = \(simulationId) ORDER BY id
            """).map { row in
            Prophecy(id: try row.get("id"), tick: try row.get("tick"), horizon: try row.get("horizon"),
                     predictedStability: try row.get("predicted_stability"), predictedLoss: try row.get("predicted_loss"))
        }
        let losses = try await database.rows("""
            SELECT tick FROM \(unescaped: s).basin_loss WHERE simulation_id = \(simulationId) ORDER BY tick
            """).map { try $0.get("tick", as: Int.self) }
        return (prophecies, losses)
    }

    public func simulationIds(status: SimulationStatus) async throws -> [String] {
        try await database.rows("""
            SELECT id FROM \(unescaped: s).simulation WHERE status = \(status.rawValue) ORDER BY created_at, id
            """).map { try $0.get("id", as: String.self) }
    }

    public func addUsage(_ deltas: [UsageDelta]) async throws {
        guard !deltas.isEmpty else { return }
        try await database.transaction { c in
            for d in deltas {
                let u = d.usage
                try await c.query("""
                    INSERT INTO \(unescaped: s).usage_daily AS u (organization_id, day, simulations_created, ticks_computed,
                        requests_create, requests_step, requests_read)
                    VALUES (\(d.organizationId), \(u.day), \(u.simulationsCreated), \(u.ticksComputed),
                        \(u.requests[.create] ?? 0), \(u.requests[.step] ?? 0), \(u.requests[.read] ?? 0))
                    ON CONFLICT (organization_id, day) DO UPDATE SET
                        simulations_created = u.simulations_created + excluded.simulations_created,
                        ticks_computed = u.ticks_computed + excluded.ticks_computed,
                        requests_create = u.requests_create + excluded.requests_create,
                        requests_step = u.requests_step + excluded.requests_step,
                        requests_read = u.requests_read + excluded.requests_read
                    """, logger: logger)
            }
        }
    }

    public func usage(organizationId: String, fromDay: Int, toDay: Int) async throws -> [UsageDay] {
        try await database.rows("""
            SELECT * FROM \(unescaped: s).usage_daily WHERE organization_id = \(organizationId)
            AND day BETWEEN \(fromDay) AND \(toDay) ORDER BY day
            """).map { row in
            UsageDay(day: try row.get("day"), simulationsCreated: try row.get("simulations_created"),
                     ticksComputed: try row.get("ticks_computed"),
                     requests: [.create: try row.get("requests_create"), .step: try row.get("requests_step"),
                                .read: try row.get("requests_read")])
        }
    }
}

/// Organizations and API keys in PostgreSQL.
public struct PostgresIdentityRepository: IdentityRepository {
    public let database: KairosPostgres

    public init(database: KairosPostgres) { self.database = database }

    private var s: String { database.schema }

    public func upsertOrganization(_ organization: OrganizationRecord) async throws {
        try await database.execute("""
            INSERT INTO \(unescaped: s).organization (id, tier, created_at)
            VALUES (\(organization.id), \(organization.tier.rawValue), \(organization.createdAt))
            ON CONFLICT (id) DO UPDATE SET tier = excluded.tier
            """)
    }

    public func organization(id: String) async throws -> OrganizationRecord? {
        try await database.rows("SELECT * FROM \(unescaped: s).organization WHERE id = \(id)").first.map { row in
            OrganizationRecord(id: try row.get("id"), tier: OrganizationTier(rawValue: try row.get("tier")) ?? .community,
                               createdAt: try row.get("created_at"))
        }
    }

    public func insertKey(_ key: APIKeyRecord) async throws {
        try await database.execute("""
            INSERT INTO \(unescaped: s).api_key (id, organization_id, key_hash, prefix, scopes, created_at, revoked_at)
            VALUES (\(key.id), \(key.organizationId), \(key.keyHash.bytea), \(key.prefix),
                \(key.scopes.map(\.rawValue).joined(separator: ",")), \(key.createdAt), \(key.revokedAt))
            """)
    }

    public func key(hash: [UInt8]) async throws -> APIKeyRecord? {
        try await database.rows("SELECT * FROM \(unescaped: s).api_key WHERE key_hash = \(hash.bytea)").first.map(Self.key)
    }

    public func keys(organizationId: String?) async throws -> [APIKeyRecord] {
        if let organizationId {
            return try await database.rows("""
                SELECT * FROM \(unescaped: s).api_key WHERE organization_id = \(organizationId) ORDER BY created_at, id
                """).map(Self.key)
        }
        return try await database.rows("SELECT * FROM \(unescaped: s).api_key ORDER BY created_at, id").map(Self.key)
    }

    public func revokeKey(id: String, at time: Int64) async throws -> Bool {
        try await !database.rows("""
            UPDATE \(unescaped: s).api_key SET revoked_at = \(time) WHERE id = \(id) AND revoked_at IS NULL RETURNING 1 AS ok
            """).isEmpty
    }

    static func key(_ row: PostgresRandomAccessRow) throws -> APIKeyRecord {
        APIKeyRecord(id: try row.get("id"), organizationId: try row.get("organization_id"), keyHash: try row.bytes("key_hash"),
                     prefix: try row.get("prefix"), scopes: APIScope.parseList(try row.get("scopes", as: String.self)).scopes,
                     createdAt: try row.get("created_at"), revokedAt: try row.get("revoked_at"))
    }
}

/// Idempotency records in PostgreSQL: one upsert decides the claim, so when replicas race on
/// one key exactly one of them executes; the others see it in flight (409) or its response.
public struct PostgresIdempotencyStore: IdempotencyStore {
    public let database: KairosPostgres

    public init(database: KairosPostgres) { self.database = database }

    private var s: String { database.schema }

    public func claim(_ scope: IdempotencyScope, fingerprint: [UInt8], owner: String, now: Int64,
                      liveAfter: Int64) async throws -> IdempotencyClaim {
        // Inserts, or takes over an expired record; a live record is left alone (no row back).
        let claimed = try await database.rows("""
            INSERT INTO \(unescaped: s).idempotency_key AS k (scope, method, path, key, fingerprint, created_at, owner)
            VALUES (\(scope.subject), \(scope.method), \(scope.path), \(scope.key), \(fingerprint.bytea), \(now), \(owner))
            ON CONFLICT (scope, method, path, key) DO UPDATE SET fingerprint = excluded.fingerprint,
                created_at = excluded.created_at, owner = excluded.owner, status = NULL, headers = NULL, body = NULL
            WHERE k.created_at <= \(liveAfter)
            RETURNING 1 AS ok
            """)
        if !claimed.isEmpty { return .claimed }
        guard let row = try await database.rows("""
            SELECT fingerprint, status, headers, body FROM \(unescaped: s).idempotency_key
            WHERE scope = \(scope.subject) AND method = \(scope.method) AND path = \(scope.path) AND key = \(scope.key)
            """).first else {
            // Deleted by expiry in between: claim again.
            return try await claim(scope, fingerprint: fingerprint, owner: owner, now: now, liveAfter: liveAfter)
        }
        guard try row.bytes("fingerprint") == fingerprint else { return .mismatch }
        guard let status = try row.get("status", as: Int?.self) else { return .inProgress }
        return .replay(StoredResponse(status: status, headers: StoredResponse.headers(json: try row.bytes("headers")),
                                      body: try row.bytes("body")))
    }

    public func complete(_ scope: IdempotencyScope, owner: String, response: StoredResponse) async throws {
        try await database.execute("""
            UPDATE \(unescaped: s).idempotency_key SET status = \(response.status), headers = \(response.headersJSON.bytea),
                body = \(response.body.bytea)
            WHERE scope = \(scope.subject) AND method = \(scope.method) AND path = \(scope.path) AND key = \(scope.key)
                AND owner = \(owner) AND status IS NULL
            """)
    }

    /// Settles records in flight whose owner is neither `owner` nor a replica seen in the last
    /// `ClusterMembership.deadAfterMilliseconds` (replicas that are running keep theirs).
    public func settleAbandoned(exceptOwner owner: String, response: StoredResponse) async throws -> Int {
        let aliveSince = ServerTime.nowMilliseconds() - ClusterMembership.deadAfterMilliseconds
        return try await database.rows("""
            UPDATE \(unescaped: s).idempotency_key SET status = \(response.status), headers = \(response.headersJSON.bytea),
                body = \(response.body.bytea)
            WHERE status IS NULL AND owner <> \(owner)
                AND owner NOT IN (SELECT id FROM \(unescaped: s).replica WHERE seen_at > \(aliveSince))
            RETURNING 1 AS ok
            """).count
    }

    public func removeExpired(createdAtOrBefore time: Int64) async throws {
        try await database.execute("DELETE FROM \(unescaped: s).idempotency_key WHERE created_at <= \(time)")
    }
}
