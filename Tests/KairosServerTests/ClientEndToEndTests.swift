import Foundation
import KairosAPI
import KairosClient
import KairosEngine
import KairosRemote
import KairosScript
import Synchronization
import KairosTestSupport
import Testing

/// The client and the remote script target against a real `kairos serve` (the CLI's keys,
/// `--rate-limit-multiplier` so concurrent sweeps are not throttled): every example gives
/// the embedded engine's output and digests, the seed's sweep matches row for row, engine
/// pins are refused with the versions offered, live events arrive over SSE.
@Suite(.serialized) struct ClientEndToEndTests {
    /// A server with a fresh database and an enterprise key with every scope.
    final class LiveServer: Sendable {
        let database: String
        let server: LiveServerTests.ServerProcess
        let key: String
        var url: String { "http://127.0.0.1:\(server.port)" }

        init(tier: String = "enterprise", rateLimitMultiplier: Int = 100) throws {
            database = LiveServerTests.temporaryDatabase()
            key = try LiveServerTests.createKey(database: database,
                                                ["--tier", tier, "--scopes", "simulation:read,simulation:write,org:read,usage:read"])
            server = try LiveServerTests.ServerProcess(database: database,
                                                       arguments: ["--rate-limit-multiplier", String(rateLimitMultiplier)])
        }

        func client(engineVersion: String? = nil) throws -> KairosClient {
            try KairosClient(url: url, apiKey: key, engineVersion: engineVersion, environment: [:])
        }

        deinit {
            server.stop()
            LiveServerTests.removeDatabase(database)
        }
    }

    /// Every trace digest a script's runs, streams and live simulations produce.
    final class DigestLog: @unchecked Sendable {
        private let lock = Mutex<[String]>([])
        func add(_ digest: String) { lock.withLock { $0.append(digest) } }
        var digests: [String] { lock.withLock { $0 } }
    }

    /// A backend that records digests of what another returns.
    struct Recording: SimulationBackend {
        let inner: any SimulationBackend
        let log: DigestLog

        func run(_ requests: [RunRequest], cancellation: CancellationFlag) -> [Result<TraceValue, BackendError>] {
            let results = inner.run(requests, cancellation: cancellation)
            for case .success(let t) in results {
                #expect(TraceDigest.of(t.trace.steps) == t.trace.metadata.digest)
                log.add("run " + t.trace.metadata.digest)
            }
            return results
        }

        func stream(_ request: RunRequest) throws(BackendError) -> any StepStream {
            RecordingStream(inner: try inner.stream(request), log: log)
        }

        func start(_ request: RunRequest) throws(BackendError) -> any LiveSimulation {
            RecordingLive(inner: try inner.start(request), log: log)
        }

        func fork(_ origin: TraceOrigin, simulationId: String?, at tick: Int) throws(BackendError) -> any LiveSimulation {
            log.add("fork at \(tick)")
            return RecordingLive(inner: try inner.fork(origin, simulationId: simulationId, at: tick), log: log)
        }
    }

    final class RecordingStream: StepStream {
        let inner: any StepStream
        let log: DigestLog
        var digest = TraceDigest()
        init(inner: any StepStream, log: DigestLog) {
            self.inner = inner
            self.log = log
        }

        func next() throws(BackendError) -> TraceStep? {
            let step = try inner.next()
            if let step { digest.add(step: step) }
            return step
        }

        deinit { log.add("stream " + digest.finalize()) }
    }

    final class RecordingLive: LiveSimulation {
        let inner: any LiveSimulation
        let log: DigestLog
        var digest = TraceDigest()
        init(inner: any LiveSimulation, log: DigestLog) {
            self.inner = inner
            self.log = log
        }

        var engineVersion: EngineVersion { inner.engineVersion }
        var tick: Int { inner.tick }
        func step(_ count: Int) throws(BackendError) -> [TraceStep] {
            let steps = try inner.step(count)
            for s in steps { digest.add(step: s) }
            return steps
        }

        func submit(_ decree: Action) throws(BackendError) -> Int {
            let tick = try inner.submit(decree)
            log.add("decree at \(tick)")
            return tick
        }

        func snapshot() throws(BackendError) -> SimulationSnapshot { try inner.snapshot() }

