import Foundation
import HummingbirdTesting
import KairosAPI
import KairosEngine
import Testing
@testable import KairosServer

/// `POST /run` reuses what an identical earlier run computed (`RunMemo`) and still answers and
/// stores exactly what computing it afresh would.
@Suite struct RunMemoTests {
    @Test func identicalRunsShareTheComputationButNotTheSimulation() async throws {
        let server = TestServer()
        let key = try await server.key()
        let other = try await server.key(org: "globex")
        let expected = try engineDigest(scenarioId: "capability-divergence", ticks: 300)
        let entry = try #require(ScenarioCatalog.scenario(id: "capability-divergence"))
        let native = "{\"scenario\": \(CanonicalJSON.string(entry.scenario.jsonValue)), \"ticks\": 300}"
        try await server.test { client in
            let body = #"{"scenarioId": "capability-divergence", "ticks": 300}"#
            let first = try await client.send(.post, "/v1/simulations/run", key: key, body: body)
            let second = try await client.send(.post, "/v1/simulations/run", key: other, body: body)
            let third = try await client.send(.post, "/v1/simulations/run", key: key, body: native)
            var ids: [String] = []
            for r in [first, second, third] {
                #expect(r.status == .ok)
                let doc = try r.json
                #expect(doc["trace"]?["metadata"]?["digest"]?.stringValue == expected)
                let id = try #require(doc["simulationId"]?.stringValue)
                #expect(doc["trace"]?["metadata"]?["simulationId"]?.stringValue == id)
                ids.append(id)
            }
            #expect(Set(ids).count == 3)
            // Only the id differs between the first two answers; the native body has no catalog id.
            #expect(second.text == first.text.replacingOccurrences(of: ids[0], with: ids[1]))
            #expect(try third.json["trace"]?["metadata"]?["scenarioId"] == .null)
            #expect(try first.json["trace"]?["steps"] == third.json["trace"]?["steps"])

            // Each stored simulation belongs to its caller and continues from its own checkpoint
            // exactly as an uninterrupted run would.
            let foreign = try await client.send(.get, "/v1/simulations/\(ids[1])", key: key)
            #expect(foreign.status == .unauthorized)
            let mine = try await client.send(.get, "/v1/simulations/\(ids[1])", key: other)
            #expect(try mine.json["organizationId"]?.stringValue == "globex")
            #expect(try mine.json["scenarioId"]?.stringValue == "capability-divergence")
            for (id, k) in [(ids[0], key), (ids[1], other), (ids[2], key)] {
                let step = try await client.send(.post, "/v1/simulations/\(id)/step", key: k, body: #"{"ticks": 200}"#)
                #expect(step.status == .ok)
                let trace = try await client.send(.get, "/v1/simulations/\(id)/trace", key: k,
                                                  headers: [("Accept", "application/x-ndjson")])
                #expect(sha256Hex(trace.bytes) == (try engineDigest(scenarioId: "capability-divergence", ticks: 500)))
            }
        }
    }

    @Test func memoryStaysWithinItsBudget() throws {
        let memo = RunMemo(capacityBytes: 4 << 20)
        let entry = try #require(ScenarioCatalog.scenario(id: "capability-divergence"))
        for seed in 0 ..< 40 {
            var scenario = entry.scenario
            scenario.seed = UInt64(seed)
            let request = try ScenarioRequest.parse(.object(["scenario": scenario.jsonValue]))
            let change = try SimulationDriver.start(id: "s\(seed)", organizationId: "o", request: request,
                                                    version: EngineRegistry.latest, ticks: 300, now: 0)
            let key = RunMemo.Key(scenario: SimulationDriver.canonical(scenario.jsonValue), version: EngineRegistry.latest, ticks: 300)
            memo.remember(RunMemo.Entry(change: change, rendered: RenderedSteps([change.segment!])), for: key)
            #expect(memo.counts.bytes <= 4 << 20)
            #expect(memo.lookup(key) != nil)
        }
        // The oldest entries went first.
        var first = entry.scenario
        first.seed = 0
        #expect(memo.lookup(RunMemo.Key(scenario: SimulationDriver.canonical(first.jsonValue), version: EngineRegistry.latest, ticks: 300)) == nil)
    }
}
