import Foundation
import GRDB
import KairosAPI
import KairosEngine

/// The SQLite database behind `kairos serve --db PATH`: WAL journal, one writer at a time,
/// every mutation a transaction that is on disk before the response leaves.
public final class KairosDatabase: Sendable {
    public let writer: any DatabaseWriter
    public let path: String

    /// Opens (creating and migrating) the database at `path`; `:memory:` is a private in-memory one.
    public init(path: String) throws {
        self.path = path
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        if path == ":memory:" {
            writer = try DatabaseQueue(configuration: configuration)
        } else {
            // DatabasePool puts the database in WAL mode: readers never wait for the writer.
            writer = try DatabasePool(path: path, configuration: configuration)
        }
        try Self.migrator.migrate(writer)
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE organization (
                    id TEXT PRIMARY KEY NOT NULL,
                    tier TEXT NOT NULL,
                    created_at INTEGER NOT NULL
                );
                CREATE TABLE api_key (
                    id TEXT PRIMARY KEY NOT NULL,
                    organization_id TEXT NOT NULL REFERENCES organization(id),
                    key_hash BLOB NOT NULL UNIQUE,
                    prefix TEXT NOT NULL,
                    scopes TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    revoked_at INTEGER
                );
                CREATE TABLE simulation (
                    id TEXT PRIMARY KEY NOT NULL,
                    organization_id TEXT NOT NULL,
                    scenario_id TEXT,
                    scenario BLOB NOT NULL,
                    seed INTEGER NOT NULL,
                    engine_version TEXT NOT NULL,
                    status TEXT NOT NULL,
                    speed REAL NOT NULL,
                    stores_trace INTEGER NOT NULL,
                    tick INTEGER NOT NULL,
                    created_at INTEGER NOT NULL,
                    state BLOB NOT NULL,
                    initial_state BLOB NOT NULL,
                    checkpoint BLOB NOT NULL,
                    log_length INTEGER NOT NULL
                );
                CREATE INDEX simulation_by_organization ON simulation(organization_id, created_at, id);
                CREATE INDEX simulation_by_status ON simulation(status);
                CREATE TABLE simulation_log (
                    simulation_id TEXT NOT NULL REFERENCES simulation(id),
                    sequence INTEGER NOT NULL,
                    tick INTEGER NOT NULL,
                    kind TEXT NOT NULL,
                    payload BLOB NOT NULL,
                    created_at INTEGER NOT NULL,
                    PRIMARY KEY (simulation_id, sequence)
                ) WITHOUT ROWID;
                CREATE TABLE trace_segment (
                    simulation_id TEXT NOT NULL REFERENCES simulation(id),
                    first_tick INTEGER NOT NULL,
                    tick_count INTEGER NOT NULL,
                    lines BLOB NOT NULL,
                    PRIMARY KEY (simulation_id, first_tick)
                );
                CREATE TABLE prophecy (
                    simulation_id TEXT NOT NULL REFERENCES simulation(id),
                    id INTEGER NOT NULL,
                    tick INTEGER NOT NULL,
                    horizon INTEGER NOT NULL,
                    predicted_stability REAL NOT NULL,
                    predicted_loss INTEGER,
                    PRIMARY KEY (simulation_id, id)
                ) WITHOUT ROWID;
                CREATE TABLE basin_loss (
                    simulation_id TEXT NOT NULL REFERENCES simulation(id),
                    tick INTEGER NOT NULL,
                    PRIMARY KEY (simulation_id, tick)
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v2: usage and idempotency") { db in
            try db.execute(sql: """
                CREATE TABLE usage_daily (
                    organization_id TEXT NOT NULL,
                    day INTEGER NOT NULL,
                    simulations_created INTEGER NOT NULL DEFAULT 0,
                    ticks_computed INTEGER NOT NULL DEFAULT 0,
                    requests_create INTEGER NOT NULL DEFAULT 0,
                    requests_step INTEGER NOT NULL DEFAULT 0,
                    requests_read INTEGER NOT NULL DEFAULT 0,
                    PRIMARY KEY (organization_id, day)
                ) WITHOUT ROWID;
                CREATE TABLE idempotency_key (
                    scope TEXT NOT NULL,
                    method TEXT NOT NULL,
                    path TEXT NOT NULL,
                    key TEXT NOT NULL,
                    fingerprint BLOB NOT NULL,
                    created_at INTEGER NOT NULL,
                    owner TEXT NOT NULL,
                    status INTEGER,
                    headers BLOB,
                    body BLOB,
                    UNIQUE (scope, method, path, key)
                );
                CREATE INDEX idempotency_key_by_created ON idempotency_key(created_at);
                """)
        }
        migrator.registerMigration("v3: forks") { db in
            try db.execute(sql: """
                ALTER TABLE simulation ADD COLUMN forked_from_id TEXT;
                ALTER TABLE simulation ADD COLUMN forked_from_tick INTEGER;
                """)
        }
        return migrator
    }
}

