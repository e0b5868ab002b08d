import Foundation
import Hummingbird
import HummingbirdTesting
import KairosAPI
import KairosEngine
import Testing
@testable import KairosServer

/// A stored simulation keeps the engine version it was created on: a database written by a
/// server whose default was 1.0.0 and reopened by one whose default is 1.1.0 keeps stepping
/// its simulations on 1.0.0, and says so.
@Suite struct EngineVersionStorageTests {
    static let v100 = EngineVersion(1, 0, 0)
    static let v110 = EngineVersion(1, 1, 0)
    static let scenario = ScenarioCatalog.scenario(id: "capability-divergence")!.scenario

    static func digest(_ version: EngineVersion, ticks: Int) throws -> String {
        try #require(Trace.run(scenario, ticks: ticks, version: version)).metadata.digest
    }

    @Test func simulationsCreatedOnTheOldDefaultKeepSteppingOnIt() async throws {
        let path = LiveServerTests.temporaryDatabase()
        defer { LiveServerTests.removeDatabase(path) }
        #expect(try Self.digest(Self.v100, ticks: 120) != Self.digest(Self.v110, ticks: 120), "the versions differ here")

        // A server as it was before engine 1.1.0: requests that name no version run on 1.0.0.
        let key: String, id: String, runId: String
        do {
            let old = TestServer(repositories: try ServerRepositories.open(.sqlite(path: path)),
                                 environment: ServerEnvironment(defaultEngineVersion: Self.v100))
            let oldKey = try await old.key()
            key = oldKey
            (id, runId) = try await old.test { client in
                let key = oldKey
                let health = try await client.send(.get, "/v1/health")
                #expect(try health.json["defaultEngineVersion"] == "1.0.0")
                let id = try await client.createSimulation(key: key)
                let got = try await client.send(.get, "/v1/simulations/\(id)", key: key)
                #expect(try got.json["engineVersion"] == "1.0.0")
                let step = try await client.send(.post, "/v1/simulations/\(id)/step", key: key, body: #"{"ticks": 60}"#)
                #expect(step.status == .ok)
                let run = try await client.send(.post, "/v1/simulations/run", key: key,
                                                body: #"{"scenarioId": "capability-divergence", "ticks": 120}"#)
                #expect(try run.json["engineVersion"] == "1.0.0")
                return (id, try #require(try run.json["simulationId"]?.stringValue))
            }
        }

        // The same database under today's server, whose default is 1.1.0.
        let new = TestServer(repositories: try ServerRepositories.open(.sqlite(path: path)))
        try await new.test { client in
            let health = try await client.send(.get, "/v1/health")
            #expect(try health.json["defaultEngineVersion"] == "1.1.0")
            let got = try await client.send(.get, "/v1/simulations/\(id)", key: key)
            #expect(try got.json["engineVersion"] == "1.0.0")
            #expect(try got.json["tick"] == 60)
            let step = try await client.send(.post, "/v1/simulations/\(id)/step", key: key, body: #"{"ticks": 60}"#)
            #expect(step.status == .ok)
            let trace = try await client.send(.get, "/v1/simulations/\(id)/trace", key: key)
            #expect(try trace.json["metadata"]?["engineVersion"] == "1.0.0")
            #expect(try trace.json["metadata"]?["digest"] == .string(try Self.digest(Self.v100, ticks: 120)))
            #expect(try trace.json["steps"]?.arrayValue?.count == 120)
            // The stored run reads back as the 1.0.0 trace it was.
            let run = try await client.send(.get, "/v1/simulations/\(runId)/trace", key: key)
            #expect(try run.json["metadata"]?["engineVersion"] == "1.0.0")
            #expect(try run.json["metadata"]?["digest"] == .string(try Self.digest(Self.v100, ticks: 120)))
            // A new simulation that names no version runs on the new default.
            let fresh = try await client.createSimulation(key: key)
            let freshStep = try await client.send(.post, "/v1/simulations/\(fresh)/step", key: key, body: #"{"ticks": 120}"#)
            #expect(freshStep.status == .ok)
            let freshTrace = try await client.send(.get, "/v1/simulations/\(fresh)/trace", key: key)
            #expect(try freshTrace.json["metadata"]?["engineVersion"] == "1.1.0")
            #expect(try freshTrace.json["metadata"]?["digest"] == .string(try Self.digest(Self.v110, ticks: 120)))
        }
    }
}
