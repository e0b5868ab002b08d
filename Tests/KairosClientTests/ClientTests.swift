import Foundation
import KairosAPI
import KairosEngine
import Synchronization
import Testing
@testable import KairosClient

/// Records the client's sleeps instead of sleeping.
final class SleepLog: Sendable {
    private let delays = Mutex<[Double]>([])
    var values: [Double] { delays.withLock { $0 } }
    var hooks: KairosClient.Hooks {
        KairosClient.Hooks(sleep: { [self] seconds in delays.withLock { $0.append(seconds) } }, random: { 0.5 })
    }
}

func withFaultServer<T>(_ body: (FaultServer) async throws -> T) async throws -> T {
    let server = try await FaultServer()
    defer { server.stop() }
    return try await body(server)
}

func client(_ server: FaultServer, _ sleeps: SleepLog, maxRetries: Int = 3, retryBackoff: Double = 0.25,
            engineVersion: String? = nil, idempotencyKeys: Bool = true) throws -> KairosClient {
    try KairosClient(url: server.url, apiKey: "krs_test", timeout: 10, engineVersion: engineVersion, maxRetries: maxRetries,
                     retryBackoff: retryBackoff, idempotencyKeys: idempotencyKeys, environment: [:], hooks: sleeps.hooks)
}

/// The seed's sweep scenario for one capability.
func sweepScenario(_ capability: Int) -> AISafetyScenario {
    AISafetyScenario("sweep_\(capability)", seed: UInt64(capability))
        .addModel(name: "model", capabilityIndex: Double(capability), alignmentScore: 70, guardrailCoverage: 60)
        .addEvent(100, .capabilityJump, target: "model", magnitude: 0.3)
}

@Suite struct FaultInjectionTests {
    @Test func rateLimitWaitsRetryAfterThenSucceeds() async throws {
        try await withFaultServer { server in
            server.queue("run", .status(429, code: "RATE_LIMITED", retryAfter: "7"))
            let sleeps = SleepLog()
            let trace = try await client(server, sleeps).run(scenario: sweepScenario(550), ticks: 200)
            #expect(sleeps.values == [7])
            #expect(trace.steps.count == 200)
            #expect(trace.metadata.digest == Trace.run(sweepScenario(550).input.lowered(), ticks: 200)!.metadata.digest)
            let runs = server.seen.filter { $0.path == "/v1/simulations/run" }
            #expect(runs.count == 2)
            #expect(runs[0].idempotencyKey != nil && runs[0].idempotencyKey == runs[1].idempotencyKey)
        }
    }

    @Test func badGatewayAndUnavailableAreRetriedWithBackoff() async throws {
        try await withFaultServer { server in
            server.queue("run", .status(502, code: "INTERNAL_ERROR"), .status(503, code: "INTERNAL_ERROR"))
            let sleeps = SleepLog()
            let trace = try await client(server, sleeps, retryBackoff: 0.25).run(scenario: ScenarioSource.catalog("capability-divergence"), ticks: 50)
            #expect(trace.steps.count == 50)
            // 0.25 × 2ⁿ plus jitter 0.5 × 0.25.
            #expect(sleeps.values == [0.25 + 0.125, 0.5 + 0.125])
            #expect(server.created.count == 1)
        }
    }

    @Test func retriesRunOutAsRateLimitError() async throws {
        try await withFaultServer { server in
            for _ in 0 ..< 3 { server.queue("run", .status(429, code: "RATE_LIMITED", retryAfter: "2")) }
            let sleeps = SleepLog()
            do {
                _ = try await client(server, sleeps, maxRetries: 2).run(scenario: ScenarioSource.catalog("capability-divergence"), ticks: 5)
                Issue.record("expected RateLimitError")
            } catch let error as RateLimitError {
                #expect(error.retryAfter == 2)
                #expect(error.status == 429)
                #expect(error.code == "RATE_LIMITED")
                #expect(error.requestId == "req-fault")
            }
            #expect(sleeps.values == [2, 2])
            #expect(server.seen.count == 3)
        }
    }

    @Test func createWhoseConnectionDroppedIsNotDuplicated() async throws {
        try await withFaultServer { server in
            server.queue("create", .dropAfterProcessing)
            let sleeps = SleepLog()
            let sim = try await client(server, sleeps).createSimulation(ScenarioSource.catalog("capability-divergence"))
            #expect(server.created == [sim.id])
            let creates = server.seen.filter { $0.path == "/v1/simulations" }
            #expect(creates.count == 2)
            #expect(creates[0].idempotencyKey != nil && creates[0].idempotencyKey == creates[1].idempotencyKey)
            #expect(sleeps.values.count == 1)
        }
    }

