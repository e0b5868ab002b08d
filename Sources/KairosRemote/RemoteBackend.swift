import Dispatch
import Foundation
import KairosAPI
import KairosClient
import KairosEngine
import KairosScript
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Runs scripts on a Kairos server (`use remote "URL"`, `:target remote URL`) through
/// `KairosClient`: `run` as `POST /simulations/run` (lists concurrently, at most
/// `maxInFlight` requests at a time, results in list order; runs longer than 10 000 ticks
/// through the WebSocket route), `stream` over the WebSocket route, `start` as a server
/// simulation stepped and steered through REST. Traces come back with the server's digest,
/// checked against their steps, so they are the embedded engine's bit for bit.
public final class RemoteBackend: SimulationBackend, Sendable {
    public let client: KairosClient
    public let maxInFlight: Int
    private let progress: Bool

    /// Runs of a list above this count show a progress line (`SweepProgress`) when stderr is a terminal.
    public static let progressThreshold = 4

    public init(client: KairosClient, maxInFlight: Int = 8, progress: Bool = SweepProgress.enabled()) {
        self.client = client
        self.maxInFlight = max(1, maxInFlight)
        self.progress = progress
    }

    /// What `Interpreter.remoteBackend` takes: one backend per URL, made on first use, with
    /// `KAIROS_API_KEY` as the key, `KAIROS_REMOTE_CONCURRENCY` (default 8) requests in
    /// flight at most and `KAIROS_MAX_RETRIES` (default 5: a sweep on a rate-limited tier
    /// waits out several `Retry-After`s). A URL the client cannot use gives a backend whose every call fails
    /// with the reason.
    public static func factory(environment: [String: String] = ProcessInfo.processInfo.environment)
        -> @Sendable (String) -> (any SimulationBackend)?
    {
        let cache = Mutex<[String: any SimulationBackend]>([:])
        let concurrency = environment["KAIROS_REMOTE_CONCURRENCY"].flatMap(Int.init) ?? 8
        let retries = environment["KAIROS_MAX_RETRIES"].flatMap(Int.init).map { max(0, $0) } ?? 5
        return { url in
            cache.withLock { backends in
                if let b = backends[url] { return b }
                let backend: any SimulationBackend
                do throws(ConfigurationError) {
                    backend = RemoteBackend(client: try KairosClient(url: url, maxRetries: retries, environment: environment),
                                            maxInFlight: concurrency)
                } catch {
                    backend = UnavailableBackend(BackendError("remote \(url): \(error.message)",
                                                              hint: "use remote \"http://HOST:PORT\" (the server's address)"))
                }
                backends[url] = backend
                return backend
            }
        }
    }

    // MARK: run

    public func run(_ requests: [RunRequest], cancellation: CancellationFlag) -> [Result<TraceValue, BackendError>] {
        let reporter = progress && requests.count > Self.progressThreshold
            ? SweepProgress(total: requests.count, verb: "running on the server") : nil
        defer { reporter?.finish() }
        let outcome: [Result<TraceValue, BackendError>]? = try? runBlocking { [self] in
            try await withCancellation(cancellation) {
                await self.runAll(requests, reporter: reporter)
            }
        }
        guard let outcome, !cancellation.isCancelled else { return requests.map { _ in .failure(.cancelled) } }
        return outcome
    }

    func runAll(_ requests: [RunRequest], reporter: SweepProgress?) async -> [Result<TraceValue, BackendError>] {
        var results = [Result<TraceValue, BackendError>?](repeating: nil, count: requests.count)
        await withTaskGroup(of: (Int, Result<TraceValue, BackendError>).self) { group in
            var next = 0
            func launch() {
                let i = next
                let request = requests[i]
                next += 1
                group.addTask { [self] in (i, await self.runOne(request)) }
            }
            while next < min(maxInFlight, requests.count) { launch() }
            for await (i, result) in group {
                results[i] = result
                reporter?.advance()
                if Task.isCancelled { continue }
                if next < requests.count { launch() }
            }
        }
        return results.map { $0 ?? .failure(.cancelled) }
    }

