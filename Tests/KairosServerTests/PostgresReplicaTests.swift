import Foundation
import Hummingbird
import HummingbirdTesting
import KairosAPI
import KairosEngine
import Logging
import NIOCore
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