    @Test func withoutIdempotencyKeysADroppedCreateIsNotRetried() async throws {
        try await withFaultServer { server in
            server.queue("create", .dropAfterProcessing)
            let sleeps = SleepLog()
            await #expect(throws: ConnectionError.self) {
                _ = try await client(server, sleeps, idempotencyKeys: false).createSimulation(ScenarioSource.catalog("capability-divergence"))
            }
            #expect(server.seen.count == 1)
            #expect(server.seen[0].idempotencyKey == nil)
            #expect(sleeps.values.isEmpty)
        }
    }

    @Test func pinnedEngineVersionRefusedListsTheOfferedOnes() async throws {
        try await withFaultServer { server in
            let sleeps = SleepLog()
            do {
                _ = try await client(server, sleeps, engineVersion: "0.9.0").run(scenario: sweepScenario(100), ticks: 10)
                Issue.record("expected EngineVersionError")
            } catch let error as EngineVersionError {
                #expect(error.requested == "0.9.0")
                #expect(error.available == EngineRegistry.available.map(\.description))
                #expect(error.status == 400)
                #expect(error.code == "ENGINE_VERSION_UNAVAILABLE")
                #expect(error.description.contains("1.0.0"))
            }
            #expect(sleeps.values.isEmpty)
        }
    }

    @Test func engineVersionsComeFromHealthWhenTheErrorOmitsThem() async throws {
        try await withFaultServer { server in
            server.queue("run", .status(400, code: "ENGINE_VERSION_UNAVAILABLE"))
            do {
                _ = try await client(server, SleepLog(), engineVersion: "1.0.0").run(scenario: sweepScenario(100), ticks: 10)
                Issue.record("expected EngineVersionError")
            } catch let error as EngineVersionError {
                #expect(error.requested == "1.0.0")
                #expect(error.available == EngineRegistry.available.map(\.description))
            }
            #expect(server.seen.map(\.path) == ["/v1/simulations/run", "/v1/health"])
        }
    }

    @Test func idempotencyKeyReuseIsNeverRetried() async throws {
        try await withFaultServer { server in
            server.queue("run", .status(409, code: "IDEMPOTENCY_KEY_REUSE"))
            let sleeps = SleepLog()
            await #expect(throws: IdempotencyError.self) {
                _ = try await client(server, sleeps).run(scenario: sweepScenario(100), ticks: 10)
            }
            #expect(server.seen.count == 1)
            #expect(sleeps.values.isEmpty)
        }
    }

    @Test func requestInProgressIsRetried() async throws {
        try await withFaultServer { server in
            server.queue("run", .status(409, code: "IDEMPOTENCY_REQUEST_IN_PROGRESS"))
            let sleeps = SleepLog()
            let trace = try await client(server, sleeps).run(scenario: sweepScenario(100), ticks: 10)
            #expect(trace.steps.count == 10)
            #expect(sleeps.values.count == 1)
        }
    }

    @Test func errorsAreTypedWithStatusCodeAndRequestId() async throws {
        try await withFaultServer { server in
            server.queue("health", .status(401, code: "UNAUTHORIZED"), .status(403, code: "FORBIDDEN"), .status(500, code: "INTERNAL_ERROR"))
            let c = try client(server, SleepLog())
            await #expect(throws: AuthenticationError.self) { _ = try await c.health() }
            await #expect(throws: PermissionError.self) { _ = try await c.health() }
            do {
                _ = try await c.health()
                Issue.record("expected SimulationError")
            } catch let error as SimulationError {
                #expect(error.status == 500 && error.code == "INTERNAL_ERROR" && error.requestId == "req-fault")
            }
            #expect(try await c.health().engineVersions == EngineRegistry.available)
        }
    }

    @Test func invalidScenarioIsRefusedBeforeAnyRequest() async throws {
        try await withFaultServer { server in
            let bad = AISafetyScenario("bad", seed: 1)
                .addModel(name: "model", capabilityIndex: 500, alignmentScore: 150, guardrailCoverage: 60)
            do {
                _ = try await client(server, SleepLog()).run(scenario: bad, ticks: 10)
                Issue.record("expected ValidationError")
            } catch let error as ValidationError {
                #expect(error.status == nil)
                #expect(error.issues.map(\.path) == ["input.models[0].alignment_score"])
            }
            await #expect(throws: ValidationError.self) {
                _ = try await client(server, SleepLog()).run(scenario: sweepScenario(100), ticks: 20000)
            }
            #expect(server.seen.isEmpty)
        }
    }

    /// A server that is not there fails within the connect timeout, without retries (nothing
    /// was sent; waiting again only delays the report).
    @Test func connectionRefusedFailsFastWithoutRetries() async throws {
        let sleeps = SleepLog()
        // A port nothing listens on any more.
        let server = try await FaultServer()
        server.stop()
        try await Task.sleep(nanoseconds: 200_000_000)
        let c = try KairosClient(url: server.url, timeout: 30, connectTimeout: 1, maxRetries: 3, environment: [:], hooks: sleeps.hooks)
        let started = ContinuousClock.now
        await #expect(throws: ConnectionError.self) { _ = try await c.health() }
        // The default connect timeout of async-http-client's shared client is 90 s.
        #expect(ContinuousClock.now - started < .seconds(20))
        #expect(sleeps.values.isEmpty)
        do {
            _ = try await c.health()
        } catch let error as ConnectionError {
            #expect(error.message.contains("cannot connect to"), "\(error.message)")
            #expect(error.message.contains("connection refused"), "\(error.message)")
        }
    }

    @Test func connectTimeoutComesFromTheEnvironment() throws {
        #expect(try KairosClient(environment: [:]).connectTimeout == 5)
        #expect(try KairosClient(environment: ["KAIROS_CONNECT_TIMEOUT": "2.5"]).connectTimeout == 2.5)
        #expect(throws: ConfigurationError.self) { _ = try KairosClient(environment: ["KAIROS_CONNECT_TIMEOUT": "soon"]) }
        #expect(throws: ConfigurationError.self) { _ = try KairosClient(connectTimeout: 0, environment: [:]) }
    }

    @Test func eventsResumeAfterDropsWithNothingLostOrRepeated() async throws {
        try await withFaultServer { server in
            server.queue("events", .dropEventsAfter(10), .dropEventsAfter(25))
            let sleeps = SleepLog()
            var received: [SimulationEvent] = []
            for try await event in try client(server, sleeps).events(simulationId: "sim-1") { received.append(event) }
            var expected = server.eventSteps.flatMap { SimulationEvent.events(of: $0) }
            expected.append(SimulationEvent(id: SimulationEventID(tick: 40, index: 0), kind: .status,
                                            data: .object(["status": "completed", "tick": 40])))
            // Data compared canonically (the parsed objects keep the wire's key order).
            func canonical(_ events: [SimulationEvent]) -> [String] {
                events.map { "\($0.id!) \($0.kind.rawValue) \(CanonicalJSON.string($0.data ?? .null))" }
            }
            #expect(canonical(received) == canonical(expected))
            // Reconnected twice, each time after the last event delivered (none when a drop
            // lost every event of its connection).
            let requests = server.seen.filter { $0.path.hasSuffix("/events") }
            #expect(requests.count == 3)
            #expect(requests[0].lastEventId == nil)
            let resumedFrom = requests.dropFirst().compactMap { $0.lastEventId.flatMap(SimulationEventID.init) }
            #expect(!resumedFrom.isEmpty && resumedFrom == resumedFrom.sorted())
            #expect(resumedFrom.allSatisfy { id in received.contains { $0.id == id } })
        }
    }

    @Test func streamRunYieldsTheEngineStepsAndChecksTheDigest() async throws {
        try await withFaultServer { server in
            let c = try client(server, SleepLog())
            let expected = Trace.run(sweepScenario(700).input.lowered(), ticks: 3000)!
            var iterator = try c.streamRun(scenario: sweepScenario(700), ticks: 3000).makeAsyncIterator()
            var steps: [TraceStep] = []
            while let step = try await iterator.next() { steps.append(step) }
            #expect(steps == Array(expected.steps))
            #expect(iterator.completion == RunStreamCompletion(simulationId: "ws-sim", digest: expected.metadata.digest))
            // This server predates `stepsPerFrame`: the client asked again for one step a frame.
            #expect(server.refusedRequests == 1)
        }
    }

    @Test func streamRunIsPulledNotPushed() async throws {
        try await withFaultServer { server in
            let c = try client(server, SleepLog())
            var iterator = try c.streamRun(scenario: sweepScenario(700), ticks: 200_000).makeAsyncIterator()
            for _ in 0 ..< 10 { _ = try await iterator.next() }
            // The server is held back by the reader: once the socket buffers are full (however
            // long that takes on a loaded machine) it stops sending, well before the run's end.
            var sent = server.framesSent
            var stalled = false
            for _ in 0 ..< 20 {
                try await Task.sleep(nanoseconds: 500_000_000)
                let now = server.framesSent
                if now == sent { stalled = true; break }
                sent = now
            }
            #expect(stalled, "the server kept sending: \(server.framesSent) frames")
            #expect(server.framesSent < 150_000, "\(server.framesSent) frames sent")
        }
    }

    @Test func streamRunErrorsAreTyped() async throws {
        try await withFaultServer { server in
            let c = try client(server, SleepLog())
            server.queue("stream", .status(400, code: "VALIDATION_ERROR"), .wrongDigest)
            await #expect(throws: ValidationError.self) {
                for try await _ in try c.streamRun(scenario: sweepScenario(700), ticks: 10) {}
            }
            await #expect(throws: ConnectionError.self) {
                for try await _ in try c.streamRun(scenario: sweepScenario(700), ticks: 10) {}
            }
            #expect(throws: ValidationError.self) { _ = try c.streamRun(scenario: sweepScenario(700), ticks: 2_000_000) }
        }
    }

    @Test func blockingCallsWorkWithoutAnAsyncContext() throws {
        let result = Mutex<Int?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            let steps = try? runBlocking {
                try await withFaultServer { server in
                    try await client(server, SleepLog()).run(scenario: sweepScenario(300), ticks: 30).steps.count
                }
            }
            result.withLock { $0 = steps }
            done.signal()
        }
        done.wait()
        #expect(result.withLock { $0 } == 30)
    }
}

