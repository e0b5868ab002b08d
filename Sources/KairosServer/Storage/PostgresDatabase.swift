import Foundation
import KairosAPI
import Logging
import NIOCore
import NIOSSL
import PostgresNIO

/// Whether and how connections to PostgreSQL are encrypted (`sslmode` of the database URL, as
/// libpq spells it).
public enum PostgresSSLMode: String, Sendable, Equatable, CaseIterable {
    /// Plain connections (the default).
    case disable
    /// TLS, the server's certificate not checked — unless `sslrootcert` is given, which makes it `verify-ca`.
    case require
    /// TLS, the certificate signed by a trusted root (`sslrootcert`, else the system's), any host name.
    case verifyCA = "verify-ca"
    /// TLS, the certificate signed by a trusted root and naming the host of the URL.
    case verifyFull = "verify-full"
}

/// Where `kairos serve --database-url` keeps everything: a PostgreSQL database shared by every
/// replica. `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?schema=NAME&sslmode=MODE&sslrootcert=PATH]`;
/// connections are plain unless `sslmode` is `require`, `verify-ca` or `verify-full`.
public struct PostgresLocation: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    /// The schema the tables live in (`public` by default); tests give each server its own.
    public var schema: String
    public var sslMode: PostgresSSLMode
    /// PEM file of the certificates to trust (`sslrootcert`); the system's roots when nil.
    public var sslRootCertificate: String?

    public init(host: String, port: Int = 5432, user: String, password: String? = nil, database: String,
                schema: String = "public", sslMode: PostgresSSLMode = .disable, sslRootCertificate: String? = nil) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.schema = schema
        self.sslMode = sslMode
        self.sslRootCertificate = sslRootCertificate
    }

    /// Parses a `postgres://` (or `postgresql://`) URL; the error says what is wrong.
    public init(url text: String) throws {
        guard let components = URLComponents(string: text), let scheme = components.scheme,
              scheme == "postgres" || scheme == "postgresql" else {
            throw StorageError("database URL must look like postgres://USER@HOST:PORT/DATABASE (got \(Self.redacted(text)))")
        }
        guard let host = components.host, !host.isEmpty else { throw StorageError("database URL has no host") }
        guard let user = components.user, !user.isEmpty else { throw StorageError("database URL has no user (postgres://USER@HOST/DB)") }
        let database = String(components.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty, !database.contains("/") else {
            throw StorageError("database URL has no database name (postgres://USER@HOST/DB)")
        }
        var schema = "public"
        var sslMode = PostgresSSLMode.disable
        var rootCertificate: String?
        for item in components.queryItems ?? [] {
            switch item.name {
            case "schema":
                guard let value = item.value, Self.isIdentifier(value) else {
                    throw StorageError("database URL: schema must be letters, digits and _ (at most 48, not starting with a digit)")
                }
                schema = value
            case "sslmode":
                guard let value = item.value.flatMap(PostgresSSLMode.init(rawValue:)) else {
                    throw StorageError("database URL: sslmode must be one of \(PostgresSSLMode.allCases.map(\.rawValue).joined(separator: ", ")) (got \(item.value ?? ""))")
                }
                sslMode = value
            case "sslrootcert":
                guard let value = item.value, !value.isEmpty else { throw StorageError("database URL: sslrootcert needs a file path") }
                rootCertificate = value
            default:
                throw StorageError("database URL: unknown parameter \(item.name) (known: schema, sslmode, sslrootcert)")
            }
        }
        if rootCertificate != nil, sslMode == .disable {
            throw StorageError("database URL: sslrootcert needs sslmode=require, verify-ca or verify-full")
        }
        self.init(host: host, port: components.port ?? 5432, user: user, password: components.password, database: database,
                  schema: schema, sslMode: sslMode, sslRootCertificate: rootCertificate)
    }

    /// The TLS settings of `sslmode`/`sslrootcert` (nil: plain connections); the error names an unreadable root file.
    func tlsConfiguration() throws -> TLSConfiguration? {
        var configuration = TLSConfiguration.makeClientConfiguration()
        switch sslMode {
        case .disable: return nil
        case .require: configuration.certificateVerification = sslRootCertificate == nil ? .none : .noHostnameVerification
        case .verifyCA: configuration.certificateVerification = .noHostnameVerification
        case .verifyFull: configuration.certificateVerification = .fullVerification
        }
        if let path = sslRootCertificate {
            do {
                configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(path))
            } catch {
                throw StorageError("database URL: sslrootcert \(path): cannot read PEM certificates (\(error))")
            }
        }
        return configuration
    }

    static func isIdentifier(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, text.unicodeScalars.count <= 48,
              !("0" ... "9").contains(first) else { return false }
        return text.unicodeScalars.allSatisfy { ("a" ... "z").contains($0) || ("0" ... "9").contains($0) || $0 == "_" }
    }

    static func redacted(_ text: String) -> String {
        guard var components = URLComponents(string: text), components.password != nil else { return text }
        components.password = "***"
        return components.string ?? text
    }

    /// Without the password.
    public var description: String {
        var parameters: [String] = []
        if schema != "public" { parameters.append("schema=\(schema)") }
        if sslMode != .disable { parameters.append("sslmode=\(sslMode.rawValue)") }
        if let sslRootCertificate { parameters.append("sslrootcert=\(sslRootCertificate)") }
        return "postgres://\(user)@\(host):\(port)/\(database)" + (parameters.isEmpty ? "" : "?" + parameters.joined(separator: "&"))
    }
}

