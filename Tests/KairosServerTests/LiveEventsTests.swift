import Foundation
import Hummingbird
import HummingbirdTesting
import KairosAPI
import KairosEngine
import NIOCore
import Testing
@testable import KairosServer

/// A real server on a free port (in-memory repositories) with its live services, at the
/// tiers' own limits (multiplier 1).
struct LiveTestServer {
    var server = TestServer(rateLimitMultiplier: 1)
    var heartbeatSeconds = 0.25
    var webSocketPingSeconds = 30.0
    var connectionLimits = ConnectionLimits()

    func run<T: Sendable>(_ body: @Sendable @escaping (_ port: Int, _ client: any TestClientProtocol, _ live: LiveServices) async throws -> T)
        async throws -> T
    {
        var configuration = ServerConfiguration(port: 0, storage: .memory, jwtSecret: server.jwtSecret, logLevel: .critical,
                                                rateLimitMultiplier: server.rateLimitMultiplier, sseHeartbeatSeconds: heartbeatSeconds)
        configuration.webSocketPingSeconds = webSocketPingSeconds
        configuration.connectionLimits = connectionLimits
        let (app, live) = try await buildLiveApplication(configuration, repositories: server.repositories, environment: server.environment)
        return try await app.test(.live) { client in try await body(try #require(client.port), client, live) }
    }
}

/// `GET /v1/simulations/{id}/events` (seed 003) and playback through it.
@Suite struct LiveEventsTests {
    static func keyHeader(_ key: String) -> [(String, String)] { [("X-Api-Key", key)] }

    @Test func liveEventsCarryEveryTypeWithIdsAndHeartbeats() async throws {
        let live = LiveTestServer()
        let key = try await live.server.key()
        try await live.run { port, client, _ in
            let id = try await client.createSimulation(key: key)
            let sim = "/v1/simulations/\(id)"
            try await SSEConnection.with(port: port, path: "\(sim)/events", headers: Self.keyHeader(key)) { stream in
                #expect(stream.status == 200)
                #expect(stream.headers["content-type"] == "text/event-stream")
                // A heartbeat arrives while nothing happens.
                let idle = try await stream.events { $0.event == "heartbeat" }
                #expect(idle.last == ReceivedEvent(id: nil, event: "heartbeat", data: ""))
                _ = try await client.send(.post, "\(sim)/step", key: key, body: #"{"ticks": 60}"#)
                _ = try await client.send(.post, "\(sim)/decrees", key: key, body: #"{"kind": "shock", "magnitude": 0.2}"#)
                _ = try await client.send(.put, "\(sim)/time-control", key: key, body: #"{"action": "step"}"#)
                let events = try await stream.events { $0.event == "tick" && $0.id == "60-1" }.filter { $0.event != "heartbeat" }
                let ticks = events.filter { $0.event == "tick" }
                #expect(ticks.count == 61)
                #expect(ticks.first?.id == "0-0")
                #expect(ticks.first?.json?.objectMembers?.map(\.key) == ["t", "b", "lastMove", "state", "warning", "agents"])
                #expect(events.contains { $0.event == "loss" }, "capability-divergence loses a basin at tick 49")
                #expect(events.contains { $0.event == "warning" })
                let decree = try #require(events.first { $0.event == "decree" })
                #expect(decree.id == "60-0")
                #expect(decree.json?["decree"]?["kind"] == "shock")
                #expect(ticks.last?.json?["lastMove"] == "shock")
                // Ids strictly increase, in the order they were sent.
                let ids = events.compactMap { $0.id.flatMap(SimulationEventID.init) }
                #expect(ids.count == events.count && ids == ids.sorted() && Set(ids).count == ids.count)
                // Exactly the durable record's events (same ids, same data).
                let durable = try await durableEvents(live.server.repositories.simulations, id: id)
                #expect(events.map(\.id) == durable.map { $0.id?.description })
                #expect(events.map(\.data) == durable.map { $0.data.map(SimulationEvent.compact) ?? "" })
            }
        }
    }

    /// A browser's EventSource reconnecting with `Last-Event-ID`: every event after that id
    /// exactly once — from the durable record, from the live buffer, and (first connect) from
    /// the `lastEventId` query parameter — then live events with the same numbering.
    @Test func lastEventIdResumesExactlyOnce() async throws {
        let live = LiveTestServer()
        let key = try await live.server.key()
        try await live.run { port, client, _ in
            let id = try await client.createSimulation(key: key)
            let sim = "/v1/simulations/\(id)"
            _ = try await client.send(.post, "\(sim)/step", key: key, body: #"{"ticks": 60}"#)
            _ = try await client.send(.post, "\(sim)/decrees", key: key, body: #"{"kind": "shock", "magnitude": 0.2}"#)
            _ = try await client.send(.put, "\(sim)/agent-policy", key: key, body: #"{"agentId": "regulator", "policy": {"gamma": 1}}"#)
            _ = try await client.send(.put, "\(sim)/time-control", key: key, body: #"{"action": "step"}"#)
            _ = try await client.send(.post, "\(sim)/step", key: key, body: #"{"ticks": 39}"#)
            let before = try await durableEvents(live.server.repositories.simulations, id: id)
            let cut = try #require(before[57].id)

            // 1. Reconnect after a stored event: the rest of the record, then live events.
            var seen: [ReceivedEvent] = []
            try await SSEConnection.with(port: port, path: "\(sim)/events", headers: Self.keyHeader(key) + [("Last-Event-ID", cut.description)]) { stream in
                let lastStored = before.last?.id?.description
                seen = try await stream.events { $0.id == lastStored }.filter { $0.event != "heartbeat" }
                _ = try await client.send(.post, "\(sim)/step", key: key, body: #"{"ticks": 5}"#)
                seen += try await stream.events { $0.event == "tick" && $0.id?.hasPrefix("104-") == true }.filter { $0.event != "heartbeat" }
            }
            var all = try await durableEvents(live.server.repositories.simulations, id: id)
            let expected = all.filter { $0.id! > cut }
            #expect(seen.map(\.id) == expected.map { $0.id?.description }, "everything after the id, exactly once")
            #expect(seen.map(\.data) == expected.map { $0.data.map(SimulationEvent.compact) ?? "" })

            // 2. Disconnect, events happen meanwhile, reconnect with the last id seen: a live
            //    subscriber keeps the buffer, so this resume comes from memory.
            try await SSEConnection.with(port: port, path: "\(sim)/events", headers: Self.keyHeader(key)) { watcher in
                _ = try await client.send(.post, "\(sim)/step", key: key, body: #"{"ticks": 3}"#)
                let watched = try await watcher.events { $0.event == "tick" && $0.id == "107-0" }
                let lastSeen = try #require(watched.last?.id)
                _ = try await client.send(.put, "\(sim)/time-control", key: key, body: #"{"action": "play", "speed": 0.1}"#)
                _ = try await client.send(.put, "\(sim)/time-control", key: key, body: #"{"action": "pause"}"#)
                var resumed: [ReceivedEvent] = []
                try await SSEConnection.with(port: port, path: "\(sim)/events?lastEventId=\(lastSeen)", headers: Self.keyHeader(key)) { stream in
                    all = try await durableEvents(live.server.repositories.simulations, id: id)
                    let last = all.last?.id?.description
                    resumed = try await stream.events { $0.id == last }.filter { $0.event != "heartbeat" }
                }
                let after = all.filter { $0.id! > SimulationEventID(lastSeen)! }
                #expect(resumed.map(\.id) == after.map { $0.id?.description })
                #expect(resumed.contains { $0.event == "simulation:status" && $0.json?["status"] == "playing" })
                #expect(resumed.last?.event == "simulation:status" && resumed.last?.json?["status"] == "paused")
            }
        }
    }

    @Test func heartbeatSecondsFromTheEnvironment() {
        #expect(ServerConfiguration().sseHeartbeatSeconds == 30)
        #expect(ServerConfiguration.heartbeatSeconds(environment: ["KAIROS_SSE_HEARTBEAT_SECONDS": "0.5"]) == 0.5)
        #expect(ServerConfiguration.heartbeatSeconds(environment: ["KAIROS_SSE_HEARTBEAT_SECONDS": "2"]) == 2)
        for bad in ["", "0", "-1", "nan", "inf", "abc", "4000"] {
            #expect(ServerConfiguration.heartbeatSeconds(environment: ["KAIROS_SSE_HEARTBEAT_SECONDS": bad]) == nil)
        }
        #expect(ServerConfiguration.heartbeatSeconds(environment: [:]) == nil)
    }

    @Test func lastEventIdMustBeAnId() async throws {
        let server = TestServer()
        let key = try await server.key()
        try await server.test { client in
            let id = try await client.createSimulation(key: key)
            let bad = try await client.send(.get, "/v1/simulations/\(id)/events", key: key, headers: [("Last-Event-ID", "tick-5")])
            #expect(bad.status == .badRequest)
            #expect(bad.errorCode == "VALIDATION_ERROR")
            let query = try await client.send(.get, "/v1/simulations/\(id)/events?lastEventId=x", key: key)
            #expect(try query.json["error"]?["details"]?["issues"]?.arrayValue?.first?["path"] == "lastEventId")
            let unknown = try await client.send(.get, "/v1/simulations/\(id)/events?since=3", key: key)
            #expect(unknown.status == .badRequest)
            let other = try await server.key(org: "globex")
            #expect(try await client.send(.get, "/v1/simulations/\(id)/events", key: other).status == .unauthorized)
            let noScope = try await server.key(scopes: [.simulationWrite])
            #expect(try await client.send(.get, "/v1/simulations/\(id)/events", key: noScope).status == .forbidden)
            #expect(try await client.send(.get, "/v1/simulations/\(id)/events").status == .unauthorized)
        }
    }

    /// Community allows one stream per identity: a second is refused with 429 and
    /// `Retry-After`; closing the first frees the slot at once (the heartbeat is 30 s here, so
    /// only noticing the closed connection can free it).
    @Test func concurrentStreamLimitAndPromptRelease() async throws {
        let live = LiveTestServer(heartbeatSeconds: 30)
        let key = try await live.server.key(tier: .community)
        try await live.run { port, client, services in
            let id = try await client.createSimulation(key: key)
            let path = "/v1/simulations/\(id)/events"
            try await SSEConnection.with(port: port, path: path, headers: Self.keyHeader(key)) { first in
                #expect(first.status == 200)
                #expect(try await eventually { services.openEventStreams == 1 })
                try await SSEConnection.with(port: port, path: path, headers: Self.keyHeader(key)) { second in
                    #expect(second.status == 429)
                    #expect(second.headers["retry-after"] != nil)
                    #expect((try? JSONParser.parse(second.plainBody))?["error"]?["code"] == "RATE_LIMITED")
                }
            }
            let closedAt = ContinuousClock.now
            #expect(try await eventually(5) { services.openEventStreams == 0 }, "the slot is freed when the client leaves")
            #expect(ContinuousClock.now - closedAt < .seconds(5))
            try await SSEConnection.with(port: port, path: path, headers: Self.keyHeader(key)) { again in
                #expect(again.status == 200)
            }
        }
    }

    /// Seed 003: an SSE connection counts against the concurrent-stream limit, not the
    /// per-minute rate limit. Reconnecting never uses up reads, and a stream opens even when
    /// the read window is spent; it still carries the read window's headers.
    @Test func streamsDoNotSpendThePerMinuteWindow() async throws {
        // A clock that stands still: the window must not slide while a loaded machine runs the test.
        let live = LiveTestServer(server: TestServer(rateLimitMultiplier: 1, environment: ServerEnvironment(now: ManualClock().now)),
                                  heartbeatSeconds: 30)
        let key = try await live.server.key(tier: .community)
        try await live.run { port, client, services in
            let id = try await client.createSimulation(key: key)
            let path = "/v1/simulations/\(id)/events"
            let before = try #require(try await client.send(.get, "/v1/simulations/\(id)", key: key).intHeader("X-RateLimit-Remaining"))
            for _ in 0 ..< 5 {
                try await SSEConnection.with(port: port, path: path, headers: Self.keyHeader(key)) { stream in
                    #expect(stream.status == 200)
                    #expect(stream.headers["x-ratelimit-remaining"] == String(before))
                    #expect(stream.headers["x-ratelimit-limit"] == "120")
                }
                #expect(try await eventually { services.openEventStreams == 0 })
            }
            let after = try await client.send(.get, "/v1/simulations/\(id)", key: key)
            #expect(after.intHeader("X-RateLimit-Remaining") == before - 1, "five streams opened, one read counted")
            // Spend the read window; a stream still opens, a read does not.
            for _ in 0 ..< before - 1 { _ = try await client.send(.get, "/v1/simulations/\(id)", key: key) }
            #expect(try await client.send(.get, "/v1/simulations/\(id)", key: key).status == .tooManyRequests)
            try await SSEConnection.with(port: port, path: path, headers: Self.keyHeader(key)) { stream in
                #expect(stream.status == 200)
                #expect(stream.headers["x-ratelimit-remaining"] == "0")
            }
            // A wrong key is still charged to the address (guessing keys costs reads).
            try await SSEConnection.with(port: port, path: path, headers: Self.keyHeader("krs_wrong")) { stream in
                #expect(stream.status == 401)
                #expect(stream.headers["x-ratelimit-remaining"] != nil)
            }
        }
    }

    /// Play emits status events and ticks; a step the engine refuses pauses playback with an
    /// `error` event (durable, so a later resume sees it too). Only engine 1.0.0 refuses
    /// steps of valid input (its capability overflows), so the simulation pins it.
    @Test func playbackFailurePausesWithAnErrorEvent() async throws {
        let live = LiveTestServer()
        let key = try await live.server.key()
        let jumps = (0 ..< 40).map { #"{"tick": \#($0), "kind": "capability_jump", "target": "m", "magnitude": 10}"# }
        let body = #"{"scenario": {"seed": 1, "agents": [{"id": "m", "state": {"capability": 1000000, "alignment": 0.5, "guardrail": 0.5}, "growth": 0.001}], "initialState": {"stability": 0.8}, "events": [\#(jumps.joined(separator: ","))]}, "engineVersion": "1.0.0"}"#
        try await live.run { port, client, services in
            let created = try await client.send(.post, "/v1/simulations", key: key, body: body)
            let sim = "/v1/simulations/" + (try #require(try created.json["id"]?.stringValue))
            try await SSEConnection.with(port: port, path: "\(sim)/events", headers: Self.keyHeader(key)) { stream in
                _ = try await client.send(.put, "\(sim)/time-control", key: key, body: #"{"action": "play", "speed": 10}"#)
                let events = try await stream.events { $0.event == "simulation:status" && $0.json?["status"] == "paused" }
                    .filter { $0.event != "heartbeat" }
                #expect(events.first?.event == "simulation:status" && events.first?.json?["status"] == "playing")
                let error = try #require(events.first { $0.event == "error" })
                #expect(error.json?["code"] == "VALIDATION_ERROR")
                #expect(events.last?.json?["status"] == "paused")
            }
            #expect(try await eventually { services.playingSimulations == 0 })
            let state = try await client.send(.get, sim, key: key)
            #expect(try state.json["status"] == "paused")
        }
    }

    /// Three simulations playing at speed 10 (100 ticks/s each) all keep the rate.
    @Test func severalSimulationsPlayAtOnce() async throws {
        let live = LiveTestServer()
        let key = try await live.server.key()
        try await live.run { _, client, services in
            var sims: [String] = []
            for _ in 0 ..< 3 { sims.append("/v1/simulations/" + (try await client.createSimulation(key: key, scenarioId: "shock-recovery"))) }
            // Per simulation: it played at least from its play response to the pause request
            // (lower bound) and at most from the play request to the pause response (upper bound).
            func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
            var played: [(sent: ContinuousClock.Instant, answered: ContinuousClock.Instant)] = []
            for sim in sims {
                let sent = ContinuousClock.now
                _ = try await client.send(.put, "\(sim)/time-control", key: key, body: #"{"action": "play", "speed": 10}"#)
                played.append((sent, ContinuousClock.now))
            }
            #expect(services.playingSimulations == 3)
            try await Task.sleep(for: .seconds(2))
            for (i, sim) in sims.enumerated() {
                let sent = ContinuousClock.now
                let r = try await client.send(.put, "\(sim)/time-control", key: key, body: #"{"action": "pause"}"#)
                let tick = Double(try r.json["tick"]?.numberValue ?? 0)
                let most = seconds(ContinuousClock.now - played[i].sent), least = seconds(sent - played[i].answered)
                #expect(tick <= 100 * most + 10, "never ahead of 100 ticks/s (\(tick) in at most \(most) s)")
                // Generous: the machine is shared (parallel tests, other builds).
                #expect(tick >= 0.5 * 100 * (least - 0.3), "keeps up with 100 ticks/s (\(tick) in at least \(least) s)")
            }
            #expect(try await eventually { services.playingSimulations == 0 })
        }
    }
}
