import Foundation
import Hummingbird
import HummingbirdTesting
import KairosAPI
import KairosEngine
import Testing
@testable import KairosServer

/// Every endpoint through the router, on in-memory repositories.
@Suite struct EndpointTests {
    @Test func publicRoutesNeedNothing() async throws {
        let server = TestServer()
        try await server.test { client in
            let health = try await client.send(.get, "/v1/health")
            #expect(health.status == .ok)
            #expect(try health.json["engineVersions"] == ["1.0.0", "1.1.0"])
            #expect(try health.json["defaultEngineVersion"] == "1.1.0")
            #expect(try health.json["storage"] == (TestStorage.postgres ? "postgresql" : "memory"))
            #expect(HealthStatus(json: try health.json)?.engineVersions == [EngineVersion(1, 0, 0), EngineVersion(1, 1, 0)])
            #expect(HealthStatus(json: try health.json)?.defaultEngineVersion == EngineVersion(1, 1, 0))
            let scenarios = try await client.send(.get, "/v1/scenarios")
            #expect(scenarios.status == .ok)
            #expect(try scenarios.json["data"]?.arrayValue?.count == ScenarioCatalog.all.count)
            let one = try await client.send(.get, "/v1/scenarios/capability-divergence")
            #expect(try one.json["agents"] == ["frontier_model", "open_model", "regulator"])
            let missing = try await client.send(.get, "/v1/scenarios/nope")
            #expect(missing.status == .notFound)
            #expect(missing.errorCode == "NOT_FOUND")
            let openapi = try await client.send(.get, "/v1/openapi.json")
            #expect(try openapi.json["openapi"] == "3.1.0")
            let docs = try await client.send(.get, "/v1/docs")
            #expect(docs.headers[.contentType]?.hasPrefix("text/html") == true)
            #expect(docs.text.contains("openapi.json"))
            #expect(!docs.text.contains("https://"), "the reference page loads nothing from the internet")
        }
    }

    @Test func requestIdIsEchoedOrGenerated() async throws {
        let server = TestServer()
        try await server.test { client in
            let echoed = try await client.send(.get, "/v1/health", headers: [("X-Request-Id", "my-trace-42")])
            #expect(echoed.headers[.requestID] == "my-trace-42")
            let generated = try await client.send(.get, "/v1/simulations")
            let id = try #require(generated.headers[.requestID])
            #expect(id.hasPrefix("req_"))
            #expect(try generated.json["error"]?["requestId"]?.stringValue == id)
            let unknownRoute = try await client.send(.get, "/v1/nothing-here", headers: [("X-Request-Id", "abc")])
            #expect(unknownRoute.status == .notFound)
            #expect(try unknownRoute.json["error"]?["requestId"] == "abc")
        }
    }