/// A connection pool to a PostgreSQL server; it runs until `close()` or until the last
/// reference goes. Several `KairosPostgres` (schemas) may share one (tests do).
public final class PostgresPool: Sendable {
    public let client: PostgresClient
    private let runner: Task<Void, Never>

    /// Fails only when the TLS settings cannot be used (an unreadable `sslrootcert`).
    public init(_ location: PostgresLocation, maximumConnections: Int = 20, logger: Logger = Logger(label: "kairos.postgres")) throws {
        var configuration = PostgresClient.Configuration(
            host: location.host, port: location.port, username: location.user, password: location.password,
            database: location.database,
            tls: try location.tlsConfiguration().map { .require($0) } ?? .disable)
        configuration.options.maximumConnections = maximumConnections
        configuration.options.minimumConnections = 0
        configuration.options.connectionIdleTimeout = .seconds(30)
        configuration.options.connectTimeout = .seconds(5)
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        runner = Task { await client.run() }
    }

    deinit { runner.cancel() }

    public func close() { runner.cancel() }
}

/// The shared database of `kairos serve --database-url`: a schema on a pool, migrated before
/// first use (`connect` waits for it, so a bad URL or an unreachable server fails at start).
public final class KairosPostgres: Sendable {
    public let pool: PostgresPool
    public let location: PostgresLocation
    let logger: Logger
    private let ready: Task<Void, any Error>

    public var client: PostgresClient { pool.client }
    /// The schema, quoted for SQL.
    var schema: String { "\"\(location.schema)\"" }
    /// The LISTEN/NOTIFY channel of simulation changes in this schema.
    var changeChannel: String { "kairos_changes_\(location.schema)" }

    /// Uses `pool` (a new one for `location` when nil); migrations (under an advisory lock,
    /// so replicas starting together apply each one once) run before the first query.
    public init(_ location: PostgresLocation, pool: PostgresPool, logger: Logger = Logger(label: "kairos.postgres")) {
        self.location = location
        self.logger = logger
        self.pool = pool
        ready = Task { try await Self.migrate(pool.client, location: location, logger: logger) }
    }

