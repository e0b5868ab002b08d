import Dispatch
import KairosEngine
import Synchronization

/// A cooperative stop request (Ctrl-C in the REPL): the interpreter and the backends check
/// it inside their loops, so a long `run` or `stream` stops within milliseconds.
public final class CancellationFlag: Sendable {
    private let state = Atomic<Bool>(false)
    public init() {}
    public func cancel() { state.store(true, ordering: .relaxed) }
    public func reset() { state.store(false, ordering: .relaxed) }
    public var isCancelled: Bool { state.load(ordering: .relaxed) }
}

/// Why a backend could not do what was asked.
public struct BackendError: Error, Sendable, Equatable {
    public var message: String
    public var hint: String?
    public init(_ message: String, hint: String? = nil) {
        self.message = message
        self.hint = hint
    }

    public static let cancelled = BackendError("interrupted")
}

/// Where `run`, `stream` and `start` execute: the embedded engine, or (issue 7) a Kairos
/// server. Scenarios cross this boundary as `RunRequest`s, whose `scenario.requestJSON`
/// is exactly the body `POST /v1/simulations/run` takes.
public protocol SimulationBackend: Sendable {
    /// Runs every request, concurrently where the backend can, results in request order.
    func run(_ requests: [RunRequest], cancellation: CancellationFlag) -> [Result<TraceValue, BackendError>]
    /// Steps one request lazily; memory stays flat however many ticks are drawn.
    func stream(_ request: RunRequest) throws(BackendError) -> any StepStream
    /// A live simulation steered between steps.
    func start(_ request: RunRequest) throws(BackendError) -> any LiveSimulation
    /// A live simulation at the state of `origin` after tick `tick` − 1: its request with the
    /// decrees applied before `tick`. `simulationId` names the server simulation of a remote
    /// run, which a server forks where it lives.
    func fork(_ origin: TraceOrigin, simulationId: String?, at tick: Int) throws(BackendError) -> any LiveSimulation
}

extension SimulationBackend {
    /// Starts the request and steps it to `tick`, submitting each decree before the tick it applies at.
    public func fork(_ origin: TraceOrigin, simulationId: String?, at tick: Int) throws(BackendError) -> any LiveSimulation {
        try replay(origin, to: tick)
    }

    public func replay(_ origin: TraceOrigin, to tick: Int) throws(BackendError) -> any LiveSimulation {
        let live = try start(origin.request)
        try live.replay(origin.decrees, to: tick)
        return live
    }
}

extension LiveSimulation {
    /// Steps this simulation (at tick 0) to `tick`, submitting each decree that applies before
    /// `tick` when the simulation reaches the tick it applies at.
    func replay(_ decrees: [ScheduledDecree], to tick: Int) throws(BackendError) {
        for decree in decrees where decree.tick < tick {
            try advance(to: decree.tick)
            let at = try submit(decree.action)
            guard at == decree.tick else {
                throw BackendError("replaying the decree of tick \(decree.tick) queued it for tick \(at)")
            }
        }
        try advance(to: tick)
    }

    private func advance(to tick: Int) throws(BackendError) {
        while self.tick < tick { _ = try step(min(tick - self.tick, 10_000)) }
    }
}

/// A pull-based sequence of steps. Dropping it stops the underlying simulation.
public protocol StepStream: AnyObject {
    /// The next step, or nil after the last one.
    func next() throws(BackendError) -> TraceStep?
}

/// A simulation that a script steps and steers.
public protocol LiveSimulation: AnyObject {
    var engineVersion: EngineVersion { get }
    /// The next tick to compute.
    var tick: Int { get }
    /// Computes `count` ticks (at least 1) and returns their steps; a remote backend makes
    /// this one request.
    func step(_ count: Int) throws(BackendError) -> [TraceStep]
    /// Queues a decree for the next tick computed; returns that tick.
    func submit(_ decree: Action) throws(BackendError) -> Int
    func snapshot() throws(BackendError) -> SimulationSnapshot
    /// A new live simulation at this one's state after tick `tick` − 1 (0 ≤ tick ≤ `self.tick`):
    /// the same scenario and engine, the decrees applied before `tick`.
    func fork(at tick: Int) throws(BackendError) -> any LiveSimulation
}

/// A live simulation whose events can be watched as they happen (a remote one, for the
/// REPL's `watch sim`).
public protocol WatchableSimulation: AnyObject {
    /// Calls `line` with one line per event until `cancellation` is raised or the
    /// simulation completes.
    func watch(cancellation: CancellationFlag, line: @escaping @Sendable (String) -> Void) throws(BackendError)
}

/// The in-process engine.
public struct EmbeddedBackend: SimulationBackend {
    /// Whether a list of runs draws a progress line on standard error (`SweepProgress`).
    public let progress: Bool

    /// Lists of more than this many runs show progress (after half a second).
    public static let progressThreshold = 4

    public init(progress: Bool = SweepProgress.enabled()) { self.progress = progress }

    static func simulation(_ request: RunRequest) throws(BackendError) -> any Simulation {
        let scenario = request.scenario.native
        guard let sim = EngineRegistry.start(scenario, version: request.engine) else {
            throw BackendError("engine \(request.engine?.description ?? "?") is not available",
                               hint: "offered: \(EngineRegistry.available.map(\.description).joined(separator: ", "))")
        }
        return sim
    }

