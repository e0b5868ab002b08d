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

    /// The run answer laid out once from the stored lines, with the digest taken while the steps
    /// were encoded, is byte for byte the document the trace writer builds in several passes.
    @Test func runAnswerIsTheTraceDocument() throws {
        let entry = try #require(ScenarioCatalog.scenario(id: "capability-divergence"))
        for (seed, ticks) in [(7, 1), (8, 300), (9, 2_000)] {
            var scenario = entry.scenario
            scenario.seed = UInt64(seed)
            let request = try ScenarioRequest.parse(.object(["scenario": scenario.jsonValue]))
            let (change, digest) = try SimulationDriver.startRun(
                id: "sim-\(seed)", organizationId: "o", request: request,
                scenarioJSON: SimulationDriver.canonical(scenario.jsonValue), version: EngineRegistry.latest, ticks: ticks, now: 5)
            let plain = try SimulationDriver.start(id: "sim-\(seed)", organizationId: "o", request: request,
                                                   version: EngineRegistry.latest, ticks: ticks, now: 5)
            #expect(change.record.scenarioJSON == plain.record.scenarioJSON)
            #expect(change.segment == plain.segment)
            let segments = [try #require(change.segment)]
            #expect(digest == TraceDocument.digest(segments))
            #expect(digest == TraceDigest.of(try #require(Trace.run(scenario, ticks: ticks)).steps))
            let answer = TraceDocument.runAnswer(change.record, segments: segments, digest: digest)
            #expect(Array(answer.readableBytesView) == TraceDocument.runResult(change.record, segments: segments))
            #expect(Array(TraceDocument.ndjsonBuffer(segments).readableBytesView) == TraceDocument.ndjson(segments))
        }
        // Several segments: one comma between them, none at the end.
        let request = try ScenarioRequest.parse(.object(["scenario": entry.scenario.jsonValue]))
        let (change, _) = try SimulationDriver.startRun(id: "s", organizationId: "o", request: request,
                                                        scenarioJSON: SimulationDriver.canonical(entry.scenario.jsonValue),
                                                        version: EngineRegistry.latest, ticks: 4, now: 0)
        let whole = try #require(change.segment).lines
        let cut = try #require(whole.firstIndex(of: 0x0A)) + 1
        let split = [TraceSegment(firstTick: 0, tickCount: 1, lines: Array(whole[..<cut])),
                     TraceSegment(firstTick: 1, tickCount: 3, lines: Array(whole[cut...]))]
        let digest = TraceDocument.digest(split)
        #expect(Array(TraceDocument.runAnswer(change.record, segments: split, digest: digest).readableBytesView)
            == TraceDocument.runResult(change.record, segments: split))
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
            memo.remember(RunMemo.Entry(change: change, digest: TraceDocument.digest([change.segment!])), for: key)
            #expect(memo.counts.bytes <= 4 << 20)
            #expect(memo.lookup(key) != nil)
        }
        // The oldest entries went first.
        var first = entry.scenario
        first.seed = 0
        #expect(memo.lookup(RunMemo.Key(scenario: SimulationDriver.canonical(first.jsonValue), version: EngineRegistry.latest, ticks: 300)) == nil)
    }
}
