import Foundation
import Hummingbird
import HummingbirdTesting
import KairosAPI
import KairosEngine
import NIOCore
import Testing
@testable import KairosServer
import KairosTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A cluster from `scripts/cluster up`: its own PostgreSQL, replicas of the built `kairos` and
/// HAProxy, in a temporary folder on ports of its own; `down` removes it all.
final class TestCluster: @unchecked Sendable {
    let directory: URL
    let environment: [String: String]
    let url: URL
    let port: Int
    let key: String
    static let basePort = 28080

    init(replicas: Int = 3, tier: String = "community", multiplier: Int = 1) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("kairos-cluster-\(UUID().uuidString.prefix(8))")
        environment = ["KAIROS_CLUSTER_DIR": directory.path, "KAIROS_CLUSTER_PG_PORT": "54331",
                       "KAIROS_CLUSTER_BASE_PORT": String(Self.basePort), "KAIROS_BIN": TestPaths.kairos.path,
                       "KAIROS_SSE_HEARTBEAT_SECONDS": "1"]
        let result = try Self.script(["up", "--replicas", String(replicas), "--tier", tier, "--rate-limit-multiplier", String(multiplier)],
                                     environment: environment)
        let lines = result.stdout.split(separator: "\n")
        guard result.status == 0, let urlLine = lines.first(where: { $0.hasPrefix("url: ") }),
              let keyLine = lines.first(where: { $0.hasPrefix("key: ") }) else {
            _ = try? Self.script(["down"], environment: environment)
            throw StorageError("scripts/cluster up failed: \(result.stdout) \(result.stderr)")
        }
        url = URL(string: String(urlLine.dropFirst(5)))!
        port = url.port!
        key = String(keyLine.dropFirst(5))
    }

    static func script(_ arguments: [String], environment: [String: String]) throws -> ChildProcessResult {
        try ChildProcess.run(TestPaths.root.appendingPathComponent("scripts/cluster"), arguments, environment: environment)
    }

    /// `scripts/cluster restart|kill|start N`.
    func replica(_ action: String, _ n: Int) async throws {
        let environment = environment
        let result = try await offCooperativePool { try Self.script([action, String(n)], environment: environment) }
        if result.status != 0 { throw StorageError("scripts/cluster \(action) \(n): \(result.stderr)") }
    }

    func replicaPort(_ n: Int) -> Int { Self.basePort + n }

    func down() { _ = try? Self.script(["down"], environment: environment) }

    /// Runs `body` on a new cluster and takes the cluster down afterwards, `scripts/cluster up`
    /// and `down` (seconds each) off the cooperative pool: a blocked cooperative thread held up
    /// every other suite's pongs and lease renewals (docs/performance.md).
    static func with(replicas: Int = 3, tier: String = "community", multiplier: Int = 1,
                     _ body: (TestCluster) async throws -> Void) async throws {
        let cluster = try await offCooperativePool { try TestCluster(replicas: replicas, tier: tier, multiplier: multiplier) }
        do {
            try await body(cluster)
        } catch {
            _ = try? await offCooperativePool { cluster.down() }
            throw error
        }
        _ = try? await offCooperativePool { cluster.down() }
    }

    func request(_ method: HTTPRequest.Method, _ uri: String, port: Int? = nil, key: String? = nil, body: String? = nil,
                 headers: [(String, String)] = []) async throws -> LiveServerTests.LiveResponse {
        var fields = LiveServerTests.keyed(key ?? self.key)
        for (name, value) in headers { fields[HTTPFields.Element.Name(name)!] = value }
        return try await LiveServerTests.request(port ?? self.port, method, uri, headers: fields, body: body)
    }
}