/// Simulations in SQLite (GRDB). The default repository of `kairos serve`.
public struct SQLiteSimulationRepository: SimulationRepository {
    let database: KairosDatabase
    private let gate = KeyedGate()

    public init(database: KairosDatabase) { self.database = database }

    public var storageName: String { "sqlite" }

    public func insert(_ change: SimulationChange) async throws {
        try await database.writer.write { db in
            let r = change.record
            try db.cachedStatement(sql: """
                INSERT INTO simulation (id, organization_id, scenario_id, scenario, seed, engine_version, status, speed,
                    stores_trace, tick, created_at, state, initial_state, checkpoint, log_length, forked_from_id, forked_from_tick)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """).execute(
                arguments: [r.id, r.organizationId, r.scenarioId, Data(r.scenarioJSON), Int64(r.seed),
                            r.engineVersion.description, r.status.rawValue, r.speed, r.storesTrace, r.tick, r.createdAt,
                            Data(r.state), Data(r.initialState), Data(r.checkpoint.data), r.logLength,
                            r.forkedFrom?.simulationId, r.forkedFrom?.tick])
            try Self.storeAppended(change, db: db)
        }
    }

    public func addUsage(_ deltas: [UsageDelta]) async throws {
        try await database.writer.write { db in
            let statement = try db.cachedStatement(sql: """
                INSERT INTO usage_daily (organization_id, day, simulations_created, ticks_computed, requests_create, requests_step,
                    requests_read) VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(organization_id, day) DO UPDATE SET
                    simulations_created = simulations_created + excluded.simulations_created,
                    ticks_computed = ticks_computed + excluded.ticks_computed,
                    requests_create = requests_create + excluded.requests_create,
                    requests_step = requests_step + excluded.requests_step,
                    requests_read = requests_read + excluded.requests_read
                """)
            for d in deltas {
                let u = d.usage
                try statement.execute(arguments: [d.organizationId, u.day, u.simulationsCreated, u.ticksComputed,
                                                  u.requests[.create] ?? 0, u.requests[.step] ?? 0, u.requests[.read] ?? 0])
            }
        }
    }

    public func usage(organizationId: String, fromDay: Int, toDay: Int) async throws -> [UsageDay] {
        try await database.writer.read { db in
            try Row.fetchAll(db, sql: """
                SELECT * FROM usage_daily WHERE organization_id = ? AND day BETWEEN ? AND ? ORDER BY day
                """, arguments: [organizationId, fromDay, toDay]).map { row in
                UsageDay(day: row["day"], simulationsCreated: row["simulations_created"], ticksComputed: row["ticks_computed"],
                         requests: [.create: row["requests_create"], .step: row["requests_step"], .read: row["requests_read"]])
            }
        }
    }

