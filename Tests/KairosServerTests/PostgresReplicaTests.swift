import Foundation
import Hummingbird
import HummingbirdTesting
import KairosAPI
import KairosEngine
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL
import PostgresNIO
import KairosTestSupport
import Testing
@testable import KairosServer

/// Several replicas on one PostgreSQL schema, in one process (the server suite's PostgreSQL pass,
/// KAIROS_TEST_POSTGRES=1): migrations applied once, optimistic writes that lose no tick,
/// idempotency races, live events across replicas, playback leases, cluster-wide limits.
@Suite(.enabled(if: TestStorage.postgres)) struct PostgresReplicaTests {
    static let quiet: Logger = {
        var logger = Logger(label: "kairos.test.postgres")
        logger.logLevel = .warning
        return logger
    }()

    /// Repositories of `count` replicas sharing one new schema (each with its own gates, as separate processes).
    static func replicas(_ count: Int, schema: String = TestStorage.schema()) -> [ServerRepositories] {
        (0 ..< count).map { _ in TestStorage.repositories(schema: schema, pool: TestStorage.pool!) }
    }

    @Test func migrationsApplyOnceWhenReplicasStartTogether() async throws {
        let schema = TestStorage.schema()
        var url = try PostgresLocation(url: TestStorage.postgresURL)
        url.schema = schema
        let location = url
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0 ..< 6 {
                group.addTask {
                    let database = KairosPostgres(location, pool: TestStorage.pool!, logger: Self.quiet)
                    try await database.waitUntilReady()
                }
            }
            try await group.waitForAll()
        }
        let database = KairosPostgres(location, pool: TestStorage.pool!, logger: Self.quiet)
        let versions = try await database.rows("SELECT version FROM \(unescaped: database.schema).kairos_migration ORDER BY version")
            .map { try $0.get("version", as: Int.self) }
        #expect(versions == Array(1 ... KairosPostgres.latestVersion))
    }

    @Test func badURLsSayWhatIsWrong() {
        #expect(throws: StorageError.self) { try PostgresLocation(url: "mysql://x@h/db") }
        #expect(throws: StorageError.self) { try PostgresLocation(url: "postgres://h/db") }
        #expect(throws: StorageError.self) { try PostgresLocation(url: "postgres://u@h") }
        #expect(throws: StorageError.self) { try PostgresLocation(url: "postgres://u@h/db?schema=Robert;drop") }
        let location = try? PostgresLocation(url: "postgres://kairos:secret@db.example:6543/kairos?schema=blue")
        #expect(location == PostgresLocation(host: "db.example", port: 6543, user: "kairos", password: "secret", database: "kairos",
                                             schema: "blue"))
        #expect(location?.description == "postgres://kairos@db.example:6543/kairos?schema=blue", "no password")
    }

    /// Two replicas step one simulation at once, 20 times each: every step lands once, in order.
    @Test func replicasSteppingOneSimulationLoseAndRepeatNothing() async throws {
        let replicas = Self.replicas(2)
        let request = try ScenarioRequest.parse(.object(["scenarioId": "capability-divergence"]))
        let start = try SimulationDriver.start(id: "sim_race", organizationId: "acme", request: request,
                                               version: EngineRegistry.latest, ticks: 0, now: 0)
        try await replicas[0].simulations.insert(start)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for replica in replicas {
                for _ in 0 ..< 20 {
                    group.addTask {
                        _ = try await replica.simulations.update(id: "sim_race") { record in
                            (try SimulationDriver.advance(record, ticks: 3, now: 1), ())
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let record = try #require(try await replicas[1].simulations.find(id: "sim_race"))
        #expect(record.tick == 120)
        #expect(record.logLength == 40)
        let log = try await replicas[0].simulations.log(simulationId: "sim_race", from: 0)
        #expect(log.map(\.sequence) == Array(0 ..< 40))
        #expect(log.map(\.tick) == Array(stride(from: 0, to: 120, by: 3)))
        // The state is exactly an uninterrupted run's.
        let trace = try SimulationDriver.replay(record, log: log)
        #expect(sha256Hex(trace) == (try engineDigest(scenarioId: "capability-divergence", ticks: 120)))
    }

    /// The same Idempotency-Key presented to several replicas at once: one executes.
    @Test func idempotencyRaceAcrossReplicasClaimsOnce() async throws {
        let replicas = Self.replicas(3)
        let scope = IdempotencyScope(subject: "key_x", method: "POST", path: "/v1/simulations", key: "k1")
        let claims = try await withThrowingTaskGroup(of: IdempotencyClaim.self) { group in
            for (n, replica) in replicas.enumerated() {
                for _ in 0 ..< 4 {
                    group.addTask {
                        try await replica.idempotency.claim(scope, fingerprint: [1, 2, 3], owner: "proc_\(n)", now: 1000, liveAfter: 0)
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(claims.filter { $0 == .claimed }.count == 1)
        #expect(claims.filter { $0 == .inProgress }.count == 11)
        #expect(try await replicas[0].idempotency.claim(scope, fingerprint: [9], owner: "proc_9", now: 1001, liveAfter: 0) == .mismatch)
    }

    /// One identity's windows and SSE slots are counted over every replica.
    @Test func rateLimitsHoldAcrossReplicas() async throws {
        let schema = TestStorage.schema()
        // One standing clock for both: 120 reads on a loaded machine must not see the window slide.
        let clock = ManualClock()
        let servers = Self.replicas(2, schema: schema).map {
            TestServer(repositories: $0, rateLimitMultiplier: 1, environment: ServerEnvironment(now: clock.now))
        }
        let key = try await servers[0].key(tier: .community)
        let a = try await servers[0].application()
        let b = try await servers[1].application()
        try await a.test(.router) { clientA in
            try await b.test(.router) { clientB in
                for n in 0 ..< 120 {
                    let r = try await (n % 2 == 0 ? clientA : clientB).send(.get, "/v1/simulations", key: key)
                    #expect(r.status == .ok, "read \(n + 1)")
                    if n == 119 { #expect(r.headers[.rateLimitRemaining] == "0") }
                }
                let refused = try await clientA.send(.get, "/v1/simulations", key: key)
                #expect(refused.status == .tooManyRequests)
                #expect(refused.errorCode == "RATE_LIMITED")
                #expect(try await clientB.send(.get, "/v1/simulations", key: key).status == .tooManyRequests)
            }
        }
    }

    @Test func playbackLeaseHasOneHolderAndExpires() async throws {
        let replicas = Self.replicas(2)
        let coordinators = replicas.enumerated().map { n, r in
            ClusterCoordinator(database: r.postgres!, replicaId: "proc_\(n)", logger: Self.quiet)
        }
        #expect(try await coordinators[0].acquireLease("sim_a"))
        #expect(try await !coordinators[1].acquireLease("sim_a"))
        #expect(try await coordinators[0].renewLease("sim_a"))
        #expect(try await !coordinators[1].renewLease("sim_a"))
        await coordinators[0].releaseLease("sim_a")
        #expect(try await coordinators[1].acquireLease("sim_a"))
        // Not renewed: it expires and the other replica may take it; the old holder then loses it.
        try await Task.sleep(for: .milliseconds(Int(ClusterCoordinator.leaseMilliseconds) + 300))
        #expect(try await coordinators[0].acquireLease("sim_a"))
        #expect(try await !coordinators[1].renewLease("sim_a"))
    }

    /// A playback step longer than the lease (a stored step that takes 4.5 s against the 3 s
    /// lease — a heavy scenario, a slow database): the player keeps renewing while it computes,
    /// so no other replica can take the simulation over meanwhile, and the step is stored.
    /// Timing-bound (1 s renewals against a 3 s lease): in the whole PostgreSQL pass on two
    /// loaded cores a renewal once waited past the lease, so it runs only when asked
    /// (`KAIROS_TEST_LEASE_TIMING=1`); alone it passes, and fails without the keeper.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["KAIROS_TEST_LEASE_TIMING"] == "1"))
    func aStepLongerThanTheLeaseKeepsIt() async throws {
        let replicas = Self.replicas(2)
        let coordinators = replicas.enumerated().map { n, r in
            ClusterCoordinator(database: r.postgres!, replicaId: "proc_\(n)", logger: Self.quiet)
        }
        let request = try ScenarioRequest.parse(.object(["scenarioId": "capability-divergence"]))
        let start = try SimulationDriver.start(id: "sim_slow", organizationId: "acme", request: request,
                                               version: EngineRegistry.latest, ticks: 0, now: 0)
        try await replicas[0].simulations.insert(start)
        _ = try await replicas[0].simulations.update(id: "sim_slow") { (SimulationDriver.setStatus(.playing, speed: 1, record: $0, now: 0), ()) }
        let slow = SlowSteps(base: PostgresSimulationRepository(database: replicas[0].postgres!), delay: .milliseconds(4500))
        let player = PlaybackScheduler(repository: slow, engine: EnginePool(), now: { 0 }, logger: Self.quiet, leases: coordinators[0])
        await player.play("sim_slow")
        var waited = 0
        while slow.stepsStarted == 0, waited < 100 {
            try await Task.sleep(for: .milliseconds(50))
            waited += 1
        }
        #expect(slow.stepsStarted == 1, "the player began a step")
        // Every second of the step and past the lease's 3 s, the other replica finds it held.
        for _ in 0 ..< 5 {
            try await Task.sleep(for: .seconds(1))
            #expect(try await !coordinators[1].acquireLease("sim_slow"), "taken over during a long step")
        }
        let record = try #require(try await replicas[1].simulations.find(id: "sim_slow"))
        #expect(record.tick > 0, "the long step was stored by its player")
        await player.stopAll()
        // Stopping gives the lease back at once.
        #expect(try await coordinators[1].acquireLease("sim_slow"))
    }

    /// `sslmode`/`sslrootcert`: the test cluster switched to TLS with a self-signed certificate
    /// made here (openssl) for `localhost`; the pool (migrations, queries) and the LISTEN
    /// connection are encrypted; verify-full refuses a certificate it has no root for.
    @Test func tlsToPostgres() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("kairos-tls-" + APIKeyMaterial.randomBase62(8))
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let cert = folder.appendingPathComponent("server.crt").path
        let key = folder.appendingPathComponent("server.key").path
        try Self.run("/usr/bin/env", "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                     "-addext", "subjectAltName=DNS:localhost", "-keyout", key, "-out", cert)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: folder.path)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: key)
        // As root the test cluster runs as `postgres` (scripts/cluster), which must own its key.
        if getuid() == 0 { try Self.run("/bin/chown", "postgres:postgres", key, cert) }
        let admin = TestStorage.pool!.client
        for statement in ["ALTER SYSTEM SET ssl_cert_file = '\(cert)'", "ALTER SYSTEM SET ssl_key_file = '\(key)'",
                          "ALTER SYSTEM SET ssl = on", "SELECT pg_reload_conf()"] {
            _ = try await admin.query(PostgresQuery(unsafeSQL: statement), logger: Self.quiet).collect()
        }
        do {
            var base = try PostgresLocation(url: TestStorage.postgresURL)
            base.host = "localhost"
            base.schema = TestStorage.schema()
            var verified = base
            verified.sslMode = .verifyFull
            verified.sslRootCertificate = cert
            var encrypted = false
            for _ in 0 ..< 50 where !encrypted {  // the reload takes effect within moments
                encrypted = (try? await Self.encrypted(verified)) == true
                if !encrypted { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(encrypted, "verify-full with the certificate as root")
            let database = try await KairosPostgres.connect(verified, logger: Self.quiet)
            #expect(try await database.rows("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").first?.get("ssl", as: Bool.self) == true)
            let listen = try await database.dedicatedConnection()
            #expect(try await listen.rows("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", logger: Self.quiet)
                .first?.get("ssl", as: Bool.self) == true)
            try await listen.close()
            database.pool.close()
            var required = base
            required.sslMode = .require
            #expect(try await Self.encrypted(required), "require: encrypted, certificate not checked")
            #expect(try await !Self.encrypted(base), "disable: plain")
            var untrusted = base
            untrusted.sslMode = .verifyFull
            await #expect(throws: (any Error).self, "verify-full without a root for a self-signed certificate") {
                try await Self.encrypted(untrusted)
            }
            var otherName = verified
            otherName.host = "127.0.0.1"
            await #expect(throws: (any Error).self, "verify-full: the certificate names localhost, not 127.0.0.1") {
                try await Self.encrypted(otherName)
            }
            let parsed = try PostgresLocation(url: "postgres://u@h/db?sslmode=verify-full&sslrootcert=/etc/ca.pem")
            #expect(parsed.sslMode == .verifyFull && parsed.sslRootCertificate == "/etc/ca.pem")
            #expect(parsed.description == "postgres://u@h:5432/db?sslmode=verify-full&sslrootcert=/etc/ca.pem")
            #expect(throws: StorageError.self) { try PostgresLocation(url: "postgres://u@h/db?sslmode=sometimes") }
            #expect(throws: StorageError.self) { try PostgresLocation(url: "postgres://u@h/db?sslrootcert=/etc/ca.pem") }
            var missing = verified
            missing.sslRootCertificate = folder.appendingPathComponent("none.pem").path
            #expect(throws: StorageError.self) { try missing.tlsConfiguration() }
        } catch {
            Issue.record(error)
        }
        for statement in ["ALTER SYSTEM RESET ssl", "ALTER SYSTEM RESET ssl_cert_file", "ALTER SYSTEM RESET ssl_key_file",
                          "SELECT pg_reload_conf()"] {
            _ = try await admin.query(PostgresQuery(unsafeSQL: statement), logger: Self.quiet).collect()
        }
    }

    /// Whether one connection made with `location`'s TLS settings is encrypted (the server's view).
    static func encrypted(_ location: PostgresLocation) async throws -> Bool {
        let tls: PostgresConnection.Configuration.TLS = if let settings = try location.tlsConfiguration() {
            .require(try NIOSSLContext(configuration: settings))
        } else {
            .disable
        }
        let connection = try await PostgresConnection.connect(
            configuration: .init(host: location.host, port: location.port, username: location.user, password: location.password,
                                 database: location.database, tls: tls),
            id: 1, logger: quiet)
        defer { Task { try? await connection.close() } }
        return try await connection.rows("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", logger: quiet)
            .first?.get("ssl", as: Bool.self) == true
    }

    static func run(_ executable: String, _ arguments: String...) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        ChildProcess.waitForExit(process)
        guard process.terminationStatus == 0 else { throw StorageError("\(executable) \(arguments.joined(separator: " ")) failed") }
    }

    /// A stream on replica A sees what replica B stores — steps, decrees, status changes,
    /// playback — with the durable record's ids, and `Last-Event-ID` resumes on B.
    @Test func liveEventsCrossReplicas() async throws {
        let schema = TestStorage.schema()
        let servers = Self.replicas(2, schema: schema).map { TestServer(repositories: $0, rateLimitMultiplier: 1000) }
        let key = try await servers[0].key()
        func app(_ server: TestServer) async throws -> some ApplicationProtocol {
            let configuration = ServerConfiguration(port: 0, storage: .memory, jwtSecret: server.jwtSecret, logLevel: .critical,
                                                    rateLimitMultiplier: 1000, sseHeartbeatSeconds: 0.5)
            return try await buildApplication(configuration, repositories: server.repositories, environment: server.environment)
        }
        let a = try await app(servers[0])
        let b = try await app(servers[1])
        try await a.test(.live) { clientA in
            let portA = try #require(clientA.port)
            try await b.test(.live) { clientB in
                let portB = try #require(clientB.port)
                let id = try await clientB.createSimulation(key: key)
                let sim = "/v1/simulations/\(id)"
                var seen: [ReceivedEvent] = []
                try await SSEConnection.with(port: portA, path: "\(sim)/events", headers: [("X-Api-Key", key)]) { stream in
                    #expect(stream.status == 200)
                    _ = try await clientB.send(.post, "\(sim)/step", key: key, body: #"{"ticks": 30}"#)
                    _ = try await clientB.send(.post, "\(sim)/decrees", key: key, body: #"{"kind": "shock", "magnitude": 0.2}"#)
                    _ = try await clientA.send(.post, "\(sim)/step", key: key, body: #"{"ticks": 10}"#)
                    _ = try await clientB.send(.put, "\(sim)/time-control", key: key, body: #"{"action": "play", "speed": 5}"#)
                    seen = try await stream.events { $0.event == "tick" && $0.id?.hasPrefix("60-") == true }
                    _ = try await clientA.send(.put, "\(sim)/time-control", key: key, body: #"{"action": "pause"}"#)
                    try await Task.sleep(for: .milliseconds(300))
                    let durable = try await durableEvents(servers[0].repositories.simulations, id: id)
                    let last = try #require(durable.last?.id?.description)
                    seen += try await stream.events { $0.id == last }
                }
                seen = seen.filter { $0.event != "heartbeat" }
                let durable = try await durableEvents(servers[0].repositories.simulations, id: id)
                #expect(seen.map(\.id) == durable.map { $0.id?.description }, "every event once, in order, with the record's ids")
                #expect(seen.map(\.data) == durable.map { $0.data.map(SimulationEvent.compact) ?? "" })
                #expect(seen.contains { $0.event == "decree" })
                #expect(seen.filter { $0.event == "simulation:status" }.count == 2)
                // Resume on the other replica after an event seen on this one.
                let cut = try #require(durable[durable.count / 2].id)
                try await SSEConnection.with(port: portB, path: "\(sim)/events",
                                             headers: [("X-Api-Key", key), ("Last-Event-ID", cut.description)]) { stream in
                    let last = durable.last?.id?.description
                    let resumed = try await stream.events { $0.id == last }.filter { $0.event != "heartbeat" }
                    #expect(resumed.map(\.id) == durable.filter { $0.id! > cut }.map { $0.id?.description })
                }
            }
        }
    }
}

/// A repository whose stored steps each take `delay` longer (a slow computation or database).
struct SlowSteps<Base: SimulationRepository>: SimulationRepositoryDecorator {
    let base: Base
    let delay: Duration
    private let started = NIOLockedValueBox(0)

    init(base: Base, delay: Duration) {
        self.base = base
        self.delay = delay
    }

    var stepsStarted: Int { started.withLockedValue { $0 } }

    func update<Result: Sendable>(
        id: String, _ body: @Sendable (SimulationRecord) async throws -> (SimulationChange, Result)
    ) async throws -> Result? {
        started.withLockedValue { $0 += 1 }
        try await Task.sleep(for: delay)
        return try await base.update(id: id, body)
    }
}
