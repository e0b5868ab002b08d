import Foundation
import HummingbirdTesting
import KairosAPI
import KairosEngine
import Testing
@testable import KairosServer

/// `POST /v1/simulations/{id}/fork` (issue 20): a fork is the original's world after tick T − 1,
/// and stepping it with the original's later decrees reproduces the original byte for byte.
@Suite struct ForkTests {
    /// One move of the original's session: steps, or a decree/policy change queued at the current tick.
    enum Move: Sendable {
        case step(Int)
        case post(String, String)
        case put(String, String)
    }

    /// Decrees, a policy change and a time-control step between steps; `prophecy-paradox` makes
    /// prophecies (and a paradox) every 50 ticks.
    static let session: [Move] = [
        .step(37),
        .post("decrees", #"{"kind": "shock", "magnitude": 0.2}"#),
        .step(23),
        .put("agent-policy", #"{"agentId": "model", "policy": {"gamma": 0.9}}"#),
        .post("decrees", #"{"kind": "guardrail_upgrade", "magnitude": 0.3}"#),
        .put("time-control", #"{"action": "step"}"#),
        .step(89),
        .post("decrees", #"{"kind": "capability_jump", "magnitude": 0.1}"#),
        .step(50),
    ]

    /// The ticks at which the session queues a decree or policy change, in order.
    static var decreeTicks: [(tick: Int, move: Move)] {
        var tick = 0
        var out: [(Int, Move)] = []
        for move in session {
            switch move {
            case .step(let n): tick += n
            case .put("time-control", _): tick += 1
            default: out.append((tick, move))
            }
        }
        return out
    }

    static func play(_ move: Move, on id: String, client: any TestClientProtocol, key: String) async throws {
        switch move {
        case .step(let n):
            let r = try await client.send(.post, "/v1/simulations/\(id)/step", key: key, body: #"{"ticks": \#(n)}"#)
            #expect(r.status == .ok)
        case .post(let path, let body):
            let r = try await client.send(.post, "/v1/simulations/\(id)/\(path)", key: key, body: body)
            #expect(r.status.code < 300, "\(path): \(r.text)")
        case .put(let path, let body):
            let r = try await client.send(.put, "/v1/simulations/\(id)/\(path)", key: key, body: body)
            #expect(r.status.code < 300, "\(path): \(r.text)")
        }
    }

    /// The trace as NDJSON; empty for a simulation at tick 0 (whose trace is a 404).
    static func ndjson(_ id: String, client: any TestClientProtocol, key: String) async throws -> [UInt8] {
        let r = try await client.send(.get, "/v1/simulations/\(id)/trace", key: key, headers: [("Accept", "application/x-ndjson")])
        if r.status == .notFound {
            let resource = try await client.send(.get, "/v1/simulations/\(id)", key: key)
            #expect(try resource.json["tick"]?.numberValue == 0, "only a simulation at tick 0 has no trace")
            return []
        }
        #expect(r.status == .ok)
        return r.bytes
    }

    /// Three agents with deep prophecies: costly enough per tick that the simulation stores its trace.
    static let costlyScenario = #"""
        {"scenario": {"seed": 9, "initialState": {"stability": 0.8},
         "settings": {"prophecyInterval": 5, "prophecyHorizon": 20, "recursionDepth": 3},
         "agents": [{"id": "model", "state": {"capability": 748}, "growth": 0.01},
                    {"id": "b", "state": {"capability": 300}, "growth": 0.02},
                    {"id": "c", "state": {"capability": 500}, "growth": 0.005}]}}
        """#

    /// The first `n` lines of an NDJSON document.
    static func lines(_ bytes: [UInt8], _ n: Int) -> [UInt8] {
        var count = 0
        for (i, b) in bytes.enumerated() where b == 0x0A {
            count += 1
            if count == n { return Array(bytes[...i]) }
        }
        return n == 0 ? [] : bytes
    }

    @Test(arguments: [false, true])
    func forkThenStepEqualsTheOriginal(costly: Bool) async throws {
        let server = TestServer()
        let key = try await server.key()
        try await server.test { client in
            let body = costly ? Self.costlyScenario : #"{"scenarioId": "prophecy-paradox"}"#
            let created = try await client.send(.post, "/v1/simulations", key: key, body: body)
            let id = try #require(try created.json["id"]?.stringValue)
            for move in Self.session { try await Self.play(move, on: id, client: client, key: key) }
            let original = try await Self.ndjson(id, client: client, key: key)
            let total = 37 + 23 + 1 + 89 + 50
            let stored = try await server.repositories.simulations.traceSegments(simulationId: id)
            #expect(stored.isEmpty == !costly, "a costly simulation stores its trace")
            #expect(Self.lines(original, total) == original)
            if !costly {
                let prophecies = try await client.send(.get, "/v1/simulations/\(id)/prophecies", key: key)
                #expect(try prophecies.json["data"]?.arrayValue?.isEmpty == false, "prophecies are in play")
            }

            for t in [0, 1, 37, 38, 60, 61, 100, 150, total] {
                let forked = try await client.send(.post, "/v1/simulations/\(id)/fork", key: key, body: #"{"tick": \#(t)}"#)
                #expect(forked.status == .created, "fork at \(t): \(forked.text)")
                let json = try forked.json
                let fid = try #require(json["id"]?.stringValue)
                #expect(fid != id)
                #expect(json["tick"]?.numberValue == Double(t))
                #expect(json["status"]?.stringValue == "paused")
                #expect(json["forkedFrom"] == .object(["simulationId": .string(id), "tick": .number(Double(t))]))
                // The fork holds the original's first t steps.
                #expect(try await Self.ndjson(fid, client: client, key: key) == Self.lines(original, t), "fork at \(t)")
                // The original's later decrees at the same ticks, then the rest: the same bytes.
                var tick = t
                for (at, move) in Self.decreeTicks where at >= t {
                    if at > tick { try await Self.play(.step(at - tick), on: fid, client: client, key: key) }
                    tick = at
                    try await Self.play(move, on: fid, client: client, key: key)
                }
                if total > tick { try await Self.play(.step(total - tick), on: fid, client: client, key: key) }
                #expect(try await Self.ndjson(fid, client: client, key: key) == original, "fork at \(t) stepped to \(total)")
            }
            // The original is untouched by its forks.
            #expect(try await Self.ndjson(id, client: client, key: key) == original)
        }
    }

    @Test func forkWithoutDecreesFollowsTheOriginalUntilItsNextDecree() async throws {
        let server = TestServer()
        let key = try await server.key()
        try await server.test { client in
            let id = try await client.createSimulation(key: key, scenarioId: "prophecy-paradox")
            for move in Self.session { try await Self.play(move, on: id, client: client, key: key) }
            let original = try await Self.ndjson(id, client: client, key: key)
            // Forked at 38: the original's next decree is queued at 60 and applies to tick 60.
            let forked = try await client.send(.post, "/v1/simulations/\(id)/fork", key: key, body: #"{"tick": 38}"#)
            let fid = try #require(try forked.json["id"]?.stringValue)
            try await Self.play(.step(162), on: fid, client: client, key: key)
            let fork = try await Self.ndjson(fid, client: client, key: key)
            #expect(Self.lines(fork, 60) == Self.lines(original, 60))
            #expect(Self.lines(fork, 61) != Self.lines(original, 61), "tick 60 differs: the policy change is not in the fork")
            // A decree on the fork changes only the fork.
            let decree = try await client.send(.post, "/v1/simulations/\(fid)/decrees", key: key,
                                               body: #"{"kind": "shock", "magnitude": 0.5}"#)
            #expect(decree.status.code < 300)
            try await Self.play(.step(1), on: fid, client: client, key: key)
            #expect(try await Self.ndjson(id, client: client, key: key) == original)
            // A fork of a fork names its own origin.
            let second = try await client.send(.post, "/v1/simulations/\(fid)/fork", key: key, body: #"{"tick": 10}"#)
            #expect(try second.json["forkedFrom"]?["simulationId"]?.stringValue == fid)
            #expect(try await Self.ndjson(try #require(try second.json["id"]?.stringValue), client: client, key: key)
                == Self.lines(original, 10))
            // Listed with its origin; a plain simulation has none.
            let got = try await client.send(.get, "/v1/simulations/\(fid)", key: key)
            #expect(try got.json["forkedFrom"]?["tick"]?.numberValue == 38)
            let plain = try await client.send(.get, "/v1/simulations/\(id)", key: key)
            #expect(try plain.json["forkedFrom"] == nil)
        }
    }

    @Test func badForksAreRefusedWithTheEnvelope() async throws {
        let server = TestServer()
        let key = try await server.key()
        let reader = try await server.key(scopes: [.simulationRead])
        let other = try await server.key(org: "globex")
        try await server.test { client in
            let id = try await client.createSimulation(key: key)
            try await Self.play(.step(20), on: id, client: client, key: key)
            for (body, path) in [(#"{"tick": 21}"#, "tick"), (#"{"tick": -1}"#, "tick"), (#"{"tick": 2.5}"#, "tick"),
                                 (#"{"tick": "3"}"#, "tick"), (#"{}"#, "tick"), (#"{"tick": 3, "at": 2}"#, "at"),
                                 (#"[3]"#, "")] {
                let r = try await client.send(.post, "/v1/simulations/\(id)/fork", key: key, body: body)
                #expect(r.status == .badRequest, "\(body): \(r.text)")
                #expect(try r.json["error"]?["code"]?.stringValue == "VALIDATION_ERROR")
                #expect(try r.json["error"]?["details"]?["issues"]?.arrayValue?.first?["path"]?.stringValue == path, "\(body)")
            }
            let noScope = try await client.send(.post, "/v1/simulations/\(id)/fork", key: reader, body: #"{"tick": 3}"#)
            #expect(noScope.status == .forbidden)
            let otherOrg = try await client.send(.post, "/v1/simulations/\(id)/fork", key: other, body: #"{"tick": 3}"#)
            let missing = try await client.send(.post, "/v1/simulations/nope/fork", key: other, body: #"{"tick": 3}"#)
            let otherGet = try await client.send(.get, "/v1/simulations/\(id)", key: other)
            #expect(otherOrg.status == otherGet.status && otherOrg.status == .unauthorized, "as any other route")
            #expect(missing.status == .notFound)
            // A create for rate limits and usage.
            #expect(RouteClass.of(method: .post, path: "/v1/simulations/\(id)/fork") == .create)
            let limited = try await client.send(.post, "/v1/simulations/\(id)/fork", key: key, body: #"{"tick": 4}"#)
            let create = try await client.send(.post, "/v1/simulations", key: key, body: #"{"scenarioId": "capability-divergence"}"#)
            #expect(Int(limited.header("X-RateLimit-Limit") ?? "") == Int(create.header("X-RateLimit-Limit") ?? "-"))
            #expect(Int(limited.header("X-RateLimit-Remaining") ?? "") == Int(create.header("X-RateLimit-Remaining") ?? "-")! + 1)
            // Idempotent like every create.
            let first = try await client.send(.post, "/v1/simulations/\(id)/fork", key: key, body: #"{"tick": 5}"#,
                                              headers: [("Idempotency-Key", "fork-1")])
            let again = try await client.send(.post, "/v1/simulations/\(id)/fork", key: key, body: #"{"tick": 5}"#,
                                              headers: [("Idempotency-Key", "fork-1")])
            #expect(first.status == .created && again.status == .created)
            #expect(try first.json["id"] == again.json["id"])
            #expect(again.header("Idempotency-Replayed") == "true")
        }
    }
}

/// `GET …/trace?fromTick=T`: the steps from tick T on, for derived and stored traces alike.
@Suite struct TraceFromTickTests {
    @Test(arguments: [false, true])
    func fromTickIsTheTailOfTheWholeTrace(costly: Bool) async throws {
        let server = TestServer()
        let key = try await server.key()
        try await server.test { client in
            let body = costly ? ForkTests.costlyScenario : #"{"scenarioId": "prophecy-paradox"}"#
            let id = try #require(try await client.send(.post, "/v1/simulations", key: key, body: body).json["id"]?.stringValue)
            // Several step requests, so a stored trace has several segments.
            for n in [7, 13, 1, 29] {
                _ = try await client.send(.post, "/v1/simulations/\(id)/step", key: key, body: #"{"ticks": \#(n)}"#)
            }
            let total = 50
            let whole = try await ForkTests.ndjson(id, client: client, key: key)
            for t in [0, 1, 6, 7, 8, 20, 21, 22, 49, 50] {
                let r = try await client.send(.get, "/v1/simulations/\(id)/trace?fromTick=\(t)", key: key,
                                              headers: [("Accept", "application/x-ndjson")])
                #expect(r.status == .ok, "fromTick \(t): \(r.text)")
                let head = ForkTests.lines(whole, t)
                #expect(head + r.bytes == whole, "fromTick \(t)")
                #expect(r.headers[.traceDigest] == sha256Hex(r.bytes), "the digest is the body's")
                let json = try await client.send(.get, "/v1/simulations/\(id)/trace?fromTick=\(t)", key: key)
                let steps = try #require(try json.json["steps"]?.arrayValue)
                #expect(steps.count == total - t)
                #expect(steps.first?["tick"]?.numberValue == (t < total ? Double(t) : nil))
                #expect(try json.json["metadata"]?["ticks"]?.numberValue == Double(total - t))
                #expect(try json.json["metadata"]?["digest"]?.stringValue == sha256Hex(r.bytes))
            }
            for (query, path) in [("fromTick=51", "fromTick"), ("fromTick=-1", "fromTick"), ("fromTick=1.5", "fromTick"),
                                  ("fromTick=x", "fromTick"), ("from=3", "from")] {
                let r = try await client.send(.get, "/v1/simulations/\(id)/trace?\(query)", key: key)
                #expect(r.status == .badRequest, "\(query)")
                #expect(try r.json["error"]?["details"]?["issues"]?.arrayValue?.first?["path"]?.stringValue == path, "\(query)")
            }
        }
    }
}
