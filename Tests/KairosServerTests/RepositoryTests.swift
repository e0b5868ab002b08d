import Foundation
import Hummingbird
import HummingbirdTesting
import KairosAPI
import KairosEngine
import Testing
@testable import KairosServer

/// The two repositories keep the same contract; the stored trace is exactly what replaying
/// the log derives; restarts lose nothing; long traces read fast.
@Suite struct RepositoryTests {
    enum Kind: String, CaseIterable, CustomTestStringConvertible {
        case memory, sqliteInMemory, sqliteFile, postgres
        var testDescription: String { rawValue }

        /// With KAIROS_TEST_POSTGRES=1 (the suite's second pass) PostgreSQL alone; else the others.
        static var allCases: [Kind] { TestStorage.postgres ? [.postgres] : [.memory, .sqliteInMemory, .sqliteFile] }

        func open() throws -> (ServerRepositories, path: String?) {
            switch self {
            case .memory: return (try ServerRepositories.open(.memory), nil)
            case .postgres: return (TestStorage.repositories(), nil)
            case .sqliteInMemory: return (try ServerRepositories.open(.sqlite(path: ":memory:")), nil)
            case .sqliteFile:
                let path = FileManager.default.temporaryDirectory.appendingPathComponent("kairos-\(UUID().uuidString).db").path
                return (try ServerRepositories.open(.sqlite(path: path)), path)
            }
        }
    }