    /// On a pool of its own; fails only when the TLS settings cannot be used.
    public convenience init(_ location: PostgresLocation, logger: Logger = Logger(label: "kairos.postgres")) throws {
        self.init(location, pool: try PostgresPool(location, logger: logger), logger: logger)
    }

    /// Connects and migrates; the error says what failed.
    public static func connect(_ location: PostgresLocation, logger: Logger = Logger(label: "kairos.postgres")) async throws -> KairosPostgres {
        let database = try KairosPostgres(location, logger: logger)
        try await database.waitUntilReady()
        return database
    }

    func waitUntilReady() async throws {
        do {
            try await ready.value
        } catch {
            let hint = location.sslMode == .disable ? "" : " (sslmode=\(location.sslMode.rawValue): does the server accept TLS, and is its certificate trusted?)"
            throw StorageError("PostgreSQL at \(location): \(Self.describe(error))" + hint)
        }
    }

    /// A PostgreSQL error's message (postgres-nio's own description hides it).
    static func describe(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] { return message }
            return "\(error.code)" + (error.underlying.map { ": \($0)" } ?? "")
        }
        // The pool gives up after failed connection attempts with an error that names no cause.
        if "\(error)".contains("connectionCreationCircuitBreakerTripped") {
            return "could not connect (is PostgreSQL running there, and does it accept this user without a password or with the one given?)"
        }
        return "\(error)"
    }

    /// Whether `error` is PostgreSQL's unique violation (23505).
    static func isUniqueViolation(_ error: any Error) -> Bool {
        (error as? PSQLError)?.serverInfo?[.sqlState] == "23505"
    }

    /// Migrations, in order; each runs once per schema, in a transaction.
    static func migrations(_ s: String) -> [(version: Int, name: String, sql: [String])] {
        [
            (1, "tables", [
                """
                CREATE TABLE \(s).organization (
                    id TEXT PRIMARY KEY, tier TEXT NOT NULL, created_at BIGINT NOT NULL)
                """,
                """
                CREATE TABLE \(s).api_key (
                    id TEXT PRIMARY KEY, organization_id TEXT NOT NULL REFERENCES \(s).organization(id),
                    key_hash BYTEA NOT NULL UNIQUE, prefix TEXT NOT NULL, scopes TEXT NOT NULL,
                    created_at BIGINT NOT NULL, revoked_at BIGINT)
                """,
                """
                CREATE TABLE \(s).simulation (
                    id TEXT PRIMARY KEY, organization_id TEXT NOT NULL, scenario_id TEXT, scenario BYTEA NOT NULL,
                    seed BIGINT NOT NULL, engine_version TEXT NOT NULL, status TEXT NOT NULL, speed DOUBLE PRECISION NOT NULL,
                    stores_trace BOOLEAN NOT NULL, tick BIGINT NOT NULL, created_at BIGINT NOT NULL, state BYTEA NOT NULL,
                    initial_state BYTEA NOT NULL, checkpoint BYTEA NOT NULL, log_length BIGINT NOT NULL,
                    forked_from_id TEXT, forked_from_tick BIGINT)
                """,
                "CREATE INDEX simulation_by_organization ON \(s).simulation(organization_id, created_at, id)",
                "CREATE INDEX simulation_by_status ON \(s).simulation(status)",
                """
                CREATE TABLE \(s).simulation_log (
                    simulation_id TEXT NOT NULL REFERENCES \(s).simulation(id), sequence BIGINT NOT NULL, tick BIGINT NOT NULL,
                    kind TEXT NOT NULL, payload BYTEA NOT NULL, created_at BIGINT NOT NULL,
                    PRIMARY KEY (simulation_id, sequence))
                """,
                """
                CREATE TABLE \(s).trace_segment (
                    simulation_id TEXT NOT NULL REFERENCES \(s).simulation(id), first_tick BIGINT NOT NULL,
                    tick_count BIGINT NOT NULL, lines BYTEA NOT NULL, PRIMARY KEY (simulation_id, first_tick))
                """,
                """
                CREATE TABLE \(s).prophecy (
                    simulation_id TEXT NOT NULL REFERENCES \(s).simulation(id), id BIGINT NOT NULL, tick BIGINT NOT NULL,
                    horizon BIGINT NOT NULL, predicted_stability DOUBLE PRECISION NOT NULL, predicted_loss BIGINT,
                    PRIMARY KEY (simulation_id, id))
                """,
                """
                CREATE TABLE \(s).basin_loss (
                    simulation_id TEXT NOT NULL REFERENCES \(s).simulation(id), tick BIGINT NOT NULL,
                    PRIMARY KEY (simulation_id, tick))
                """,
                """
                CREATE TABLE \(s).usage_daily (
                    organization_id TEXT NOT NULL, day BIGINT NOT NULL,
                    simulations_created BIGINT NOT NULL DEFAULT 0, ticks_computed BIGINT NOT NULL DEFAULT 0,
                    requests_create BIGINT NOT NULL DEFAULT 0, requests_step BIGINT NOT NULL DEFAULT 0,
                    requests_read BIGINT NOT NULL DEFAULT 0, PRIMARY KEY (organization_id, day))
                """,
                """
                CREATE TABLE \(s).idempotency_key (
                    scope TEXT NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL, key TEXT NOT NULL,
                    fingerprint BYTEA NOT NULL, created_at BIGINT NOT NULL, owner TEXT NOT NULL,
                    status INTEGER, headers BYTEA, body BYTEA, PRIMARY KEY (scope, method, path, key))
                """,
                "CREATE INDEX idempotency_key_by_created ON \(s).idempotency_key(created_at)",
            ]),
            (2, "cluster: live-event segments, replicas, playback leases, rate windows", [
                // The steps each change computed, kept a few minutes so every replica's live
                // streams can number and send the events of a change another replica stored.
                """
                CREATE TABLE \(s).event_segment (
                    simulation_id TEXT NOT NULL, first_sequence BIGINT NOT NULL, first_tick BIGINT NOT NULL,
                    tick_count BIGINT NOT NULL, lines BYTEA NOT NULL, created_at BIGINT NOT NULL,
                    PRIMARY KEY (simulation_id, first_sequence))
                """,
                "CREATE INDEX event_segment_by_created ON \(s).event_segment(created_at)",
                // Simulations some replica's live streams follow (event_segment is written only for those).
                "CREATE TABLE \(s).event_follow (simulation_id TEXT NOT NULL, replica TEXT NOT NULL, PRIMARY KEY (simulation_id, replica))",
                "CREATE TABLE \(s).replica (id TEXT PRIMARY KEY, started_at BIGINT NOT NULL, seen_at BIGINT NOT NULL)",
                """
                CREATE TABLE \(s).playback_lease (
                    simulation_id TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at BIGINT NOT NULL)
                """,
                """
                CREATE TABLE \(s).rate_window (
                    key TEXT NOT NULL, window_start BIGINT NOT NULL, count BIGINT NOT NULL, PRIMARY KEY (key, window_start))
                """,
                "CREATE TABLE \(s).rate_total (key TEXT PRIMARY KEY, total BIGINT NOT NULL)",
                """
                CREATE TABLE \(s).event_stream (
                    subject TEXT NOT NULL, replica TEXT NOT NULL, count BIGINT NOT NULL, PRIMARY KEY (subject, replica))
                """,
            ] + ClusterCoordinator.functions(s)),
        ]
    }

    /// The newest migration version this build knows.
    static var latestVersion: Int { migrations("x").last?.version ?? 0 }

    private static func migrate(_ client: PostgresClient, location: PostgresLocation, logger: Logger) async throws {
        let s = "\"\(location.schema)\""
        let lockKey = Int64(Self.lockKey("kairos-migrate:" + location.schema))
        try await client.withConnection { connection in
            _ = try await connection.query("SELECT pg_advisory_lock(\(lockKey))", logger: logger)
            do {
                try await connection.query("CREATE SCHEMA IF NOT EXISTS \(unescaped: s)", logger: logger)
                try await connection.query("""
                    CREATE TABLE IF NOT EXISTS \(unescaped: s).kairos_migration (
                        version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)
                    """, logger: logger)
                var applied = Set<Int>()
                for try await version in try await connection.query("SELECT version FROM \(unescaped: s).kairos_migration",
                                                                    logger: logger).decode(Int.self) {
                    applied.insert(version)
                }
                if let newest = applied.max(), newest > Self.latestVersion {
                    throw StorageError("the database schema is at version \(newest), newer than this kairos (\(Self.latestVersion)); upgrade kairos")
                }
                for migration in Self.migrations(s) where !applied.contains(migration.version) {
                    try await connection.withTransaction(logger: logger) { transaction in
                        for statement in migration.sql {
                            try await transaction.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                        }
                        let now = ServerTime.nowMilliseconds()
                        try await transaction.query("""
                            INSERT INTO \(unescaped: s).kairos_migration (version, name, applied_at)
                            VALUES (\(migration.version), \(migration.name), \(now))
                            """, logger: logger)
                    }
                    logger.info("applied migration", metadata: ["version": "\(migration.version)", "name": "\(migration.name)"])
                }
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(lockKey))", logger: logger)
                throw error
            }
            _ = try await connection.query("SELECT pg_advisory_unlock(\(lockKey))", logger: logger)
        }
    }

    /// A stable 63-bit key for advisory locks (FNV-1a).
    static func lockKey(_ text: String) -> Int64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01B3
        }
        return Int64(bitPattern: hash & 0x7FFF_FFFF_FFFF_FFFF)
    }

    /// A connection of its own (LISTEN), which the caller closes.
    func dedicatedConnection() async throws -> PostgresConnection {
        try await waitUntilReady()
        let tls: PostgresConnection.Configuration.TLS = if let settings = try location.tlsConfiguration() {
            .require(try NIOSSLContext(configuration: settings))
        } else {
            .disable
        }
        let configuration = PostgresConnection.Configuration(
            host: location.host, port: location.port, username: location.user, password: location.password,
            database: location.database, tls: tls)
        return try await PostgresConnection.connect(on: PostgresClient.defaultEventLoopGroup.any(), configuration: configuration,
                                                    id: 0, logger: logger).get()
    }

    /// Runs `body` in a transaction.
    func transaction<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await waitUntilReady()
        return try await client.withConnection { connection in
            try await connection.withTransaction(logger: logger) { try await body($0) }
        }
    }

    /// Every row of `query`.
    func rows(_ query: PostgresQuery) async throws -> [PostgresRandomAccessRow] {
        try await waitUntilReady()
        return try await client.query(query, logger: logger).collect().map { $0.makeRandomAccess() }
    }

    /// Runs `query`, ignoring any rows.
    func execute(_ query: PostgresQuery) async throws {
        try await waitUntilReady()
        _ = try await client.query(query, logger: logger).collect()
    }
}

extension PostgresConnection {
    func rows(_ query: PostgresQuery, logger: Logger) async throws -> [PostgresRandomAccessRow] {
        try await self.query(query, logger: logger).collect().map { $0.makeRandomAccess() }
    }
}

extension PostgresRandomAccessRow {
    func get<T: PostgresDecodable>(_ column: String, as type: T.Type = T.self) throws -> T {
        try self[column].decode(T.self)
    }

    func bytes(_ column: String) throws -> [UInt8] {
        guard let buffer = try self[column].decode(ByteBuffer?.self) else { return [] }
        return Array(buffer.readableBytesView)
    }
}

extension Array where Element == UInt8 {
    /// For binding as `bytea`.
    var bytea: ByteBuffer { ByteBuffer(bytes: self) }
}