        func fork(at tick: Int) throws(BackendError) -> any LiveSimulation {
            log.add("fork at \(tick)")
            return RecordingLive(inner: try inner.fork(at: tick), log: log)
        }

        deinit { log.add("live " + digest.finalize()) }
    }

    /// Output and digests of `source` on the embedded engine, or remotely at `url`.
    /// Blocking interpreter code runs off the cooperative pool, so the remote backend's tasks
    /// never wait for a pool thread it holds.
    static func runScript(_ source: String, name: String, remote url: String?, key: String) async throws
        -> (output: String, diagnostics: [String], digests: [String])
    {
        try await offCooperativePool {
            let log = DigestLog()
            let out = CollectedOutput()
            let interpreter = Interpreter(output: out, backend: Recording(inner: EmbeddedBackend(), log: log))
            let factory = RemoteBackend.factory(environment: ["KAIROS_API_KEY": key])
            interpreter.remoteBackend = { url in factory(url).map { Recording(inner: $0, log: log) } }
            // `args` as the CLI binds it: where an example that saves a figure writes it.
            // (the same path for both runs of an example: it is part of the compared output).
            let figure = FileManager.default.temporaryDirectory.appendingPathComponent("kairos-e2e-\(name).svg")
            defer { try? FileManager.default.removeItem(at: figure) }
            interpreter.define("args", .list([.string(figure.path)]))
            var diagnostics: [String] = []
            if let url {
                diagnostics += interpreter.evaluate(source: "use remote \"\(url)\"", fileName: "<remote>").diagnostics.map(\.description)
            }
            diagnostics += interpreter.evaluate(source: source, fileName: name).diagnostics.map(\.description)
            return (out.text, diagnostics, log.digests)
        }
    }