    func runOne(_ request: RunRequest) async -> Result<TraceValue, BackendError> {
        do {
            let source = try Self.source(request)
            let trace: Trace
            if request.ticks <= SimulationLimits.maxTicksPerRequest {
                trace = try await client.run(scenario: source, ticks: request.ticks)
            } else {
                trace = try await collect(request, source: source)
            }
            return .success(TraceValue(trace: trace, summary: trace.summary, name: request.scenario.name))
        } catch {
            return .failure(Self.backendError(error, client: client))
        }
    }

    /// A long run gathered from the WebSocket stream; the initial state is the scenario's
    /// own (the engine computes none before the first step).
    func collect(_ request: RunRequest, source: ScenarioSource) async throws -> Trace {
        let version = request.engine ?? client.engineVersion.flatMap(EngineVersion.init) ?? EngineRegistry.latest
        guard let initial = EngineRegistry.start(request.scenario.native, version: version)?.snapshot() else {
            throw BackendError("the scenario cannot be run with engine \(version) here")
        }
        var iterator = try client.streamRun(scenario: source, ticks: request.ticks).makeAsyncIterator()
        var steps = TraceSteps()
        steps.reserveCapacity(request.ticks)
        while let step = try await iterator.next() { steps.append(step) }
        guard let done = iterator.completion else { throw ConnectionError("the stream ended without its digest") }
        return Trace(metadata: TraceMetadata(simulationId: done.simulationId, scenarioId: nil, engineVersion: done.engineVersion ?? version,
                                             seed: request.scenario.seed, ticks: steps.count, digest: done.digest),
                     initialState: initial, steps: steps)
    }

    /// The request body a script's run becomes (a domain input where possible).
    static func source(_ request: RunRequest) throws -> ScenarioSource {
        guard let json = request.scenario.requestJSON(form: .automatic, ticks: request.ticks, engine: request.engine) else {
            throw BackendError("scenario \(request.scenario.name) cannot be sent")
        }
        return .compiled(json)
    }

    // MARK: stream

    public func stream(_ request: RunRequest) throws(BackendError) -> any StepStream {
        guard request.ticks <= KairosClient.maxStreamTicks else {
            throw BackendError("a remote stream takes at most \(KairosClient.maxStreamTicks) ticks, not \(request.ticks)",
                               hint: "'use embedded' streams any length in constant memory")
        }
        do {
            let stream = try client.streamRun(scenario: try Self.source(request), ticks: request.ticks)
            return RemoteStepStream(iterator: stream.makeAsyncIterator(), client: client)
        } catch {
            throw Self.backendError(error, client: client)
        }
    }

    // MARK: start

    public func start(_ request: RunRequest) throws(BackendError) -> any LiveSimulation {
        do {
            let source = try Self.source(request)
            let resource = try runBlocking { [client] in try await client.createSimulation(source) }
            return try RemoteLiveSimulation(client: client, resource: resource)
        } catch {
            throw Self.backendError(error, client: client)
        }
    }

    /// `fork(trace, t)`: `POST /simulations/{id}/fork` for a run made on this server; a trace
    /// made elsewhere is replayed here (its request started, stepped and steered to `tick`).
    public func fork(_ origin: TraceOrigin, simulationId: String?, at tick: Int) throws(BackendError) -> any LiveSimulation {
        guard let simulationId else { return try replay(origin, to: tick) }
        do {
            let resource = try runBlocking { [client] in try await client.fork(simulationId: simulationId, tick: tick) }
            return try RemoteLiveSimulation(client: client, resource: resource)
        } catch {
            throw Self.backendError(error, client: client)
        }
    }

    // MARK: errors

