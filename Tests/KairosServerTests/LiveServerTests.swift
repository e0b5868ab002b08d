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

/// `kairos serve` as a real process on loopback: the CLI's keys and tokens, digests against
/// `kairos simulate`, and a `kill -9` in the middle of a session that loses nothing.
@Suite(.serialized) struct LiveServerTests {
    /// The built `kairos` executable (`KAIROS_BINARY` overrides).
    static var binary: String { TestPaths.kairos.path }

    /// Runs the CLI to completion; returns its standard output.
    static func cli(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
        let result = try ChildProcess.run(TestPaths.kairos, arguments, environment: environment, standardError: .discarded)
        return (result.status, result.stdout)
    }

    /// `kairos keys create --db DATABASE --org acme EXTRA…`: the key (alone on the last line).
    static func createKey(database: String, _ extra: [String] = []) throws -> String {
        String(try #require(try cli(["keys", "create", "--db", database, "--org", "acme"] + extra).output.split(separator: "\n").last))
    }

    /// A running `kairos serve` on a free port.
    final class ServerProcess: @unchecked Sendable {
        let process: Process
        let port: Int

        init(database: String, environment: [String: String] = [:], arguments extra: [String] = []) throws {
            process = Process()
            process.executableURL = URL(fileURLWithPath: LiveServerTests.binary)
            process.arguments = ["serve", "--db", database, "--port", "0", "--log-level", "warning"] + extra
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
            let out = Pipe()
            process.standardOutput = out
            process.standardError = FileHandle.nullDevice
            try process.run()
            var text = ""
            while !text.contains("\n") {
                let chunk = out.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                text += String(decoding: chunk, as: UTF8.self)
            }
            guard let range = text.range(of: "listening on http://127.0.0.1:"),
                  let port = Int(text[range.upperBound...].prefix { $0.isNumber }) else {
                process.terminate()
                throw StorageError("server did not start: \(text)")
            }
            self.port = port
        }

        /// Starts one off the cooperative pool: reading the child's first line blocks its thread,
        /// and on a loaded 2-core machine blocked pool threads starved other tests' requests
        /// until the server closed their idle connections ("I/O on closed channel").
        static func start(database: String, environment: [String: String] = [:], arguments: [String] = []) async throws
            -> ServerProcess
        {
            try await offCooperativePool { try ServerProcess(database: database, environment: environment, arguments: arguments) }
        }

        /// `kill -9`: no shutdown, no flush, nothing but what is already on disk survives.
        func kill9() {
            kill(process.processIdentifier, SIGKILL)
            ChildProcess.waitForExit(process)
        }

        func stop() {
            if process.isRunning { process.terminate() }
            ChildProcess.waitForExit(process)
        }
    }

    struct LiveResponse {
        var status: Int
        var headers: HTTPFields
        var bytes: [UInt8]
        var json: JSONValue { get throws { try JSONParser.parse(bytes) } }
    }

    static func request(_ port: Int, _ method: HTTPRequest.Method, _ uri: String, headers extra: HTTPFields = [:],
                        body: String? = nil, timeout: Duration = .seconds(15)) async throws -> LiveResponse {
        try await TestClient.withClient(host: "127.0.0.1", port: port, configuration: .init(timeout: timeout)) { client in
            var headers = extra
            if body != nil { headers[.contentType] = "application/json" }
            let response = try await client.execute(TestClient.Request(uri, method: method, authority: "127.0.0.1",
                                                                       headers: headers, body: body.map { ByteBuffer(string: $0) }))
            return LiveResponse(status: Int(response.status.code), headers: response.headers,
                                bytes: response.body.map { Array($0.readableBytesView) } ?? [])
        }
    }

    static func keyed(_ key: String) -> HTTPFields {
        var h: HTTPFields = [:]
        h[.apiKey] = key
        return h
    }

    static func temporaryDatabase() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("kairos-live-\(UUID().uuidString).db").path
    }

    static func removeDatabase(_ path: String) {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }

