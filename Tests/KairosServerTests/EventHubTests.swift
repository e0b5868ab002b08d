import Foundation
import KairosAPI
import KairosEngine
import Testing
@testable import KairosServer

/// The live hub on its own: changes numbered once in commit order, a bounded buffer, and the
/// durable replay a subscriber that fell behind it uses.
/// A resume after a late id derives only the ticks from there (a derived trace is encoded from
/// the resume tick, a stored one reads its later segments): the frames equal those derived from
/// the whole record, cut after the id, at every kind of cut.
@Suite struct DurableResumeTests {
    @Test(arguments: [false, true])
    func resumeAfterAnyIdGivesExactlyTheRest(costly: Bool) async throws {
        let base = InMemorySimulationRepository()
        let hub = SimulationEventHub(repository: base, engine: EnginePool(), heartbeatSeconds: 3600, bufferCapacity: 8)
        let body: JSONValue = costly ? try JSONParser.parse(ForkTests.costlyScenario) : .object(["scenarioId": "capability-divergence"])
        let request = try ScenarioRequest.parse(body)
        let start = try SimulationDriver.start(id: "sim-r", organizationId: "acme", request: request, version: EngineRegistry.latest,
                                               ticks: 0, now: 0)
        #expect(start.record.storesTrace == costly)
        try await base.insert(start)
        for n in [30, 1, 40] {
            _ = try await base.update(id: "sim-r") { (try SimulationDriver.advance($0, ticks: n, now: 0), ()) }
        }
        _ = try await base.update(id: "sim-r") { record in
            (try SimulationDriver.queue(Action(kind: .shock, magnitude: 0.2), kind: .decree,
                                        payload: .object(["id": "d-1", "decree": .object(["kind": "shock", "magnitude": 0.2])]),
                                        record: record, now: 0).0, ())
        }
        _ = try await base.update(id: "sim-r") { (try SimulationDriver.advance($0, ticks: 29, now: 0), ()) }
        let all = try await durableEvents(base, id: "sim-r")
        #expect(all.filter { $0.kind == .tick }.count == 100)
        for cut in [0, 1, 29, 30, 31, all.count / 2, all.count - 2] {
            let after = try #require(all[cut].id)
            let (frames, _) = try await hub.durableFrames("sim-r", fromSequence: 0, after: after)
            #expect(frames.map { String(buffer: $0.bytes) } == all[(cut + 1)...].map(\.serverSentEvent), "after \(after)")
        }
    }
}

@Suite struct EventHubTests {
    @Test func aSubscriberBehindTheBufferReplaysFromTheRecord() async throws {
        let base = InMemorySimulationRepository()
        let hub = SimulationEventHub(repository: base, engine: EnginePool(), heartbeatSeconds: 3600, bufferCapacity: 8)
        let repository = PublishingSimulationRepository(base: base, hub: hub)
        let request = try ScenarioRequest.parse(.object(["scenarioId": "capability-divergence"]))
        let start = try SimulationDriver.start(id: "sim-1", organizationId: "acme", request: request, version: EngineRegistry.latest,
                                               ticks: 0, now: 0)
        try await repository.insert(start)
        let (_, continuation) = AsyncStream.makeStream(of: EventSignal.self)
        let (channel, token, cursor) = try await hub.subscribe("sim-1", signals: continuation)
        #expect(cursor == EventCursor(sequence: 0, lastId: nil))
        // Three ticks: still in the buffer, read from memory.
        for _ in 0 ..< 3 {
            _ = try await repository.update(id: "sim-1") { (try SimulationDriver.advance($0, ticks: 1, now: 0), ()) }
        }
        guard case .frames(let first, let next) = await channel.read(after: cursor) else {
            Issue.record("the buffer holds the first three ticks")
            return
        }
        #expect(first.map(\.id.description) == ["0-0", "1-0", "2-0"])
        // Sixty more (with warnings and a loss): far more than 8 frames, so the subscriber is behind.
        _ = try await repository.update(id: "sim-1") { (SimulationDriver.setStatus(.playing, speed: 2, record: $0, now: 0), ()) }
        for _ in 0 ..< 60 {
            _ = try await repository.update(id: "sim-1") { (try SimulationDriver.advance($0, ticks: 1, now: 0), ()) }
        }
        guard case .behind = await channel.read(after: next) else {
            Issue.record("a subscriber this far behind must replay from the record")
            return
        }
        let (replayed, covered) = try await hub.durableFrames("sim-1", fromSequence: next.sequence, after: next.lastId)
        let record = try #require(try await base.find(id: "sim-1"))
        #expect(covered == record.logLength)
        // Exactly the record's events after the last one read, with the same ids and frames.
        let expected = try await durableEvents(base, id: "sim-1", after: next.lastId)
        #expect(replayed.map(\.id) == expected.compactMap(\.id))
        #expect(replayed.map { String(buffer: $0.bytes) } == expected.map(\.serverSentEvent))
        #expect(replayed.first?.id.description == "3-0" && replayed.first?.kind == .status)
        // After the replay the subscriber is back on the buffer (nothing new yet).
        guard case .frames(let rest, _) = await channel.read(after: EventCursor(sequence: covered, lastId: replayed.last?.id)) else {
            Issue.record("back on the buffer after the replay")
            return
        }
        #expect(rest.isEmpty)
        await hub.unsubscribe("sim-1", channel: channel, token: token)
        #expect(hub.activeChannels == 0)
    }
}