    /// Runs one request to a trace, checking for cancellation every 256 ticks. With
    /// `keepSteps` false only the summary is kept (`TraceValue(summary:request:…)`): no step
    /// is stored and no digest computed until the script asks for them.
    public static func runOne(_ request: RunRequest, cancellation: CancellationFlag, keepSteps: Bool = true)
        -> Result<TraceValue, BackendError>
    {
        let sim: any Simulation
        do {
            sim = try simulation(request)
        } catch {
            return .failure(error)
        }
        if !keepSteps {
            var summary = TraceSummary()
            for i in 0 ..< request.ticks {
                if i & 255 == 255, cancellation.isCancelled { return .failure(.cancelled) }
                summary.add(sim.step())
            }
            return .success(TraceValue(summary: summary, request: request, engineVersion: sim.engineVersion))
        }
        let initial = sim.snapshot()
        var steps = TraceSteps()
        steps.reserveCapacity(request.ticks)
        var digest = TraceDigest()
        var summary = TraceSummary()
        var writer = CanonicalJSONWriter(capacity: 1024)
        for i in 0 ..< request.ticks {
            if i & 255 == 255, cancellation.isCancelled { return .failure(.cancelled) }
            let s = sim.step()
            writer.reset()
            writer.step(s)
            digest.add(line: writer.bytes)
            summary.add(s)
            steps.append(s)
        }
        let trace = Trace(
            metadata: TraceMetadata(simulationId: nil, scenarioId: nil, engineVersion: sim.engineVersion,
                                    seed: request.scenario.seed, ticks: steps.count, digest: digest.finalize()),
            initialState: initial, steps: steps)
        return .success(TraceValue(trace: trace, summary: summary, name: request.scenario.name))
    }

    public func run(_ requests: [RunRequest], cancellation: CancellationFlag) -> [Result<TraceValue, BackendError>] {
        if requests.count == 1 { return [Self.runOne(requests[0], cancellation: cancellation)] }
        let results = ResultSlots<Result<TraceValue, BackendError>>(count: requests.count)
        let reporter = progress && requests.count > Self.progressThreshold ? SweepProgress(total: requests.count) : nil
        defer { reporter?.finish() }
        DispatchQueue.concurrentPerform(iterations: requests.count) { i in
            // After Ctrl-C the remaining runs end at once.
            guard !cancellation.isCancelled else { return }
            // A sweep keeps summaries; a trace's steps are computed again when asked for.
            results.set(i, Self.runOne(requests[i], cancellation: cancellation, keepSteps: false))
            reporter?.advance()
        }
        return results.values.map { $0 ?? .failure(.cancelled) }
    }

    public func stream(_ request: RunRequest) throws(BackendError) -> any StepStream {
        EmbeddedStepStream(simulation: try Self.simulation(request), remaining: request.ticks)
    }

    public func start(_ request: RunRequest) throws(BackendError) -> any LiveSimulation {
        EmbeddedLiveSimulation(simulation: try Self.simulation(request))
    }
}

/// One slot per concurrent task; each task writes only its own index.
final class ResultSlots<T: Sendable>: @unchecked Sendable {
    private let lock = Mutex<Void>(())
    private var slots: [T?]
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ value: T) { lock.withLock { _ in slots[i] = value } }
    var values: [T?] { lock.withLock { _ in slots } }
}

final class EmbeddedStepStream: StepStream {
    private let simulation: any Simulation
    private var remaining: Int

    init(simulation: any Simulation, remaining: Int) {
        self.simulation = simulation
        self.remaining = remaining
    }

    func next() throws(BackendError) -> TraceStep? {
        guard remaining > 0 else { return nil }
        remaining -= 1
        return simulation.step()
    }
}

final class EmbeddedLiveSimulation: LiveSimulation {
    private let simulation: any Simulation
    /// Decrees and policy changes submitted so far, for `fork`.
    private var decrees: [ScheduledDecree] = []
    init(simulation: any Simulation) { self.simulation = simulation }

    var engineVersion: EngineVersion { simulation.engineVersion }
    var tick: Int { simulation.tick }
    func step(_ count: Int) throws(BackendError) -> [TraceStep] {
        (0 ..< max(1, count)).map { _ in simulation.step() }
    }

    func submit(_ decree: Action) throws(BackendError) -> Int {
        do {
            let tick = try simulation.submit(decree)
            decrees.append(ScheduledDecree(tick: tick, action: decree))
            return tick
        } catch {
            throw BackendError(error.description)
        }
    }

    func fork(at tick: Int) throws(BackendError) -> any LiveSimulation {
        guard let fresh = EngineRegistry.start(simulation.scenario, version: simulation.engineVersion) else {
            throw BackendError("engine \(simulation.engineVersion) is not available")
        }
        let live = EmbeddedLiveSimulation(simulation: fresh)
        try live.replay(decrees, to: tick)
        return live
    }

    func snapshot() throws(BackendError) -> SimulationSnapshot { simulation.snapshot() }
}

/// A backend that answers every request with the same error (a remote target whose URL the
/// client cannot use).
public struct UnavailableBackend: SimulationBackend {
    public let error: BackendError
    public init(_ error: BackendError) { self.error = error }
    public func run(_ requests: [RunRequest], cancellation: CancellationFlag) -> [Result<TraceValue, BackendError>] {
        requests.map { _ in .failure(error) }
    }
    public func stream(_ request: RunRequest) throws(BackendError) -> any StepStream { throw error }
    public func start(_ request: RunRequest) throws(BackendError) -> any LiveSimulation { throw error }
}