    static var examples: [URL] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let dir = root.appendingPathComponent("examples")
        let files = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return files.filter { $0.hasSuffix(".krs") }.sorted().map { dir.appendingPathComponent($0) }
    }

    @Test func everyExampleGivesTheEmbeddedOutputAndDigestsRemotely() async throws {
        let live = try LiveServer()
        #expect(Self.examples.count >= 7)
        for file in Self.examples {
            let source = try String(contentsOf: file, encoding: .utf8)
            let name = file.lastPathComponent
            let embedded = try await Self.runScript(source, name: name, remote: nil, key: live.key)
            let remote = try await Self.runScript(source, name: name, remote: live.url, key: live.key)
            #expect(embedded.diagnostics.isEmpty, "\(name): \(embedded.diagnostics)")
            #expect(remote.diagnostics.isEmpty, "\(name) remote: \(remote.diagnostics)")
            #expect(!embedded.digests.isEmpty, "\(name) ran nothing")
            #expect(remote.digests == embedded.digests, "\(name)")
            #expect(remote.output == embedded.output, "\(name)")
        }
    }

    @Test func runRemoteFlagOfTheCommandLine() async throws {
        let live = try LiveServer()
        let file = Self.examples.first { $0.lastPathComponent == "capability_sweep.krs" }!.path
        let embedded = try LiveServerTests.cli(["run", file])
        let remote = try LiveServerTests.cli(["run", "--remote", live.url, file], environment: ["KAIROS_API_KEY": live.key])
        #expect(remote.status == 0 && embedded.status == 0)
        #expect(remote.output == embedded.output)
        #expect(remote.output.split(separator: "\n").count == 51)
        #expect(try await live.client().listSimulations(limit: 1).total == 51)
        let refused = try LiveServerTests.cli(["run", "--remote", live.url, file], environment: ["KAIROS_API_KEY": "krs_wrong"])
        #expect(refused.status == 1)
    }

    @Test func seedCapabilitySweepMatchesEmbeddedRowForRow() async throws {
        let live = try LiveServer()
        let client = try live.client()
        let capabilities = Array(stride(from: 100, through: 1000, by: 18))
        #expect(capabilities.count == 51)
        func scenario(_ cap: Int) -> AISafetyScenario {
            AISafetyScenario("sweep_\(cap)", seed: UInt64(cap))
                .addModel(name: "model", capabilityIndex: Double(cap), alignmentScore: 70, guardrailCoverage: 60)
                .addEvent(100, .capabilityJump, target: "model", magnitude: 0.3)
        }
        func row(_ cap: Int, _ trace: Trace) -> String {
            "cap=\(cap) phase=\(trace.finalPhase()!.rawValue) stability=\(String(format: "%.4f", trace.meanStability()!)) "
                + "losses=\(trace.basinLosses().count) digest=\(trace.metadata.digest)"
        }
        // All 51 at once, as the seed's asyncio.gather.
        let remote = try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for cap in capabilities {
                group.addTask { (cap, row(cap, try await client.run(scenario: scenario(cap), ticks: 500))) }
            }
            var rows: [Int: String] = [:]
            for try await (cap, line) in group { rows[cap] = line }
            return capabilities.map { rows[$0]! }
        }
        let embedded = capabilities.map { row($0, Trace.run(scenario($0).input.lowered(), ticks: 500)!) }
        #expect(remote == embedded)
        #expect(remote.first?.hasPrefix("cap=100 phase=stable stability=0.9316 losses=0") == true)
        #expect(remote.last?.hasPrefix("cap=1000 phase=collapsed stability=0.1772 losses=1") == true)
        let page = try await client.listSimulations(limit: 1)
        #expect(page.total == 51)
    }

    @Test func endpointsAndErrorsAgainstTheRealServer() async throws {
        let live = try LiveServer()
        let client = try live.client()
        let health = try await client.health()
        #expect(health.engineVersions == EngineRegistry.available)
        #expect(try await client.scenarios().map(\.id) == ScenarioCatalog.all.map(\.id))
        #expect(try await client.organization().tier == .enterprise)
        #expect(try await client.openAPIDocument()["openapi"]?.stringValue?.hasPrefix("3.1") == true)
        #expect(try await client.referencePage().contains("<html"))

        let ndjson500 = try await client.runSteps(ScenarioSource.catalog("capability-divergence"), ticks: 500)
        #expect(ndjson500.digest == (try engineDigest(scenarioId: "capability-divergence", ticks: 500)))
        #expect(ndjson500.steps.count == 500 && !ndjson500.simulationId.isEmpty)

        let sim = try await client.createSimulation(ScenarioSource.catalog("capability-divergence"))
        #expect(sim.tick == 0)
        let stepped = try await client.step(simulationId: sim.id, ticks: 40)
        #expect(stepped.tick == 40)
        let decree = try await client.submitDecree(simulationId: sim.id, Action(kind: .shock, magnitude: 0.2))
        #expect(decree.tick == 40)
        let ack = try await client.setAgentPolicy(simulationId: sim.id, agentId: "frontier_model", lambda: 0.7)
        #expect(ack.tick == 40)
        _ = try await client.step(simulationId: sim.id, ticks: 10)
        let trace = try await client.trace(simulationId: sim.id)
        let ndjson = try await client.traceSteps(simulationId: sim.id)
        #expect(trace.steps.count == 50 && ndjson.steps == trace.steps && ndjson.digest == trace.metadata.digest)
        #expect(try await client.simulation(id: sim.id).tick == 50)
        _ = try await client.prophecies(simulationId: sim.id)
        let paused = try await client.timeControl(simulationId: sim.id, action: .step)
        #expect(paused.tick == 51)

        await #expect(throws: NotFoundError.self) { _ = try await client.simulation(id: "00000000-0000-0000-0000-000000000000") }
        let stranger = try KairosClient(url: live.url, apiKey: "krs_" + String(repeating: "x", count: 40), environment: [:])
        do {
            _ = try await stranger.listSimulations()
            Issue.record("expected AuthenticationError")
        } catch let error as AuthenticationError {
            #expect(error.status == 401 && error.code == "UNAUTHORIZED" && error.requestId?.isEmpty == false)
        }
        do {
            _ = try await live.client(engineVersion: "0.9.0").run(scenario: ScenarioSource.catalog("capability-divergence"), ticks: 10)
            Issue.record("expected EngineVersionError")
        } catch let error as EngineVersionError {
            #expect(error.available == EngineRegistry.available.map(\.description))
            #expect(error.status == 400 && error.requestId?.isEmpty == false)
        }
    }

    /// Seed 000's promise with two versions: a client pinned to 1.0.0 gets 1.0.0 traces from
    /// a server whose default is 1.1.0 (run, NDJSON, stream, stored simulation, remote script),
    /// an unpinned one gets 1.1.0, and each trace says which ran.
    @Test func aClientPinnedTo100GetsThe100DigestsFromA110Server() async throws {
        let live = try LiveServer()
        let scenario = ScenarioSource.catalog("capability-divergence")
        let native = try #require(ScenarioCatalog.scenario(id: "capability-divergence")).scenario
        let d100 = try #require(Trace.run(native, ticks: 500, version: EngineVersion(1, 0, 0))).metadata.digest
        let d110 = try #require(Trace.run(native, ticks: 500, version: EngineVersion(1, 1, 0))).metadata.digest
        #expect(d100 != d110)

        let health = try await live.client().health()
        #expect(health.engineVersions == [EngineVersion(1, 0, 0), EngineVersion(1, 1, 0)])
        #expect(health.defaultEngineVersion == EngineVersion(1, 1, 0))

        let pinned = try live.client(engineVersion: "1.0.0")
        let run = try await pinned.runSimulation(scenario, ticks: 500)
        #expect(run.engineVersion == EngineVersion(1, 0, 0))
        #expect(run.trace.metadata.engineVersion == EngineVersion(1, 0, 0))
        #expect(run.trace.metadata.digest == d100)
        #expect(try await pinned.runSteps(scenario, ticks: 500).digest == d100)
        var iterator = try pinned.streamRun(scenario: scenario, ticks: 500).makeAsyncIterator()
        while try await iterator.next() != nil {}
        #expect(iterator.completion?.digest == d100)
        #expect(iterator.completion?.engineVersion == EngineVersion(1, 0, 0))
        let sim = try await pinned.createSimulation(scenario)
        _ = try await pinned.step(simulationId: sim.id, ticks: 500)
        let stored = try await pinned.trace(simulationId: sim.id)
        #expect(stored.metadata.engineVersion == EngineVersion(1, 0, 0) && stored.metadata.digest == d100)

        let unpinned = try await live.client().runSimulation(scenario, ticks: 500)
        #expect(unpinned.engineVersion == EngineVersion(1, 1, 0))
        #expect(unpinned.trace.metadata.digest == d110)

        // A script pinned with `use engine` on the remote target, and one that is not.
        for (pin, digest, version) in [("use engine \"1.0.0\"\n", d100, "1.0.0"), ("", d110, "1.1.0")] {
            let source = pin + "let t = run catalog(\"capability-divergence\") ticks 500\nprint(t.engine, t.digest)\n"
            let result = try await Self.runScript(source, name: "pin.krs", remote: live.url, key: live.key)
            #expect(result.diagnostics.isEmpty, "\(result.diagnostics)")
            #expect(result.output == "\(version) \(digest)\n")
        }
    }

    @Test func liveEventsArriveOverServerSentEvents() async throws {
        let live = try LiveServer()
        let client = try live.client()
        let sim = try await client.createSimulation(ScenarioSource.catalog("capability-divergence"))
        _ = try await client.step(simulationId: sim.id, ticks: 30)
        let trace = try await client.trace(simulationId: sim.id)
        // After tick 19: ticks 20…29 replayed from the stored trace, exactly.
        var resumed: [Int] = []
        for try await event in client.events(simulationId: sim.id, lastEventId: "19-99") {
            if event.kind == .tick, let t = event.data?["t"]?.integerValue {
                resumed.append(t)
                #expect(event.data?["state"]?["stability"]?.numberValue == trace.steps[t].state.stability)
            }
            if resumed.count == 10 { break }
        }
        #expect(resumed == Array(20 ..< 30))
        // Live: the events of steps taken while subscribed, a decree among them.
        let received = Mutex<[SimulationEvent]>([])
        let subscriber = Task {
            for try await event in client.events(simulationId: sim.id) {
                let count = received.withLock { r in
                    r.append(event)
                    return r.filter { $0.kind == .tick }.count
                }
                if count == 5 { return }
            }
        }
        try await Task.sleep(nanoseconds: 300_000_000)
        _ = try await client.submitDecree(simulationId: sim.id, Action(kind: .shock, magnitude: 0.1))
        _ = try await client.step(simulationId: sim.id, ticks: 5)
        try await subscriber.value
        let events = received.withLock { $0 }
        #expect(events.first?.kind == .decree && events.first?.id == SimulationEventID(tick: 30, index: 0))
        #expect(events.filter { $0.kind == .tick }.compactMap { $0.data?["t"]?.integerValue } == Array(30 ..< 35))
    }

    @Test func rateLimitErrorAfterRetryAfterIsWaited() async throws {
        let live = try LiveServer(tier: "community", rateLimitMultiplier: 1)
        let sleeps = Mutex<[Double]>([])
        let client = try KairosClient(url: live.url, apiKey: live.key, maxRetries: 1, environment: [:],
                                      hooks: .init(sleep: { s in sleeps.withLock { $0.append(s) } }, random: { 0 }))
        // The community tier creates 10 a minute.
        for _ in 0 ..< 10 { _ = try await client.createSimulation(ScenarioSource.catalog("capability-divergence")) }
        do {
            _ = try await client.createSimulation(ScenarioSource.catalog("capability-divergence"))
            Issue.record("expected RateLimitError")
        } catch let error as RateLimitError {
            let wait = try #require(error.retryAfter)
            #expect(wait > 0 && wait <= 60)
            #expect(error.status == 429 && error.code == "RATE_LIMITED" && error.requestId?.isEmpty == false)
            // The one retry waited what the server asked.
            #expect(sleeps.withLock { $0 }.count == 1 && sleeps.withLock { $0 }[0] >= wait - 1)
        }
        #expect(try await client.listSimulations().total == 10)
    }

    @Test func idempotencyKeysReplayAndRefuseReuse() async throws {
        let live = try LiveServer()
        let sleeps = Mutex<[Double]>([])
        let client = try KairosClient(url: live.url, apiKey: live.key, environment: [:],
                                      hooks: .init(sleep: { s in sleeps.withLock { $0.append(s) } },
                                                   makeIdempotencyKey: { "e2e-fixed-key" }))
        let first = try await client.createSimulation(ScenarioSource.catalog("capability-divergence"))
        let again = try await client.createSimulation(ScenarioSource.catalog("capability-divergence"))
        #expect(again.id == first.id)
        #expect(try await client.listSimulations().total == 1)
        do {
            _ = try await client.createSimulation(ScenarioCatalog.scenario(id: "capability-divergence")!.scenario)
            Issue.record("expected IdempotencyError")
        } catch let error as IdempotencyError {
            #expect(error.code == "IDEMPOTENCY_KEY_REUSE" && error.idempotencyKey == "e2e-fixed-key")
        }
        #expect(sleeps.withLock { $0 }.isEmpty)
        let usage = try await client.usage()
        #expect(usage != .null)
    }

    /// A long run over the WebSocket (200 000 ticks, over a minute in a debug build under a
    /// loaded test run; `KAIROS_STREAM_TICKS=1000000` for the million), digest against the
    /// embedded engine, resident memory flat (KAIROS_HEAVY_TESTS=1).
    @Test(.enabled(if: ProcessInfo.processInfo.environment["KAIROS_HEAVY_TESTS"] == "1"))
    func streamRunOfAMillionTicksStaysFlat() async throws {
        let live = try LiveServer()
        let client = try live.client()
        let scenario = ScenarioCatalog.scenario(id: "capability-divergence")!.scenario
        let ticks = Int(ProcessInfo.processInfo.environment["KAIROS_STREAM_TICKS"] ?? "") ?? 200_000
        let started = ContinuousClock.now
        var iterator = try client.streamRun(scenario: scenario, ticks: ticks).makeAsyncIterator()
        var count = 0
        var last: TraceStep?
        var residentAt100k = 0
        while let step = try await iterator.next() {
            count += 1
            last = step
            if count == min(100_000, ticks / 2) { residentAt100k = Self.residentBytes() }
        }
        print("streamed \(count) ticks in \(ContinuousClock.now - started)")
        #expect(iterator.completion != nil)
        #expect(count == ticks)
        // The client checked the frames against the server's digest; the engine here agrees.
        let sim = EngineRegistry.start(scenario, version: nil)!
        var local = TraceDigest()
        var localLast: TraceStep?
        for _ in 0 ..< ticks {
            let s = sim.step()
            local.add(step: s)
            localLast = s
        }
        #expect(iterator.completion?.digest == local.finalize())
        #expect(last == localLast)
        #expect(Self.residentBytes() - residentAt100k < 64 << 20, "resident memory grew while streaming")
    }

    static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
              let pages = text.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return 0 }
        return pages * 4096
    }
}