    /// A client error as a script error, with a hint where one helps.
    static func backendError(_ error: any Error, client: KairosClient) -> BackendError {
        switch error {
        case let e as BackendError: return e
        case is CancellationError: return .cancelled
        case let e as EngineVersionError:
            return BackendError("engine \(e.requested) is not available on \(client.baseURL)",
                                hint: "the server offers \(e.available.joined(separator: ", "))")
        case let e as AuthenticationError:
            return BackendError("\(client.baseURL) refused the API key: \(e)",
                                hint: client.apiKey == nil ? "set KAIROS_API_KEY to a key (kairos keys create …)" : "check KAIROS_API_KEY")
        case let e as PermissionError:
            return BackendError("\(e)", hint: "the key needs the simulation:read and simulation:write scopes")
        case let e as ConnectionError:
            return BackendError("\(e)", hint: "is a Kairos server (kairos serve) running at \(client.baseURL)?")
        case let e as any KairosError:
            return BackendError("\(e)")
        default:
            return BackendError("\(error)")
        }
    }
}

/// Runs `body`, cancelling it when `flag` is raised (checked every 20 ms).
func withCancellation<T: Sendable>(_ flag: CancellationFlag, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    let work = Task { try await body() }
    let watcher = Task {
        while !Task.isCancelled {
            if flag.isCancelled {
                work.cancel()
                return
            }
            try? await Task.sleep(nanoseconds: 20_000_000)
        }
    }
    defer { watcher.cancel() }
    return try await work.value
}

/// Pulls a WebSocket stream from synchronous code, a batch of steps per wait.
final class RemoteStepStream: StepStream {
    private let box: IteratorBox
    private let client: KairosClient
    private var buffer: [TraceStep] = []
    private var position = 0
    private var finished = false

    init(iterator: RunStream.Iterator, client: KairosClient) {
        box = IteratorBox(iterator)
        self.client = client
    }

    func next() throws(BackendError) -> TraceStep? {
        if position == buffer.count {
            if finished { return nil }
            do {
                let box = box
                buffer = try runBlocking { try await box.nextBatch() }
            } catch {
                throw RemoteBackend.backendError(error, client: client)
            }
            position = 0
            if buffer.isEmpty {
                finished = true
                return nil
            }
        }
        defer { position += 1 }
        return buffer[position]
    }
}

/// The async iterator, used from one thread at a time.
final class IteratorBox: @unchecked Sendable {
    private var iterator: RunStream.Iterator
    init(_ iterator: RunStream.Iterator) { self.iterator = iterator }

    /// The socket's next batch as it is (~256 steps), not re-gathered step by step.
    func nextBatch() async throws -> [TraceStep] {
        try await iterator.nextBatch()
    }
}

/// A server simulation a script steps and steers: `step` is one `POST …/step` and the new
/// steps read back from the trace (`fromTick`, so only those cross the network); decrees go to `POST …/decrees`, policies to
/// `PUT …/agent-policy`.
final class RemoteLiveSimulation: LiveSimulation {
    let client: KairosClient
    let id: String
    let engineVersion: EngineVersion
    private(set) var tick: Int

    init(client: KairosClient, resource: SimulationResource) throws {
        self.client = client
        id = resource.id
        engineVersion = resource.engineVersion
        tick = resource.tick
    }

    func step(_ count: Int) throws(BackendError) -> [TraceStep] {
        let (client, id, from) = (client, id, tick)
        do {
            let steps = try runBlocking { () async throws -> [TraceStep] in
                var remaining = max(1, count)
                while remaining > 0 {
                    let n = min(remaining, SimulationLimits.maxTicksPerRequest)
                    _ = try await client.step(simulationId: id, ticks: n)
                    remaining -= n
                }
                return try await client.traceSteps(simulationId: id, fromTick: from).steps
            }
            tick = (steps.last?.tick ?? tick - 1) + 1
            return steps
        } catch {
            throw RemoteBackend.backendError(error, client: client)
        }
    }