    @Test func keysCreateListRevoke() throws {
        let db = Self.temporaryDatabase()
        defer { Self.removeDatabase(db) }
        let created = try Self.cli(["keys", "create", "--db", db, "--org", "acme", "--tier", "enterprise",
                                    "--scopes", "simulation:read,org:read"])
        #expect(created.status == 0)
        let lines = created.output.split(separator: "\n")
        let key = String(try #require(lines.last))
        #expect(APIKeyMaterial.isWellFormed(key), "the key is alone on the last line")
        let list = try Self.cli(["keys", "list", "--db", db])
        #expect(list.output.contains("acme"))
        #expect(list.output.contains("simulation:read,org:read"))
        #expect(!list.output.contains(key), "keys are never shown again")
        let id = String(try #require(lines.first?.split(separator: " ").dropFirst().first))
        #expect(try Self.cli(["keys", "revoke", "--db", db, id]).status == 0)
        #expect(try Self.cli(["keys", "list", "--db", db]).output.contains("revoked"))
        #expect(try Self.cli(["keys", "create", "--db", db, "--org", "acme", "--scopes", "simulation:fly"]).status != 0)
    }

    @Test func killNineLosesNothing() async throws {
        let db = Self.temporaryDatabase()
        defer { Self.removeDatabase(db) }
        let key = try Self.createKey(database: db)
        let auth = Self.keyed(key)

        var server = try await ServerProcess.start(database: db)
        let created = try await Self.request(server.port, .post, "/v1/simulations", headers: auth,
                                             body: #"{"scenarioId": "capability-divergence"}"#)
        #expect(created.status == 201)
        let id = try #require(try created.json["id"]?.stringValue)
        let sim = "/v1/simulations/\(id)"
        _ = try await Self.request(server.port, .post, "\(sim)/step", headers: auth, body: #"{"ticks": 300}"#)
        _ = try await Self.request(server.port, .post, "\(sim)/decrees", headers: auth, body: #"{"kind": "shock", "magnitude": 0.3}"#)
        _ = try await Self.request(server.port, .put, "\(sim)/agent-policy", headers: auth,
                                   body: #"{"agentId": "frontier_model", "policy": {"lambda": 0.9}}"#)
        let before = try await Self.request(server.port, .get, "\(sim)/trace", headers: auth)
        #expect(before.status == 200)
        server.kill9()

        server = try await ServerProcess.start(database: db)
        defer { server.stop() }
        let after = try await Self.request(server.port, .get, "\(sim)/trace", headers: auth)
        #expect(after.bytes == before.bytes, "the trace after kill -9 and restart is identical")
        // The decree and the policy change queued before the kill apply at the next tick.
        let step = try await Self.request(server.port, .post, "\(sim)/step", headers: auth, body: #"{"ticks": 200}"#)
        #expect(try step.json["tick"] == 500)
        let trace = try await Self.request(server.port, .get, "\(sim)/trace", headers: auth)
        let steps = try #require(try trace.json["steps"]?.arrayValue)
        #expect(steps[300]["move"] == "shock")

        // The same commands on the engine, never interrupted, give the same trace.
        let scenario = try #require(ScenarioCatalog.scenario(id: "capability-divergence")).scenario
        let engine = try #require(EngineRegistry.start(scenario))
        var expected: [TraceStep] = []
        for _ in 0 ..< 300 { expected.append(engine.step()) }
        try engine.submit(Action(kind: .shock, magnitude: 0.3))
        try engine.submit(Action(kind: .policy, target: "frontier_model", lambda: 0.9))
        for _ in 0 ..< 200 { expected.append(engine.step()) }
        #expect(try trace.json["metadata"]?["digest"]?.stringValue == TraceDigest.of(expected))
    }

    @Test func playbackResumesAfterKillNine() async throws {
        let db = Self.temporaryDatabase()
        defer { Self.removeDatabase(db) }
        let key = try Self.createKey(database: db)
        let auth = Self.keyed(key)
        var server = try await ServerProcess.start(database: db)
        let created = try await Self.request(server.port, .post, "/v1/simulations", headers: auth,
                                             body: #"{"scenarioId": "shock-recovery"}"#)
        let sim = "/v1/simulations/" + (try #require(try created.json["id"]?.stringValue))
        _ = try await Self.request(server.port, .put, "\(sim)/time-control", headers: auth, body: #"{"action": "play", "speed": 10}"#)
        try await Task.sleep(for: .milliseconds(300))
        server.kill9()
        let atKill = try #require(try await LiveServerTests.tick(of: sim, database: db, key: key))
        server = try await ServerProcess.start(database: db)
        defer { server.stop() }
        try await Task.sleep(for: .milliseconds(400))
        let resumed = try await Self.request(server.port, .get, sim, headers: auth)
        #expect(try resumed.json["status"] == "playing")
        let tick = Int(try resumed.json["tick"]?.numberValue ?? 0)
        #expect(tick > atKill, "playing resumes after a restart (\(atKill) → \(tick))")
        let paused = try await Self.request(server.port, .put, "\(sim)/time-control", headers: auth, body: #"{"action": "pause"}"#)
        #expect(try paused.json["status"] == "paused")
        // Every tick played, before and after the kill, is in the trace: tick count = trace length.
        var ndjson = auth
        ndjson[.accept] = "application/x-ndjson"
        let trace = try await Self.request(server.port, .get, "\(sim)/trace", headers: ndjson)
        let final = Int(try paused.json["tick"]?.numberValue ?? 0)
        #expect(trace.bytes.filter { $0 == 0x0A }.count == final)
        let scenario = try #require(ScenarioCatalog.scenario(id: "shock-recovery")).scenario
        #expect(sha256Hex(trace.bytes) == Trace.run(scenario, ticks: final)?.metadata.digest)
    }

    /// The tick a stopped server's database holds for a simulation.
    static func tick(of path: String, database: String, key: String) async throws -> Int? {
        let repositories = try ServerRepositories.open(.sqlite(path: database))
        return try await repositories.simulations.find(id: String(path.split(separator: "/").last ?? ""))?.tick
    }

    @Test func runDigestMatchesSimulateAndTokensWork() async throws {
        let db = Self.temporaryDatabase()
        defer { Self.removeDatabase(db) }
        let secret = "live-test-secret-0123456789abcdefghijkl"
        let key = try Self.createKey(database: db)
        let server = try await ServerProcess.start(database: db, environment: ["KAIROS_JWT_SECRET": secret])
        defer { server.stop() }
        var headers = Self.keyed(key)
        headers[.accept] = "application/x-ndjson"
        let ndjson = try await Self.request(server.port, .post, "/v1/simulations/run", headers: headers,
                                            body: #"{"scenarioId": "capability-divergence", "ticks": 500}"#)
        let json = try await Self.request(server.port, .post, "/v1/simulations/run", headers: Self.keyed(key),
                                          body: #"{"scenarioId": "capability-divergence", "ticks": 500}"#)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("run-\(UUID().uuidString).json")
        try Data(#"{"scenarioId": "capability-divergence", "ticks": 500}"#.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let simulate = try Self.cli(["simulate", file.path, "--output", "digest"]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(sha256Hex(ndjson.bytes) == simulate)
        #expect(try json.json["trace"]?["metadata"]?["digest"]?.stringValue == simulate)

        let token = try Self.cli(["token", "create", "--sub", "ada", "--orgs", "acme", "--scopes", "simulation:read"],
                                 environment: ["KAIROS_JWT_SECRET": secret]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        var bearer: HTTPFields = [:]
        bearer[.authorization] = "Bearer \(token)"
        let list = try await Self.request(server.port, .get, "/v1/simulations", headers: bearer)
        #expect(list.status == 200)
        #expect(try list.json["pagination"]?["total"] == 2)
        let write = try await Self.request(server.port, .post, "/v1/simulations", headers: bearer,
                                           body: #"{"scenarioId": "capability-divergence"}"#)
        #expect(write.status == 403)
    }
}