    @Test func createGetListAndFromDomain() async throws {
        let server = TestServer()
        let key = try await server.key()
        try await server.test { client in
            let created = try await client.send(.post, "/v1/simulations", key: key, body: #"{"scenarioId": "capability-divergence"}"#)
            #expect(created.status == .created)
            let sim = try #require(SimulationResource(json: try created.json))
            #expect(sim.scenarioId == "capability-divergence")
            #expect(sim.organizationId == "acme")
            #expect(sim.tick == 0)
            #expect(sim.status == .paused)
            #expect(sim.state["agents"]?.arrayValue?.count == 3)
            let got = try await client.send(.get, "/v1/simulations/\(sim.id)", key: key)
            #expect(SimulationResource(json: try got.json) == sim)

            let inline = #"{"scenario": {"seed": 3, "agents": [{"id": "m", "state": {"capability": 500}}], "initialState": {"stability": 0.8}}}"#
            #expect(try await client.send(.post, "/v1/simulations", key: key, body: inline).status == .created)
            let domain = #"{"domain": "ai-safety", "input": {"models": [{"name": "model", "capability_index": 550, "alignment_score": 70, "guardrail_coverage": 60}]}}"#
            let fromDomain = try await client.send(.post, "/v1/simulations/from-domain", key: key, body: domain)
            #expect(fromDomain.status == .created)
            #expect(try fromDomain.json["scenarioId"] == .null)
            let unknownDomain = try await client.send(.post, "/v1/simulations/from-domain", key: key,
                                                      body: #"{"domain": "finance", "input": {}}"#)
            #expect(unknownDomain.status == .notFound)

            let page = try await client.send(.get, "/v1/simulations?limit=2", key: key)
            #expect(SimulationPage(json: try page.json)?.data.count == 2)
            #expect(try page.json["pagination"] == .object(["limit": 2, "offset": 0, "total": 3]))
            #expect(try page.json["data"]?.arrayValue?.count == 2)
            let rest = try await client.send(.get, "/v1/simulations?limit=2&offset=2", key: key)
            #expect(try rest.json["data"]?.arrayValue?.first?["id"]?.stringValue == sim.id, "newest first, so the first created is last")
            let bad = try await client.send(.get, "/v1/simulations?limit=0&offset=-1&colour=red", key: key)
            #expect(bad.status == .badRequest)
            #expect(try bad.json["error"]?["details"]?["issues"]?.arrayValue?.count == 3)
            let missing = try await client.send(.get, "/v1/simulations/\(UUID().uuidString.lowercased())", key: key)
            #expect(missing.status == .notFound)
        }
    }

    @Test func runDigestsAgree() async throws {
        let server = TestServer()
        let key = try await server.key()
        let expected = try engineDigest(scenarioId: "capability-divergence", ticks: 500)
        try await server.test { client in
            let body = #"{"scenarioId": "capability-divergence", "ticks": 500}"#
            let ndjson = try await client.send(.post, "/v1/simulations/run", key: key, body: body,
                                               headers: [("Accept", "application/x-ndjson")])
            #expect(ndjson.status == .ok)
            #expect(ndjson.headers[.contentType] == "application/x-ndjson")
            #expect(sha256Hex(ndjson.bytes) == expected)
            #expect(ndjson.headers[.traceDigest] == expected)
            #expect(ndjson.bytes.filter { $0 == 0x0A }.count == 500)

            let json = try await client.send(.post, "/v1/simulations/run", key: key, body: body)
            #expect(json.status == .ok)
            let doc = try json.json
            #expect(doc["trace"]?["metadata"]?["digest"]?.stringValue == expected)
            #expect(doc["trace"]?["steps"]?.arrayValue?.count == 500)
            #expect(doc["trace"]?["metadata"]?["seed"] == 42)
            // The wire types read it back exactly (the client's side).
            let traceJSON = try #require(doc["trace"])
            let decoded = try #require(Trace(json: traceJSON))
            #expect(TraceDigest.of(decoded.steps) == expected)
            #expect(decoded.initialState.tick == 0)
            // The body is canonical JSON: re-encoding it changes nothing.
            #expect(CanonicalJSON.string(doc) == json.text)
            // The run is a stored simulation whose trace reads back identically.
            let id = try #require(doc["simulationId"]?.stringValue)
            let trace = try await client.send(.get, "/v1/simulations/\(id)/trace", key: key)
            #expect(try trace.json == doc["trace"])
            let traceNDJSON = try await client.send(.get, "/v1/simulations/\(id)/trace", key: key,
                                                    headers: [("Accept", "application/x-ndjson")])
            #expect(traceNDJSON.bytes == ndjson.bytes)
        }
    }

    @Test func engineVersionPinning() async throws {
        let server = TestServer()
        let key = try await server.key()
        try await server.test { client in
            let pinned = try await client.send(.post, "/v1/simulations", key: key,
                                               body: #"{"scenarioId": "capability-divergence", "engineVersion": "1.0.0"}"#)
            #expect(pinned.status == .created)
            #expect(try pinned.json["engineVersion"] == "1.0.0")
            let unpinned = try await client.send(.post, "/v1/simulations", key: key, body: #"{"scenarioId": "capability-divergence"}"#)
            #expect(try unpinned.json["engineVersion"] == "1.1.0")
            // Each run is the named version's trace; the metadata says which ran.
            for (version, pin) in [("1.0.0", #", "engineVersion": "1.0.0""#), ("1.1.0", #", "engineVersion": "1.1.0""#), ("1.1.0", "")] {
                let run = try await client.send(.post, "/v1/simulations/run", key: key,
                                                body: #"{"scenarioId": "capability-divergence", "ticks": 200\#(pin)}"#)
                #expect(run.status == .ok)
                #expect(try run.json["engineVersion"] == .string(version))
                #expect(try run.json["trace"]?["metadata"]?["engineVersion"] == .string(version))
                let expected = try #require(Trace.run(ScenarioCatalog.scenario(id: "capability-divergence")!.scenario, ticks: 200,
                                                      version: EngineVersion(version))).metadata.digest
                #expect(try run.json["trace"]?["metadata"]?["digest"] == .string(expected))
            }
            let missing = try await client.send(.post, "/v1/simulations/run", key: key,
                                                body: #"{"scenarioId": "capability-divergence", "ticks": 5, "engineVersion": "1.4.4"}"#)
            #expect(missing.status == .badRequest)
            #expect(missing.errorCode == "ENGINE_VERSION_UNAVAILABLE")
            #expect(try missing.json["error"]?["details"]?["available"] == ["1.0.0", "1.1.0"])
        }
    }

    @Test func stepDecreePolicyTraceAndProphecies() async throws {
        let server = TestServer()
        let key = try await server.key()
        try await server.test { client in
            let id = try await client.createSimulation(key: key, scenarioId: "prophecy-paradox")
            let noTrace = try await client.send(.get, "/v1/simulations/\(id)/trace", key: key)
            #expect(noTrace.status == .notFound)
            let step = try await client.send(.post, "/v1/simulations/\(id)/step", key: key, body: #"{"ticks": 100}"#)
            #expect(step.status == .ok)
            #expect(try step.json["ticks"] == 100)
            #expect(try step.json["tick"] == 100)
            #expect(try step.json["state"]?["tick"] == 100)

            let decree = try await client.send(.post, "/v1/simulations/\(id)/decrees", key: key,
                                               body: #"{"kind": "guardrail_upgrade", "target": "model", "magnitude": 0.3}"#)
            #expect(decree.status == .created)
            #expect(DecreeRecord(json: try decree.json)?.decree == Action(kind: .guardrailUpgrade, target: "model", magnitude: 0.3))
            #expect(StepResult(json: try step.json)?.tick == 100)
            #expect(try decree.json["tick"] == 100)
            #expect(try decree.json["decree"]?["kind"] == "guardrail_upgrade")
            #expect(try decree.json["id"]?.stringValue?.hasPrefix("dec_") == true)
            let badDecree = try await client.send(.post, "/v1/simulations/\(id)/decrees", key: key,
                                                  body: #"{"kind": "guardrail_upgrade", "target": "modle", "magnitude": 3}"#)
            #expect(badDecree.status == .badRequest)
            #expect(try badDecree.json["error"]?["details"]?["issues"]?.arrayValue?.count == 2)

            let policy = try await client.send(.put, "/v1/simulations/\(id)/agent-policy", key: key,
                                               body: #"{"agentId": "model", "policy": {"lambda": 0.7}}"#)
            #expect(policy.status == .ok)
            #expect(try policy.json["ok"] == true)
            #expect(try policy.json["tick"] == 100)
            let badPolicy = try await client.send(.put, "/v1/simulations/\(id)/agent-policy", key: key,
                                                  body: #"{"agentId": "nobody", "policy": {"lambda": 1.5, "gamma": "x"}}"#)
            #expect(try badPolicy.json["error"]?["details"]?["issues"]?.arrayValue?.map { $0["path"]?.stringValue ?? "" }
                == ["agentId", "policy.lambda", "policy.gamma"])

            _ = try await client.send(.post, "/v1/simulations/\(id)/step", key: key, body: #"{"ticks": 400}"#)
            let trace = try await client.send(.get, "/v1/simulations/\(id)/trace", key: key)
            let steps = try #require(try trace.json["steps"]?.arrayValue)
            #expect(steps.count == 500)
            #expect(steps[100]["move"] == "capability_jump", "the scenario's event at tick 100 comes before the decree")
            #expect(steps[100]["agents"]?.arrayValue?.first?["policy"]?["lambda"] == 0.7, "and so does the policy change")

            // The same commands on the engine directly give the same trace.
            let entry = try #require(ScenarioCatalog.scenario(id: "prophecy-paradox"))
            let sim = try #require(EngineRegistry.start(entry.scenario))
            var expected: [TraceStep] = []
            for _ in 0 ..< 100 { expected.append(sim.step()) }
            try sim.submit(Action(kind: .guardrailUpgrade, target: "model", magnitude: 0.3))
            try sim.submit(Action(kind: .policy, target: "model", lambda: 0.7))
            for _ in 0 ..< 400 { expected.append(sim.step()) }
            #expect(try trace.json["metadata"]?["digest"]?.stringValue == TraceDigest.of(expected))

            let prophecies = try await client.send(.get, "/v1/simulations/\(id)/prophecies", key: key)
            let list = try #require(try prophecies.json["data"]?.arrayValue)
            #expect(list.allSatisfy { ProphecyRecord(json: $0) != nil })
            #expect(list.count == expected.compactMap(\.prophecy).count)
            #expect(!list.isEmpty)
            for p in list {
                #expect(["averted", "fulfilled", "open", "refuted"].contains(p["resolution"]?.stringValue ?? ""))
            }
            let paradoxes = expected.compactMap(\.paradox).map(\.prophecy)
            for p in list where paradoxes.contains(Int(p["id"]?.numberValue ?? -1)) {
                #expect(p["resolution"] == "averted", "every engine paradox is an averted prophecy")
            }
        }
    }

    @Test func timeControl() async throws {
        let server = TestServer()
        let key = try await server.key()
        try await server.test { client in
            let id = try await client.createSimulation(key: key)
            let step = try await client.send(.put, "/v1/simulations/\(id)/time-control", key: key, body: #"{"action": "step"}"#)
            #expect(step.text == #"{"ok":true,"status":"paused","tick":1}"#)
            let play = try await client.send(.put, "/v1/simulations/\(id)/time-control", key: key,
                                             body: #"{"action": "play", "speed": 10}"#)
            #expect(try play.json["status"] == "playing")
            // Wait (bounded) until playback has advanced: under parallel test load a fixed
            // sleep is not enough on two cores.
            let deadline = ContinuousClock.now + .seconds(10)
            while ContinuousClock.now < deadline {
                let current = try await client.send(.get, "/v1/simulations/\(id)", key: key)
                if Int(try current.json["tick"]?.numberValue ?? 0) > 5 { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            let pause = try await client.send(.put, "/v1/simulations/\(id)/time-control", key: key, body: #"{"action": "pause"}"#)
            #expect(try pause.json["status"] == "paused")
            let ticks = Int(try pause.json["tick"]?.numberValue ?? 0)
            #expect(ticks > 5, "playing at speed 10 advances about 100 ticks a second")
            try await Task.sleep(for: .milliseconds(200))
            let after = try await client.send(.get, "/v1/simulations/\(id)", key: key)
            #expect(try after.json["tick"]?.numberValue.map(Int.init) == ticks, "paused means no more ticks")
            let bad = try await client.send(.put, "/v1/simulations/\(id)/time-control", key: key,
                                            body: #"{"action": "rewind", "speed": 11}"#)
            #expect(try bad.json["error"]?["details"]?["issues"]?.arrayValue?.count == 2)
        }
    }

    @Test func validationReportsEveryFieldByPath() async throws {
        let server = TestServer()
        let key = try await server.key()
        try await server.test { client in
            let body = #"{"scenario": {"seed": -1, "agents": [{"id": "a", "policy": {"lambda": 2}}, {"id": "a"}], "initialState": {"stability": "high"}, "colour": 1}, "ticks": 10001}"#
            let r = try await client.send(.post, "/v1/simulations/run", key: key, body: body)
            #expect(r.status == .badRequest)
            let paths = try #require(try r.json["error"]?["details"]?["issues"]?.arrayValue).compactMap { $0["path"]?.stringValue }
            #expect(Set(paths) == ["ticks", "scenario.seed", "scenario.agents[0].policy.lambda", "scenario.agents[1].id",
                                   "scenario.initialState.stability", "scenario.colour"])
            let malformed = try await client.send(.post, "/v1/simulations/run", key: key, body: "{\"ticks\": 5,\n \"scenarioId\": }")
            #expect(malformed.errorCode == "VALIDATION_ERROR")
            #expect(try malformed.json["error"]?["details"]?["issues"]?.arrayValue?.first?["line"] == 2)
            let nan = try await client.send(.post, "/v1/simulations/run", key: key, body: #"{"scenarioId": "capability-divergence", "ticks": NaN}"#)
            #expect(nan.errorCode == "VALIDATION_ERROR")
            let empty = try await client.send(.post, "/v1/simulations/run", key: key, body: "")
            #expect(empty.errorCode == "VALIDATION_ERROR")
            let big = String(repeating: " ", count: SimulationLimits.maxBodyBytes + 1)
            let tooLarge = try await client.send(.post, "/v1/simulations/run", key: key, body: big)
            #expect(tooLarge.status == .contentTooLarge)
            #expect(tooLarge.errorCode == "PAYLOAD_TOO_LARGE")
        }
    }

    @Test func bearerTokens() async throws {
        let server = TestServer()
        let key = try await server.key(org: "acme")
        try await server.test { client in
            let token = try await server.token(orgs: ["acme", "beta"])
            let bearer = [("Authorization", "Bearer \(token)")]
            let noOrg = try await client.send(.post, "/v1/simulations", body: #"{"scenarioId": "capability-divergence"}"#, headers: bearer)
            #expect(noOrg.status == .badRequest, "a token naming two organizations must say which one")
            let created = try await client.send(.post, "/v1/simulations",
                                                body: #"{"scenarioId": "capability-divergence", "organizationId": "beta"}"#,
                                                headers: bearer)
            #expect(created.status == .created)
            let betaId = try #require(try created.json["id"]?.stringValue)
            #expect(try await client.send(.get, "/v1/simulations/\(betaId)", headers: bearer).status == .ok)
            #expect(try await client.send(.get, "/v1/simulations/\(betaId)", key: key).status == .unauthorized)
            let filtered = try await client.send(.get, "/v1/simulations?organizationId=beta", headers: bearer)
            #expect(try filtered.json["pagination"]?["total"] == 1)
            let both = try await client.send(.get, "/v1/simulations", key: key, headers: bearer)
            #expect(both.status == .unauthorized)
            let expired = try await server.token(expires: Date().addingTimeInterval(-60))
            #expect(try await client.send(.get, "/v1/simulations", headers: [("Authorization", "Bearer \(expired)")]).status == .unauthorized)
            let forged = try await TokenAuthority(secret: "another-secret-another-secret-another").sign(
                KairosTokenClaims(subject: "x", organizationIds: ["acme"], scopes: APIScope.allCases, expires: Date().addingTimeInterval(60)))
            #expect(try await client.send(.get, "/v1/simulations", headers: [("Authorization", "Bearer \(forged)")]).status == .unauthorized)
        }
    }

    @Test func revokedKeysAreRefused() async throws {
        let server = TestServer()
        let issuer = APIKeyIssuer(identities: server.repositories.identities)
        let (record, key) = try await issuer.create(organizationId: "acme", tier: .community, scopes: [.simulationRead])
        #expect(key.hasPrefix("krs_") && key.count == 44)
        #expect(record.keyHash == APIKeyMaterial.hash(key))
        try await server.test { client in
            let before = try await client.send(.get, "/v1/simulations", key: key)
            #expect(before.status == .ok)
            let revoked = try await server.repositories.identities.revokeKey(id: record.id, at: 1)
            #expect(revoked)
            let after = try await client.send(.get, "/v1/simulations", key: key)
            #expect(after.status == .unauthorized)
        }
    }

    @Test func organization() async throws {
        let server = TestServer(rateLimitMultiplier: 1, environment: ServerEnvironment(now: ManualClock().now))
        let key = try await server.key(org: "acme", tier: .enterprise, scopes: [.orgRead])
        try await server.test { client in
            let r = try await client.send(.get, "/v1/organization", key: key)
            #expect(r.text == #"{"id":"acme","limits":{"concurrentStreams":20,"create":100,"read":3000,"step":1000,"windowSeconds":60},"simulations":0,"tier":"enterprise","usageToday":{"date":"2026-03-01","requests":{"create":0,"read":1,"step":0},"simulationsCreated":0,"ticksComputed":0}}"#)
        }
    }
}

@Suite struct WorkBudgetTests {
    @Test func ruinousProphecySettingsAreRefusedNotRun() async throws {
        let server = TestServer()
        let key = try await server.key()
        try await server.test { client in
            let deep = #"{"scenario": {"seed": 1, "agents": [{"id": "m"}], "initialState": {"stability": 0.8}, "settings": {"prophecyInterval": 1, "prophecyHorizon": 10000, "recursionDepth": 3}}}"#
            let refused = try await client.send(.post, "/v1/simulations", key: key, body: deep)
            #expect(refused.status == .badRequest)
            #expect(try refused.json["error"]?["details"]?["issues"]?.arrayValue?.first?["path"] == "scenario.settings")
            let costly = #"{"scenario": {"seed": 1, "agents": [{"id": "m"}], "initialState": {"stability": 0.8}, "settings": {"prophecyInterval": 1, "prophecyHorizon": 10000, "recursionDepth": 1}}, "ticks": 10000}"#
            let tooMany = try await client.send(.post, "/v1/simulations/run", key: key, body: costly)
            #expect(tooMany.status == .badRequest)
            #expect(try tooMany.json["error"]?["details"]?["issues"]?.arrayValue?.first?["path"] == "ticks")
        }
        // The catalog's heaviest scenario runs 10 000 ticks in one request.
        let heaviestAgents = try #require(ScenarioCatalog.all.map { $0.scenario.agents.count }.max())
        #expect(SimulationDriver.maxTicks(of: try #require(ScenarioCatalog.all.first { $0.scenario.agents.count == heaviestAgents }).scenario)
            == SimulationLimits.maxTicks, "every catalog scenario reaches 100 000 ticks")
        #expect((heaviestAgents + 1) * 10_000 <= SimulationDriver.stepRecordBudgetPerRequest)
        let heaviest = try #require(ScenarioCatalog.all.map { SimulationDriver.workPerTick($0.scenario) }.max())
        #expect(heaviest * 10_000 <= SimulationDriver.workBudgetPerRequest)
    }
}

extension WorkBudgetTests {
    static func agents(_ n: Int) -> String {
        (0 ..< n).map { #"{"id": "a\#($0)", "state": {"capability": 10, "alignment": 0.9, "guardrail": 0.8}}"# }.joined(separator: ",")
    }

    /// 999 agents × 10 000 ticks is valid by the schema but would be ~1.5 GB of NDJSON (it used
    /// to crash the server: SQLite refuses a blob over 1 GB and GRDB traps): refused up front
    /// with the most ticks allowed. A simulation of 999 agents holds at most 4 000 ticks.
    @Test func requestsOverTheStepRecordBudgetsAreRefusedWithTheLimit() async throws {
        let server = TestServer()
        let key = try await server.key()
        try await server.test { client in
            let refused = try await client.send(.post, "/v1/simulations/run", key: key, body: #"{"scenario": \#(Self.crowd), "ticks": 10000}"#)
            #expect(refused.status == .badRequest)
            let issue = try #require(try refused.json["error"]?["details"]?["issues"]?.arrayValue?.first)
            #expect(issue["path"] == "ticks")
            #expect(issue["message"]?.stringValue?.contains("at most 2000 ticks") == true, "\(issue)")
            let created = try await client.send(.post, "/v1/simulations", key: key, body: #"{"scenario": \#(Self.crowd)}"#)
            let id = try #require(try created.json["id"]?.stringValue)
            #expect(try await client.send(.post, "/v1/simulations/\(id)/step", key: key, body: #"{"ticks": 2001}"#).status == .badRequest)
            let past = try await client.send(.post, "/v1/simulations/\(id)/step", key: key, body: #"{"ticks": 4001}"#)
            #expect(past.status == .badRequest)
            #expect(try past.json["error"]?["details"]?["issues"]?.arrayValue?.first?["message"]?.stringValue?
                .contains("it may hold at most 4000 ticks (with 999 agents") == true, "\(past.text)")
            #expect(try await client.send(.post, "/v1/simulations/\(id)/step", key: key, body: #"{"ticks": 10}"#).status == .ok)
            #expect(try await client.send(.post, "/v1/simulations/\(id)/fork", key: key, body: #"{"tick": 5}"#).status == .created)
        }
        #expect(SimulationDriver.maxTicks(of: try ScenarioValidator.validate(try JSONParser.parse(Self.crowd))) == 4000)
    }

    static let crowd = #"{"seed": 1, "agents": [\#(agents(999))], "initialState": {"stability": 0.9, "basin": 10}}"#

    /// At the limits it runs: 2 000 ticks of 999 agents in one request; a fork copying more than
    /// 2 000 000 stored step records is refused; playing completes the simulation at its own last
    /// tick, 4 000 (heavy: 4 × 10^6 step records). On a `kairos serve` child process: computed in
    /// this test process, that much engine work held cooperative threads for seconds and starved
    /// the other suites' WebSocket pongs.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["KAIROS_HEAVY_TESTS"] == "1"))
    func atTheLimitsItRunsAndPlaybackCompletesAtTheSimulationsLastTick() async throws {
        let db = LiveServerTests.temporaryDatabase()
        defer { LiveServerTests.removeDatabase(db) }
        let key = try LiveServerTests.createKey(database: db, ["--tier", "enterprise", "--scopes", "simulation:read,simulation:write"])
        let server = try await LiveServerTests.ServerProcess.start(database: db, arguments: ["--rate-limit-multiplier", "100"])
        defer { server.stop() }
        let auth = LiveServerTests.keyed(key)
        func send(_ method: HTTPRequest.Method, _ path: String, _ body: String? = nil, ndjson: Bool = false) async throws
            -> LiveServerTests.LiveResponse
        {
            var headers = auth
            if ndjson { headers[.accept] = "application/x-ndjson" }
            // A debug server computes 2 000 ticks of 999 agents in tens of seconds on a loaded machine.
            return try await LiveServerTests.request(server.port, method, path, headers: headers, body: body, timeout: .seconds(300))
        }
        let created = try await send(.post, "/v1/simulations", #"{"scenario": \#(Self.crowd)}"#)
        let id = try #require(try created.json["id"]?.stringValue)
        #expect(try await send(.post, "/v1/simulations/\(id)/step", #"{"ticks": 2000}"#).status == 200)
        #expect(try await send(.post, "/v1/simulations/\(id)/step", #"{"ticks": 1}"#).status == 200)
        // 1 000 agents store their trace, so a fork copies it: over the budget at 2 001 ticks.
        let fork = try await send(.post, "/v1/simulations/\(id)/fork", #"{"tick": 2001}"#)
        #expect(fork.status == 400)
        #expect(try fork.json["error"]?["details"]?["issues"]?.arrayValue?.first?["path"] == "ticks")
        // The stored trace's last tick (the whole one is ~311 MB).
        let trace = try await send(.get, "/v1/simulations/\(id)/trace?fromTick=2000", ndjson: true)
        #expect(trace.bytes.count(where: { $0 == 0x0A }) == 1)
        #expect(try JSONParser.parse(Array(trace.bytes.dropLast()))["tick"] == 2000)
        #expect(try await send(.post, "/v1/simulations/\(id)/step", #"{"ticks": 1998}"#).status == 200)
        let play = try await send(.put, "/v1/simulations/\(id)/time-control", #"{"action": "play", "speed": 10}"#)
        #expect(play.status == 200)
        #expect(try await eventually(60) { try await send(.get, "/v1/simulations/\(id)").json["status"] == "completed" })
        #expect(try await send(.get, "/v1/simulations/\(id)").json["tick"] == 4000)
        let more = try await send(.post, "/v1/simulations/\(id)/step", #"{"ticks": 1}"#)
        #expect(more.status == 400)
        #expect(String(decoding: more.bytes, as: UTF8.self).contains("completed at tick 4000"))
    }
}

@Suite struct ProphecyResolutionTests {
    /// API.md names averted, fulfilled and open; a prophecy that foresaw no loss, followed by a
    /// loss within its horizon (here forced by a decree), needs a fourth: refuted.
    @Test func aDecreedShockRefutesACalmProphecy() async throws {
        let server = TestServer()
        let key = try await server.key()
        try await server.test { client in
            let id = try await client.createSimulation(key: key, scenarioId: "single-model-baseline")
            _ = try await client.send(.post, "/v1/simulations/\(id)/step", key: key, body: #"{"ticks": 51}"#)
            _ = try await client.send(.post, "/v1/simulations/\(id)/decrees", key: key, body: #"{"kind": "shock", "magnitude": 1}"#)
            _ = try await client.send(.post, "/v1/simulations/\(id)/step", key: key, body: #"{"ticks": 5}"#)
            let list = try #require(try await client.send(.get, "/v1/simulations/\(id)/prophecies", key: key).json["data"]?.arrayValue)
            let first = try #require(list.first)
            #expect(first["tick"] == 50)
            #expect(first["predictedLoss"] == .null)
            #expect(first["lossTick"] == 51)
            #expect(first["resolution"] == "refuted")
        }
    }
}

@Suite struct OverflowTests {
    static func body(engine: String?) -> String {
        let events = (0 ..< 40).map { #"{"tick": \#($0), "kind": "capability_jump", "target": "m", "magnitude": 10}"# }
        let pin = engine.map { #", "engineVersion": "\#($0)""# } ?? ""
        return #"{"scenario": {"seed": 1, "agents": [{"id": "m", "state": {"capability": 1000000, "alignment": 0.5, "guardrail": 0.5}, "growth": 0.001}], "initialState": {"stability": 0.8}, "events": [\#(events.joined(separator: ","))]}, "ticks": 50\#(pin)}"#
    }

    /// Valid input by ENGINE.md's ranges whose capability overflows binary64 by tick 8 on
    /// engine 1.0.0: the step is refused, as before engine 1.1.0 existed.
    @Test func overflowingCapabilityIsRefusedNotStoredAsNull() async throws {
        let server = TestServer()
        let key = try await server.key()
        try await server.test { client in
            let r = try await client.send(.post, "/v1/simulations/run", key: key, body: Self.body(engine: "1.0.0"))
            #expect(r.status == .badRequest)
            #expect(try r.json["error"]?["details"]?["issues"]?.arrayValue?.first?["path"] == "ticks")
            let list = try await client.send(.get, "/v1/simulations", key: key)
            #expect(try list.json["pagination"]?["total"] == 0, "nothing was stored")
        }
    }

    /// On 1.1.0 (named, or the default) the same request runs: jumps are clamped at CLIM.
    @Test func theSameRequestRunsOnVersion110() async throws {
        let server = TestServer()
        let key = try await server.key()
        try await server.test { client in
            for engine in ["1.1.0", nil] {
                let r = try await client.send(.post, "/v1/simulations/run", key: key, body: Self.body(engine: engine))
                #expect(r.status == .ok)
                #expect(try r.json["engineVersion"] == "1.1.0")
                let steps = try #require(try r.json["trace"]?["steps"]?.arrayValue)
                #expect(steps.count == 50)
                for step in steps {
                    let c = try #require(step["agents"]?.arrayValue?.first?["state"]?["capability"]?.numberValue)
                    #expect(c >= 0 && c <= 1_000_000)
                }
            }
        }
    }
}