    func submit(_ decree: Action) throws(BackendError) -> Int {
        let (client, id) = (client, id)
        do {
            if decree.kind == .policy, let target = decree.target {
                return try runBlocking {
                    try await client.setAgentPolicy(simulationId: id, agentId: target, lambda: decree.lambda, gamma: decree.gamma).tick
                }
            }
            return try runBlocking { try await client.submitDecree(simulationId: id, decree).tick }
        } catch {
            throw RemoteBackend.backendError(error, client: client)
        }
    }

    /// `sim.fork(t)`: the server forks it (`POST /simulations/{id}/fork`).
    func fork(at tick: Int) throws(BackendError) -> any LiveSimulation {
        let (client, id) = (client, id)
        do {
            let resource = try runBlocking { try await client.fork(simulationId: id, tick: tick) }
            return try RemoteLiveSimulation(client: client, resource: resource)
        } catch {
            throw RemoteBackend.backendError(error, client: client)
        }
    }

    func snapshot() throws(BackendError) -> SimulationSnapshot {
        let (client, id) = (client, id)
        do {
            let resource = try runBlocking { try await client.simulation(id: id) }
            guard let snapshot = SimulationSnapshot(json: resource.state) else {
                throw ConnectionError("the server's simulation state is not a snapshot")
            }
            return snapshot
        } catch {
            throw RemoteBackend.backendError(error, client: client)
        }
    }
}

extension RemoteLiveSimulation: WatchableSimulation {
    func watch(cancellation: CancellationFlag, line: @escaping @Sendable (String) -> Void) throws(BackendError) {
        try RemoteWatch.watch(client: client, simulationId: id, from: tick, cancellation: cancellation) { line(RemoteWatch.describe($0)) }
    }
}

public enum RemoteWatch {
    /// Hands `deliver` the events of `simulationId` from tick `from` on (earlier ones are
    /// skipped) until `cancellation` is raised or the simulation completes.
    public static func watch(client: KairosClient, simulationId: String, from tick: Int, cancellation: CancellationFlag,
                             deliver: @escaping @Sendable (SimulationEvent) -> Void) throws(BackendError) {
        do {
            try runBlocking {
                try await withCancellation(cancellation) {
                    for try await event in client.events(simulationId: simulationId) {
                        if let id = event.id, id.tick < tick { continue }
                        deliver(event)
                    }
                }
            }
        } catch {
            if cancellation.isCancelled || error is CancellationError { return }
            throw RemoteBackend.backendError(error, client: client)
        }
    }

    /// One line for an event: `tick 42  stability 0.8123 stable  basin 0  idle`.
    public static func describe(_ event: SimulationEvent) -> String {
        let d = event.data ?? .null
        let at = event.id.map { "\($0.tick)" } ?? "?"
        func number(_ v: JSONValue?, _ places: Int = 4) -> String {
            guard let n = v?.numberValue else { return "?" }
            return formatFixed(n, places)
        }
        switch event.kind {
        case .tick:
            return "tick \(d["t"]?.integerValue.map(String.init) ?? at)  stability \(number(d["state"]?["stability"])) "
                + "\(d["state"]?["phase"]?.stringValue ?? "?")  basin \(d["b"]?.integerValue.map(String.init) ?? "?")  \(d["lastMove"]?.stringValue ?? "")"
        case .loss:
            return "LOSS at tick \(d["tick"]?.integerValue.map(String.init) ?? at): magnitude \(number(d["magnitude"]))"
                + (d["agent"]?.stringValue.map { ", agent \($0)" } ?? "")
        case .warning:
            return "warning at tick \(at): \(d["level"]?.stringValue ?? "?"), stability \(number(d["stability"])) below \(number(d["threshold"], 2))"
        case .status:
            return "status: \(d["status"]?.stringValue ?? CanonicalJSON.string(d))"
        default:
            return "\(event.kind.rawValue) at tick \(at): \(CanonicalJSON.string(d))"
        }
    }
}
