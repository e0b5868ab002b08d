import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Hummingbird
import KairosServer
import Logging

/// `kairos serve`: the REST API on Hummingbird, backed by the embedded engine.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the Kairos REST API (/v1).",
        discussion: """
        Simulations are stored in SQLite (--db, WAL mode; ":memory:" keeps them in memory) or, for several replicas \
        behind a load balancer, in PostgreSQL (--database-url or KAIROS_DATABASE_URL; see docs/deploy.md). \
        Migrations are applied at start. Bearer tokens are accepted when KAIROS_JWT_SECRET is set. Create API keys \
        with `kairos keys create` (same --db / --database-url). SIGTERM drains: no new requests, in-flight ones \
        finish, streams end so clients resume on another replica. \
        http://HOST:PORT/dashboard is the live dashboard (paste a key; watch, steer and replay simulations), \
        /v1/docs the interactive API reference.
        """)

    @Option(help: "Address to bind.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on (0 picks a free one).")
    var port = 8080

    @Option(help: "SQLite database file.")
    var db = "kairos.db"

    @Option(name: .customLong("database-url"),
            help: "PostgreSQL URL postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?schema=NAME] shared by every replica (also KAIROS_DATABASE_URL); replaces --db.")
    var databaseURL: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"

    @Option(help: "Log format: text or json.")
    var logFormat = "text"

    @Option(help: "Multiply every tier's rate and SSE limits (load tests).")
    var rateLimitMultiplier = 1

    @Flag(help: "Do not serve GET /metrics (Prometheus text format).")
    var noMetrics = false

    @Option(help: "Seconds a connection may sit with no request in progress before it is closed (also a request body that stalls this long; keep --read-timeout below it).")
    var idleTimeout: Double = 60

    @Option(help: "Seconds a request's head and body may take to arrive, from its first bytes (else 408 and close). Responses being written (SSE streams, long runs) and WebSocket sessions are never timed out.")
    var readTimeout: Double = 30

    @Option(help: "Connections held at once; more are answered 503 and closed (default: 4096, or fewer when the open-files limit is lower).")
    var maxConnections: Int?

    @Option(help: "Seconds SIGTERM/SIGINT waits for in-flight requests and open connections to finish before closing them and exiting.")
    var drainTimeout: Double = 10

    @Flag(help: "Create the organizations that valid bearer tokens name when this server does not have them (else such a token is refused with 401).")
    var provisionOrganizations = false

    /// The default cap: 4096, kept under the process's open-files limit (SQLite and the
    /// listener need some, and refused connections briefly hold one each).
    static func defaultMaxConnections() -> Int {
        var limit = rlimit()
        #if os(Linux)
        let resource = Int32(RLIMIT_NOFILE.rawValue)
        #else
        let resource = RLIMIT_NOFILE
        #endif
        guard getrlimit(resource, &limit) == 0 else { return ConnectionLimits.defaultMaxConnections }
        let open = Int(clamping: limit.rlim_cur)
        return max(16, min(ConnectionLimits.defaultMaxConnections, open * 3 / 4 - 64))
    }

    func validate() throws {
        guard (0 ... 65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level: unknown level \(logLevel)") }
        guard ["text", "json"].contains(logFormat) else { throw ValidationError("--log-format must be text or json") }
        guard (1 ... 1_000_000).contains(rateLimitMultiplier) else {
            throw ValidationError("--rate-limit-multiplier must be between 1 and 1000000")
        }
        guard drainTimeout.isFinite, drainTimeout > 0, drainTimeout <= 3_600 else {
            throw ValidationError("--drain-timeout must be a number of seconds in (0, 3600]")
        }
        guard idleTimeout.isFinite, idleTimeout > 0, idleTimeout <= 86_400 else {
            throw ValidationError("--idle-timeout must be a number of seconds in (0, 86400]")
        }
        guard readTimeout.isFinite, readTimeout > 0, readTimeout <= 86_400 else {
            throw ValidationError("--read-timeout must be a number of seconds in (0, 86400]")
        }
        if let maxConnections, !(1 ... 1_000_000).contains(maxConnections) {
            throw ValidationError("--max-connections must be between 1 and 1000000")
        }
        let environment = ProcessInfo.processInfo.environment
        if environment["KAIROS_SSE_HEARTBEAT_SECONDS"] != nil, ServerConfiguration.heartbeatSeconds(environment: environment) == nil {
            throw ValidationError("KAIROS_SSE_HEARTBEAT_SECONDS must be a number of seconds in (0, 3600]")
        }
        if let url = Self.databaseURL(databaseURL) {
            do {
                _ = try PostgresLocation(url: url)
            } catch {
                throw ValidationError("--database-url: \(error)")
            }
        }
        if let secret = ProcessInfo.processInfo.environment["KAIROS_JWT_SECRET"], !secret.isEmpty,
           secret.utf8.count < TokenAuthority.minimumSecretBytes {
            throw ValidationError("KAIROS_JWT_SECRET must be at least \(TokenAuthority.minimumSecretBytes) bytes")
        }
    }

    /// `--database-url`, else a non-empty KAIROS_DATABASE_URL.
    static func databaseURL(_ option: String?) -> String? {
        if let option { return option }
        guard let value = ProcessInfo.processInfo.environment["KAIROS_DATABASE_URL"], !value.isEmpty else { return nil }
        return value
    }

    /// The storage `--db` / `--database-url` / KAIROS_DATABASE_URL name.
    static func storage(db: String, databaseURL: String?) throws -> ServerConfiguration.Storage {
        guard let url = Self.databaseURL(databaseURL) else { return .sqlite(path: db) }
        return .postgres(try PostgresLocation(url: url))
    }

    func run() async throws {
        let json = logFormat == "json"
        LoggingSystem.bootstrap { label -> any LogHandler in
            json ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label)
        }
        let secret = ProcessInfo.processInfo.environment["KAIROS_JWT_SECRET"].flatMap { $0.isEmpty ? nil : $0 }
        var configuration = ServerConfiguration(
            host: host, port: port, storage: try Self.storage(db: db, databaseURL: databaseURL), jwtSecret: secret,
            logLevel: Logger.Level(rawValue: logLevel) ?? .info, rateLimitMultiplier: rateLimitMultiplier,
            metricsEnabled: !noMetrics)
        configuration.connectionLimits = ConnectionLimits(
            idleTimeout: .milliseconds(Int64((idleTimeout * 1000).rounded())),
            readTimeout: .milliseconds(Int64((readTimeout * 1000).rounded())),
            maxConnections: maxConnections ?? Self.defaultMaxConnections())
        configuration.provisionOrganizations = provisionOrganizations
        if let seconds = ServerConfiguration.heartbeatSeconds(environment: ProcessInfo.processInfo.environment) {
            configuration.sseHeartbeatSeconds = seconds
        }
        let host = configuration.host
        let app = try await buildApplication(configuration) { port in
            // One line on stdout for scripts and the live-server tests.
            CLI.writeStdout(Array("kairos serve: listening on http://\(host):\(port)\n".utf8))
        }
        try await runUntilSignalled(app, drainTimeout: .milliseconds(Int64((drainTimeout * 1000).rounded())))
    }
}