    public func find(id: String) async throws -> SimulationRecord? {
        try await database.writer.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM simulation WHERE id = ?", arguments: [id]).map(Self.record)
        }
    }

    public func list(organizationIds: [String], limit: Int, offset: Int) async throws -> (records: [SimulationRecord], total: Int) {
        guard !organizationIds.isEmpty else { return ([], 0) }
        return try await database.writer.read { db in
            let marks = databaseQuestionMarks(count: organizationIds.count)
            let args = StatementArguments(organizationIds)
            let total = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM simulation WHERE organization_id IN (\(marks))",
                                         arguments: args) ?? 0
            let rows = try Row.fetchAll(db, sql: """
                SELECT * FROM simulation WHERE organization_id IN (\(marks))
                ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?
                """, arguments: args + [limit, offset])
            return (try rows.map(Self.record), total)
        }
    }

    public func update<Result: Sendable>(
        id: String, _ body: @Sendable (SimulationRecord) async throws -> (SimulationChange, Result)
    ) async throws -> Result? {
        // The engine runs outside the write transaction so a long step never holds up writes
        // to other simulations; the write then succeeds only if nobody changed the simulation
        // meanwhile (log_length is its version). Requests on one simulation queue at the gate
        // first, so within one process the optimistic write practically never misses; several
        // processes sharing a database (PostgreSQL later) retry.
        try await gate.withLock(id) {
            for _ in 0 ..< 16 {
                guard let current = try await find(id: id) else { return nil }
                let (change, result) = try await body(current)
                let stored = try await database.writer.write { db -> Bool in
                    let r = change.record
                    try db.execute(sql: """
                        UPDATE simulation SET status = ?, speed = ?, tick = ?, state = ?, checkpoint = ?, log_length = ?
                        WHERE id = ? AND log_length = ?
                        """,
                        arguments: [r.status.rawValue, r.speed, r.tick, Data(r.state), Data(r.checkpoint.data), r.logLength,
                                    id, current.logLength])
                    guard db.changesCount == 1 else { return false }
                    try Self.storeAppended(change, db: db)
                    return true
                }
                if stored { return result }
            }
            throw StorageError("simulation \(id) kept changing while being updated")
        }
    }

    private static func storeAppended(_ change: SimulationChange, db: Database) throws {
        let id = change.record.id
        for entry in change.log {
            var w = CanonicalJSONWriter(capacity: 128)
            w.value(entry.payload)
            try db.cachedStatement(sql: """
                INSERT INTO simulation_log (simulation_id, sequence, tick, kind, payload, created_at) VALUES (?, ?, ?, ?, ?, ?)
                """).execute(arguments: [id, entry.sequence, entry.tick, entry.kind.rawValue, Data(w.bytes), entry.createdAt])
        }
        if change.record.storesTrace, let s = change.segment, s.tickCount > 0 {
            // SQLite refuses a blob over SQLITE_MAX_LENGTH (1e9 bytes), and GRDB traps on it;
            // the step-record budget keeps segments far below, this keeps a miss an error.
            guard s.lines.count < 1_000_000_000 else {
                throw StorageError("a trace segment of \(s.lines.count) bytes is over SQLite's limit")
            }
            // The lines are bound where they are (GRDB binds a statement's few arguments without
            // copying them; SQLite copies them into its pages once).
            try s.lines.withUnsafeBytes { raw in
                let lines = Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: raw.baseAddress.unsafelyUnwrapped),
                                 count: raw.count, deallocator: .none)
                try db.cachedStatement(sql: "INSERT INTO trace_segment (simulation_id, first_tick, tick_count, lines) VALUES (?, ?, ?, ?)")
                    .execute(arguments: [id, s.firstTick, s.tickCount, lines])
            }
        }
        for p in change.prophecies {
            try db.cachedStatement(sql: """
                INSERT INTO prophecy (simulation_id, id, tick, horizon, predicted_stability, predicted_loss) VALUES (?, ?, ?, ?, ?, ?)
                """).execute(arguments: [id, p.id, p.tick, p.horizon, p.predictedStability, p.predictedLoss])
        }
        for t in change.lossTicks {
            try db.cachedStatement(sql: "INSERT INTO basin_loss (simulation_id, tick) VALUES (?, ?)").execute(arguments: [id, t])
        }
    }

    static func record(_ row: Row) throws -> SimulationRecord {
        let versionText: String = row["engine_version"]
        let statusText: String = row["status"]
        guard let version = EngineVersion(versionText), let status = SimulationStatus(rawValue: statusText) else {
            throw StorageError("simulation row \(row["id"] as String? ?? "?") is corrupt")
        }
        let tick: Int = row["tick"]
        let checkpoint: Data = row["checkpoint"]
        let scenario: Data = row["scenario"]
        let state: Data = row["state"]
        let initial: Data = row["initial_state"]
        let seed: Int64 = row["seed"]
        return SimulationRecord(
            id: row["id"], organizationId: row["organization_id"], scenarioId: row["scenario_id"],
            scenarioJSON: [UInt8](scenario), seed: UInt64(seed), engineVersion: version, status: status, tick: tick,
            createdAt: row["created_at"], state: [UInt8](state), initialState: [UInt8](initial),
            checkpoint: SimulationCheckpoint(engineVersion: version, tick: tick, data: [UInt8](checkpoint)),
            logLength: row["log_length"], speed: row["speed"], storesTrace: row["stores_trace"],
            forkedFrom: (row["forked_from_id"] as String?).map { ForkOrigin(simulationId: $0, tick: row["forked_from_tick"]) })
    }

    public func traceSegments(simulationId: String) async throws -> [TraceSegment] {
        try await traceSegments(simulationId: simulationId, fromTick: 0)
    }

    public func traceSegments(simulationId: String, fromTick: Int) async throws -> [TraceSegment] {
        try await database.writer.read { db in
            try Row.fetchAll(db, sql: """
                SELECT first_tick, tick_count, lines FROM trace_segment WHERE simulation_id = ? AND first_tick + tick_count > ?
                ORDER BY first_tick
                """, arguments: [simulationId, fromTick]).map { row in
                let lines: Data = row["lines"]
                return TraceSegment(firstTick: row["first_tick"], tickCount: row["tick_count"], lines: [UInt8](lines))
            }
        }
    }

    public func log(simulationId: String, from sequence: Int) async throws -> [SimulationLogEntry] {
        try await database.writer.read { db in
            try Row.fetchAll(db, sql: """
                SELECT sequence, tick, kind, payload, created_at FROM simulation_log
                WHERE simulation_id = ? AND sequence >= ? ORDER BY sequence
                """, arguments: [simulationId, sequence]).map { row in
                let kindText: String = row["kind"]
                let payload: Data = row["payload"]
                guard let kind = SimulationLogEntry.Kind(rawValue: kindText),
                      let json = try? JSONParser.parse([UInt8](payload)) else {
                    throw StorageError("log of simulation \(simulationId) is corrupt")
                }
                return SimulationLogEntry(sequence: row["sequence"], tick: row["tick"], kind: kind, payload: json,
                                          createdAt: row["created_at"])
            }
        }
    }

    public func prophecies(simulationId: String) async throws -> (prophecies: [Prophecy], lossTicks: [Int]) {
        try await database.writer.read { db in
            let prophecies = try Row.fetchAll(db, sql: """
                SELECT id, tick, horizon, predicted_stability, predicted_loss FROM prophecy WHERE simulation_id = ? ORDER BY id
                """, arguments: [simulationId]).map { row in
                Prophecy(id: row["id"], tick: row["tick"], horizon: row["horizon"],
                         predictedStability: row["predicted_stability"], predictedLoss: row["predicted_loss"])
            }
            let losses = try Int.fetchAll(db, sql: "SELECT tick FROM basin_loss WHERE simulation_id = ? ORDER BY tick",
                                          arguments: [simulationId])
            return (prophecies, losses)
        }
    }

    public func simulationIds(status: SimulationStatus) async throws -> [String] {
        try await database.writer.read { db in
            try String.fetchAll(db, sql: "SELECT id FROM simulation WHERE status = ? ORDER BY created_at",
                                arguments: [status.rawValue])
        }
    }
}