/// Issue 18's cluster proofs through HAProxy with three replicas (KAIROS_HEAVY_TESTS=1 and
/// KAIROS_TEST_POSTGRES=1; needs Debian's postgresql and haproxy).
@Suite(.serialized, .enabled(if: TestStorage.postgres && ProcessInfo.processInfo.environment["KAIROS_HEAVY_TESTS"] == "1"))
struct ClusterTests {
    /// Every SSE client — on each replica directly and through HAProxy — receives every event of
    /// a playing simulation once, in order, with the same ids.
    @Test func eventsReachEveryReplicaWithNothingLost() async throws {
        try await TestCluster.with(multiplier: 100) { cluster in
            let created = try await cluster.request(.post, "/v1/simulations", body: #"{"scenarioId": "capability-divergence"}"#)
            let id = try #require(try created.json["id"]?.stringValue)
            let sim = "/v1/simulations/\(id)"
            let ports = [cluster.replicaPort(1), cluster.replicaPort(2), cluster.replicaPort(3), cluster.port, cluster.port, cluster.port]
            let streams = try await withThrowingTaskGroup(of: [ReceivedEvent].self) { group in
                for port in ports {
                    group.addTask {
                        try await SSEConnection.with(port: port, path: "\(sim)/events", headers: [("X-Api-Key", cluster.key)]) { stream in
                            #expect(stream.status == 200)
                            return try await stream.events(timeout: .seconds(60)) {
                                $0.event == "simulation:status" && $0.json?["status"] == "paused"
                            }.filter { $0.event != "heartbeat" }
                        }
                    }
                }
                try await Task.sleep(for: .seconds(1))
                // Commands through HAProxy land on any replica.
                _ = try await cluster.request(.post, "\(sim)/step", body: #"{"ticks": 20}"#)
                _ = try await cluster.request(.post, "\(sim)/decrees", body: #"{"kind": "shock", "magnitude": 0.2}"#)
                _ = try await cluster.request(.put, "\(sim)/time-control", body: #"{"action": "play", "speed": 5}"#)
                try await Task.sleep(for: .seconds(3))
                _ = try await cluster.request(.put, "\(sim)/time-control", body: #"{"action": "pause"}"#)
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let record = try await cluster.request(.get, sim)
            let tick = try #require(try record.json["tick"]?.integerValue)
            #expect(tick > 40, "playback advanced")
            for events in streams {
                #expect(events.map(\.id) == streams[0].map(\.id))
                let differing = events.indices.first { $0 < streams[0].count && events[$0].data != streams[0][$0].data }
                #expect(differing == nil, "event \(differing ?? 0) differs: \(differing.map { events[$0].data } ?? "")")
                let ticks = events.filter { $0.event == "tick" }.compactMap { $0.json?["t"]?.integerValue }
                #expect(ticks == Array(0 ..< tick), "every tick once, in order")
            }
        }
    }

    /// Twenty clients send one Idempotency-Key at once through HAProxy: one simulation.
    @Test func idempotencyRaceCreatesOneSimulation() async throws {
        try await TestCluster.with(tier: "strategic") { cluster in
            let responses = try await withThrowingTaskGroup(of: LiveServerTests.LiveResponse.self) { group in
                for _ in 0 ..< 20 {
                    group.addTask {
                        try await cluster.request(.post, "/v1/simulations/run", body: #"{"scenarioId": "capability-divergence", "ticks": 400}"#,
                                                  headers: [("Idempotency-Key", "race-1")])
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let created = responses.filter { $0.status == 201 || $0.status == 200 }
            let statuses = responses.map(\.status)
            #expect(statuses.allSatisfy { status in [200, 201, 409].contains(status) }, "\(statuses)")
            #expect(!created.isEmpty)
            #expect(Set(created.compactMap { response in response.headers[.simulationID] }).count == 1)
            let list = try await cluster.request(.get, "/v1/simulations")
            #expect(try list.json["pagination"]?["total"]?.integerValue == 1)
        }
    }

    /// `kill -9` of the replica playing a simulation: another takes over within seconds, and
    /// the trace is exactly an embedded run of the same ticks.
    @Test func killNineOfThePlayerHandsPlaybackOver() async throws {
        try await TestCluster.with(multiplier: 100) { cluster in
            let created = try await cluster.request(.post, "/v1/simulations", body: #"{"scenarioId": "capability-divergence"}"#)
            let id = try #require(try created.json["id"]?.stringValue)
            let sim = "/v1/simulations/\(id)"
            _ = try await cluster.request(.put, "\(sim)/time-control", body: #"{"action": "play", "speed": 2}"#)
            try await Task.sleep(for: .seconds(2))
            var player: Int?
            for n in 1 ... 3 {
                let metrics = try await cluster.request(.get, "/metrics", port: cluster.replicaPort(n))
                if String(decoding: metrics.bytes, as: UTF8.self).contains("kairos_simulations_playing 1") { player = n }
            }
            let killed = try #require(player, "one replica plays")
            try await cluster.replica("kill", killed)
            let before = try #require(try await cluster.request(.get, sim).json["tick"]?.integerValue)
            // The lease (3 s) expires and a survivor's sweep (every second) resumes playback.
            var resumed = false
            let deadline = ContinuousClock.now + .seconds(10)
            while ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(250))
                if try #require(try await cluster.request(.get, sim).json["tick"]?.integerValue) > before + 5 {
                    resumed = true
                    break
                }
            }
            #expect(resumed, "another replica took playback over within seconds")
            _ = try await cluster.request(.put, "\(sim)/time-control", body: #"{"action": "pause"}"#)
            let record = try await cluster.request(.get, sim)
            let tick = try #require(try record.json["tick"]?.integerValue)
            let trace = try await cluster.request(.get, "\(sim)/trace", headers: [("Accept", "application/x-ndjson")])
            #expect(trace.status == 200)
            #expect(sha256Hex(trace.bytes) == (try engineDigest(scenarioId: "capability-divergence", ticks: tick)))
        }
    }

    /// Every replica restarted in turn (SIGTERM, drain, start) while clients keep sending
    /// requests through HAProxy: not one fails.
    @Test func rollingRestartUnderLoadFailsNothing() async throws {
        try await TestCluster.with(tier: "strategic", multiplier: 100) { cluster in
            let created = try await cluster.request(.post, "/v1/simulations", body: #"{"scenarioId": "capability-divergence"}"#)
            let id = try #require(try created.json["id"]?.stringValue)
            let stop = NIOLockedBox(false)
            let results = try await withThrowingTaskGroup(of: (ok: Int, failed: [String]).self) { group in
                for worker in 0 ..< 6 {
                    group.addTask {
                        var ok = 0
                        var failed: [String] = []
                        var n = 0
                        while !stop.value {
                            n += 1
                            do {
                                let r = switch (worker + n) % 3 {
                                case 0: try await cluster.request(.post, "/v1/simulations/run",
                                                                  body: #"{"scenarioId": "capability-divergence", "ticks": 50}"#)
                                case 1: try await cluster.request(.post, "/v1/simulations/\(id)/step", body: #"{"ticks": 1}"#)
                                default: try await cluster.request(.get, "/v1/simulations/\(id)")
                                }
                                if (200 ..< 300).contains(r.status) { ok += 1 } else { failed.append("\(r.status) \(String(decoding: r.bytes, as: UTF8.self))") }
                            } catch {
                                failed.append("\(error)")
                            }
                        }
                        return (ok, failed)
                    }
                }
                for n in 1 ... 3 {
                    try await Task.sleep(for: .seconds(1))
                    try await cluster.replica("restart", n)
                    // HAProxy's health check (every second) puts it back.
                    try await Task.sleep(for: .seconds(2))
                }
                stop.value = true
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let ok = results.reduce(0) { $0 + $1.ok }
            let failed = results.flatMap(\.failed)
            #expect(ok > 100)
            #expect(failed.isEmpty, "\(failed.count) failed: \(failed.prefix(5))")
            // No tick lost or repeated by the steps that went through.
            let record = try await cluster.request(.get, "/v1/simulations/\(id)")
            let tick = try #require(try record.json["tick"]?.integerValue)
            let trace = try await cluster.request(.get, "/v1/simulations/\(id)/trace", headers: [("Accept", "application/x-ndjson")])
            #expect(sha256Hex(trace.bytes) == (try engineDigest(scenarioId: "capability-divergence", ticks: tick)))
        }
    }

    /// A community key spread over three replicas: the 121st read of the minute is refused.
    @Test func rateLimitsHoldAcrossTheCluster() async throws {
        try await TestCluster.with(tier: "community") { cluster in
            var statuses: [Int] = []
            for n in 0 ..< 121 {
                // Round robin over the replicas directly, so every one of them counts some.
                statuses.append(try await cluster.request(.get, "/v1/simulations", port: cluster.replicaPort(n % 3 + 1)).status)
            }
            #expect(statuses.prefix(120).allSatisfy { status in status == 200 })
            #expect(statuses.last == 429)
            #expect(try await cluster.request(.get, "/v1/simulations").status == 429, "through HAProxy too")
        }
    }
}

/// A mutable box for the load workers' stop flag.
final class NIOLockedBox<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var _value: T
    init(_ value: T) { _value = value }
    var value: T {
        get { lock.lock(); defer { lock.unlock() }; return _value }
        set { lock.lock(); _value = newValue; lock.unlock() }
    }
}