@Suite struct ClientUnitTests {
    @Test func serverSentEventParserFollowsTheStandard() {
        var p = ServerSentEventParser()
        var events = p.feed(Array("id: 1-0\r\nevent: tick\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\n: comment\n\nevent: heartbeat\ndata:\n".utf8))
        events += p.feed(Array("\nid: 2-0\nevent: loss\ndata: x".utf8))
        #expect(events == [
            .init(id: "1-0", event: "tick", data: "{\"a\":\n1}"),
            .init(id: "1-0", event: "heartbeat", data: ""),
        ])
        events = p.feed(Array("\n\n".utf8))
        #expect(events == [.init(id: "2-0", event: "loss", data: "x")])
    }

    @Test func urlAndEnvironment() throws {
        let c = try KairosClient(environment: ["KAIROS_URL": "https://api.example.org/", "KAIROS_API_KEY": "krs_env"])
        #expect(c.baseURL == "https://api.example.org/v1")
        #expect(c.apiKey == "krs_env")
        #expect(c.webSocketURL == "wss://api.example.org/v1/simulations/run/stream")
        #expect(try KairosClient(url: "http://h:1/v1", environment: [:]).baseURL == "http://h:1/v1")
        #expect(try KairosClient(environment: [:]).baseURL == "http://127.0.0.1:8080/v1")
        #expect(throws: ConfigurationError.self) { try KairosClient(url: "ftp://x", environment: [:]) }
        #expect(throws: ConfigurationError.self) { try KairosClient(engineVersion: "latest", environment: [:]) }
        #expect(throws: ConfigurationError.self) { try KairosClient(apiKey: "krs_a", token: "jwt", environment: [:]) }
        let bearer = try KairosClient(environment: ["KAIROS_TOKEN": "jwt"])
        #expect(bearer.apiKey == nil && bearer.token == "jwt")
        #expect(bearer.request(.init(method: .GET, path: "/health"), idempotencyKey: nil).headers.first(name: "Authorization") == "Bearer jwt")
    }

    @Test func compiledScenariosKeepTheirTicks() throws {
        let source = try ScenarioSource(compiled: #"{"domain":"ai-safety","input":{"seed":3,"models":[{"name":"m","capabilityIndex":400,"alignmentScore":70,"guardrailCoverage":60}]},"ticks":77}"#)
        #expect(source.compiledTicks == 77)
        #expect(source.isDomain)
        #expect(throws: ValidationError.self) { try ScenarioSource(compiled: "{}") }
    }
}