/// Organizations and API keys in SQLite.
public struct SQLiteIdentityRepository: IdentityRepository {
    let database: KairosDatabase

    public init(database: KairosDatabase) { self.database = database }

    public func upsertOrganization(_ organization: OrganizationRecord) async throws {
        try await database.writer.write { db in
            try db.execute(sql: """
                INSERT INTO organization (id, tier, created_at) VALUES (?, ?, ?)
                ON CONFLICT(id) DO UPDATE SET tier = excluded.tier
                """, arguments: [organization.id, organization.tier.rawValue, organization.createdAt])
        }
    }

    public func organization(id: String) async throws -> OrganizationRecord? {
        try await database.writer.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM organization WHERE id = ?", arguments: [id]).map { row in
                OrganizationRecord(id: row["id"], tier: OrganizationTier(rawValue: row["tier"]) ?? .community,
                                   createdAt: row["created_at"])
            }
        }
    }

    public func insertKey(_ key: APIKeyRecord) async throws {
        try await database.writer.write { db in
            try db.execute(sql: """
                INSERT INTO api_key (id, organization_id, key_hash, prefix, scopes, created_at, revoked_at)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """, arguments: [key.id, key.organizationId, Data(key.keyHash), key.prefix,
                                 key.scopes.map(\.rawValue).joined(separator: ","), key.createdAt, key.revokedAt])
        }
    }

    public func key(hash: [UInt8]) async throws -> APIKeyRecord? {
        try await database.writer.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM api_key WHERE key_hash = ?", arguments: [Data(hash)]).map(Self.key)
        }
    }

    public func keys(organizationId: String?) async throws -> [APIKeyRecord] {
        try await database.writer.read { db in
            if let organizationId {
                return try Row.fetchAll(db, sql: "SELECT * FROM api_key WHERE organization_id = ? ORDER BY created_at, id",
                                        arguments: [organizationId]).map(Self.key)
            }
            return try Row.fetchAll(db, sql: "SELECT * FROM api_key ORDER BY created_at, id").map(Self.key)
        }
    }

    public func revokeKey(id: String, at time: Int64) async throws -> Bool {
        try await database.writer.write { db in
            try db.execute(sql: "UPDATE api_key SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", arguments: [time, id])
            return db.changesCount > 0
        }
    }

    static func key(_ row: Row) -> APIKeyRecord {
        let hash: Data = row["key_hash"]
        let scopes: String = row["scopes"]
        return APIKeyRecord(id: row["id"], organizationId: row["organization_id"], keyHash: [UInt8](hash),
                            prefix: row["prefix"], scopes: APIScope.parseList(scopes).scopes, createdAt: row["created_at"],
                            revokedAt: row["revoked_at"])
    }
}
