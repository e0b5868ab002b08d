import Foundation
import HummingbirdTesting
import KairosAPI
import KairosEngine
import Testing
@testable import KairosServer

/// The durable event record issue 6's SSE endpoint replays from.
@Suite struct EventLogTests {
    @Test func eventsAreDerivedInOrderAndResumeExactly() async throws {
        let server = TestServer()
        let key = try await server.key()
        let (id, ndjson) = try await server.test { client -> (String, [UInt8]) in
            let id = try await client.createSimulation(key: key, scenarioId: "capability-divergence")
            _ = try await client.send(.post, "/v1/simulations/\(id)/step", key: key, body: #"{"ticks": 60}"#)
            _ = try await client.send(.post, "/v1/simulations/\(id)/decrees", key: key, body: #"{"kind": "shock", "magnitude": 0.2}"#)
            _ = try await client.send(.put, "/v1/simulations/\(id)/agent-policy", key: key,
                                      body: #"{"agentId": "regulator", "policy": {"gamma": 1}}"#)
            _ = try await client.send(.put, "/v1/simulations/\(id)/time-control", key: key, body: #"{"action": "step"}"#)
            _ = try await client.send(.post, "/v1/simulations/\(id)/step", key: key, body: #"{"ticks": 99}"#)
            let trace = try await client.send(.get, "/v1/simulations/\(id)/trace", key: key, headers: [("Accept", "application/x-ndjson")])
            return (id, trace.bytes)
        }
        let log = try await server.repositories.simulations.log(simulationId: id, from: 0)
        let steps = try ndjson.split(separator: 0x0A).map { try #require(TraceStep(json: try JSONParser.parse(Array($0)))) }
        #expect(steps.count == 160)
        let events = SimulationEventLog.events(simulationId: id, log: log, steps: steps)
        let ids = events.compactMap(\.id)
        #expect(ids.count == events.count)
        #expect(ids == ids.sorted() && Set(ids).count == ids.count, "ids strictly increase")
        #expect(events.filter { $0.kind == .tick }.count == 160)
        // Tick group 60: the decree and the policy change, then computing tick 60.
        #expect(events.filter { $0.id?.tick == 60 }.map(\.kind).prefix(3) == [.decree, .decree, .tick])
        #expect(events.first { $0.kind == .tick && $0.id?.tick == 60 }?.data?["lastMove"] == "shock")
        #expect(events.contains { $0.kind == .loss }, "capability-divergence loses a basin at tick 49")
        let tick = try #require(events.first { $0.kind == .tick }?.data)
        #expect(tick.objectMembers?.map(\.key) == ["t", "b", "lastMove", "state", "warning", "agents"])
        // Resuming after any event gives exactly the rest.
        for cut in [0, 1, 57, events.count - 2] {
            let after = try #require(events[cut].id)
            #expect(SimulationEventLog.events(simulationId: id, log: log, steps: steps, after: after) == Array(events[(cut + 1)...]))
        }
        #expect(events[0].serverSentEvent.hasPrefix("id: 0-0\nevent: tick\ndata: {"))
        #expect(SimulationEvent(id: nil, kind: .heartbeat, data: nil).serverSentEvent == "event: heartbeat\ndata: \n\n")
        #expect(SimulationEventID("12-3") == SimulationEventID(tick: 12, index: 3))
        #expect(SimulationEventID("12") == nil)
    }
}