    /// The commands of a session: steps, a decree, a policy change, a single step.
    static func session(_ client: some TestClientProtocol, key: String, id: String) async throws {
        _ = try await client.send(.post, "/v1/simulations/\(id)/step", key: key, body: #"{"ticks": 250}"#)
        _ = try await client.send(.post, "/v1/simulations/\(id)/decrees", key: key, body: #"{"kind": "shock", "magnitude": 0.2}"#)
        _ = try await client.send(.put, "/v1/simulations/\(id)/agent-policy", key: key,
                                  body: #"{"agentId": "open_model", "policy": {"gamma": 0.9}}"#)
        _ = try await client.send(.post, "/v1/simulations/\(id)/step", key: key, body: #"{"ticks": 250}"#)
        _ = try await client.send(.put, "/v1/simulations/\(id)/time-control", key: key, body: #"{"action": "step"}"#)
    }

    /// 300 agents: costly enough per tick that the simulation stores its trace.
    static let costlyScenario: String = {
        let agents = (["open_model"] + (1 ..< 300).map { "a\($0)" }).map { #"{"id": "\#($0)", "state": {"capability": 300}, "growth": 0.001}"# }
        return #"{"scenario": {"seed": 9, "agents": [\#(agents.joined(separator: ","))], "initialState": {"stability": 0.8}}}"#
    }()

    @Test(arguments: Kind.allCases, [false, true])
    func traceIsTheReplayedLog(kind: Kind, costly: Bool) async throws {
        let (repositories, path) = try kind.open()
        defer { if let path { try? FileManager.default.removeItem(atPath: path) } }
        let server = TestServer(repositories: repositories)
        let key = try await server.key()
        let (id, ndjson) = try await server.test { client -> (String, [UInt8]) in
            let body = costly ? Self.costlyScenario : #"{"scenarioId": "capability-divergence"}"#
            let created = try await client.send(.post, "/v1/simulations", key: key, body: body)
            let id = try #require(try created.json["id"]?.stringValue)
            try await Self.session(client, key: key, id: id)
            let trace = try await client.send(.get, "/v1/simulations/\(id)/trace", key: key,
                                              headers: [("Accept", "application/x-ndjson")])
            return (id, trace.bytes)
        }
        let record = try #require(try await repositories.simulations.find(id: id))
        #expect(record.tick == 501)
        #expect(record.storesTrace == costly)
        let stored = TraceDocument.ndjson(try await repositories.simulations.traceSegments(simulationId: id))
        #expect(stored == (costly ? ndjson : []), "only costly simulations store their trace")
        let log = try await repositories.simulations.log(simulationId: id, from: 0)
        #expect(log.map(\.kind) == [.step, .decree, .policy, .step, .step])
        #expect(try SimulationDriver.replay(record, log: log) == ndjson)
        // The checkpoint stands exactly where the record says, so the next step starts there.
        #expect(try SimulationDriver.restore(record).tick == record.tick)
    }

    @Test func sqliteFileSurvivesReopening() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kairos-\(UUID().uuidString).db").path
        defer {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        }
        let first = TestServer(repositories: try ServerRepositories.open(.sqlite(path: path)))
        let key = try await first.key()
        let (id, before) = try await first.test { client -> (String, [UInt8]) in
            let id = try await client.createSimulation(key: key)
            try await Self.session(client, key: key, id: id)
            return (id, try await client.send(.get, "/v1/simulations/\(id)/trace", key: key).bytes)
        }
        let second = TestServer(repositories: try ServerRepositories.open(.sqlite(path: path)))
        try await second.test { client in
            let after = try await client.send(.get, "/v1/simulations/\(id)/trace", key: key)
            #expect(after.bytes == before, "the same key works and the trace is identical after reopening")
            let step = try await client.send(.post, "/v1/simulations/\(id)/step", key: key, body: #"{"ticks": 10}"#)
            #expect(try step.json["tick"] == 511)
        }
    }

    @Test(arguments: [Kind.memory, Kind.sqliteFile])
    func tenThousandTickTraceReadsWhole(kind: Kind) async throws {
        let (repositories, path) = try kind.open()
        defer { if let path { try? FileManager.default.removeItem(atPath: path) } }
        let server = TestServer(repositories: repositories)
        let key = try await server.key()
        try await server.test { client in
            let id = try await client.createSimulation(key: key)
            // 10 000 ticks stored as 100 steps of 100 ticks.
            for _ in 0 ..< 100 {
                _ = try await client.send(.post, "/v1/simulations/\(id)/step", key: key, body: #"{"ticks": 100}"#)
            }
            let clock = ContinuousClock()
            var json = TestResponse?.none
            let jsonTime = try await clock.measure {
                json = try await client.send(.get, "/v1/simulations/\(id)/trace", key: key)
            }
            var ndjson = TestResponse?.none
            let ndjsonTime = try await clock.measure {
                ndjson = try await client.send(.get, "/v1/simulations/\(id)/trace", key: key,
                                               headers: [("Accept", "application/x-ndjson")])
            }
            let ndjsonBytes = try #require(ndjson).bytes
            #expect(ndjsonBytes.filter { $0 == 0x0A }.count == 10_000)
            #expect(try #require(json).json["metadata"]?["digest"]?.stringValue == sha256Hex(ndjsonBytes))
            #expect(try engineDigest(scenarioId: "capability-divergence", ticks: 10_000) == sha256Hex(ndjsonBytes))
            print("10 000-tick trace read (\(kind.rawValue)): JSON \(jsonTime) (\(try #require(json).body.readableBytes) bytes), NDJSON \(ndjsonTime)")
            // The times are figures, not assertions (speed goals live in scripts/bench).
        }
    }
}

@Suite struct ConcurrencyTests {
    @Test(arguments: [RepositoryTests.Kind.memory, RepositoryTests.Kind.sqliteFile])
    func concurrentStepsOnOneSimulationAllCount(kind: RepositoryTests.Kind) async throws {
        let (repositories, path) = try kind.open()
        defer { if let path { try? FileManager.default.removeItem(atPath: path) } }
        let server = TestServer(repositories: repositories)
        let key = try await server.key()
        let (id, served) = try await server.test { client -> (String, [UInt8]) in
            let id = try await client.createSimulation(key: key)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0 ..< 20 {
                    group.addTask {
                        if i % 5 == 0 {
                            _ = try await client.send(.post, "/v1/simulations/\(id)/decrees", key: key,
                                                      body: #"{"kind": "reinforce", "magnitude": 0.05}"#)
                        }
                        let r = try await client.send(.post, "/v1/simulations/\(id)/step", key: key, body: #"{"ticks": 10}"#)
                        #expect(r.status == .ok)
                    }
                }
                try await group.waitForAll()
            }
            let trace = try await client.send(.get, "/v1/simulations/\(id)/trace", key: key,
                                              headers: [("Accept", "application/x-ndjson")])
            return (id, trace.bytes)
        }
        let record = try #require(try await repositories.simulations.find(id: id))
        #expect(record.tick == 200)
        let log = try await repositories.simulations.log(simulationId: id, from: 0)
        #expect(log.filter { $0.kind == .step }.count == 20)
        #expect(log.filter { $0.kind == .decree }.count == 4)
        #expect(log.map(\.sequence) == Array(0 ..< log.count))
        #expect(try SimulationDriver.replay(record, log: log) == served)
        #expect(served.filter { $0 == 0x0A }.count == 200)
    }
}
