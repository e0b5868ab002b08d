import KairosEngine
import Synchronization

/// A finished run: the engine's trace plus its summary figures. Immutable and Sendable, so
/// concurrent runs hand it back across threads.
///
/// A run of a sweep keeps only its summary (a few hundred bytes, whatever its length) and
/// the request that made it; its steps and digest are computed again, bit for bit the same
/// (the engine is deterministic), the first time a script asks for them (`t.steps`,
/// `t.digest`, `plot(t)`, `save(t, …)`). A sweep that looks only at summary figures
/// (`t.final_phase`, `t.losses`, `t.mean_stability`, `t.params`) never holds a step.
public final class TraceValue: Sendable {
    private let stored: Mutex<Trace?>
    /// What made it (the request, and a live simulation's decrees), for `fork(t, tick)`;
    /// nil for a trace read from a file.
    public let origin: TraceOrigin?
    /// How to compute the steps again, for a trace kept as its summary.
    private let recipe: RunRequest?
    public let summary: TraceSummary
    /// The scenario it ran, when known.
    public let name: String?
    /// The arguments of the scenario function that built it (`sweep(cap, seed)` →
    /// `{cap: 550, seed: 3}`), for `t.params` and `group(traces, "cap")`.
    public let params: JSONValue?
    public let seed: UInt64
    public let engineVersion: EngineVersion

    public init(trace: Trace, summary: TraceSummary, name: String?, params: JSONValue? = nil, origin: TraceOrigin? = nil) {
        stored = Mutex(trace)
        recipe = nil
        self.origin = origin
        self.summary = summary
        self.name = name
        self.params = params
        seed = trace.metadata.seed
        engineVersion = trace.metadata.engineVersion
    }

    /// A run kept as its summary; `trace` runs `request` again when first read.
    public init(summary: TraceSummary, request: RunRequest, engineVersion: EngineVersion, params: JSONValue? = nil) {
        stored = Mutex(nil)
        recipe = request
        origin = TraceOrigin(request: RunRequest(scenario: request.scenario, ticks: request.ticks, engine: engineVersion))
        self.summary = summary
        name = request.scenario.name
        self.params = params
        seed = request.scenario.seed
        self.engineVersion = engineVersion
    }

    /// The whole trace: steps, initial state and metadata with the digest.
    public var trace: Trace {
        if let t = stored.withLock({ $0 }) { return t }
        guard let recipe else { preconditionFailure("a trace without steps or a request") }
        // The same request on the same engine gives the same steps; two threads asking at
        // once compute the same value.
        guard case .success(let full) = EmbeddedBackend.runOne(RunRequest(scenario: recipe.scenario, ticks: recipe.ticks,
                                                                          engine: engineVersion),
                                                               cancellation: CancellationFlag(), keepSteps: true) else {
            preconditionFailure("engine \(engineVersion) ran this request before")
        }
        let t = full.trace
        stored.withLock { $0 = t }
        return t
    }

    /// Whether the steps are in memory (for tests of the sweep's footprint).
    public var holdsSteps: Bool { stored.withLock { $0 != nil } }

    /// The number of steps, without computing them.
    public var tickCount: Int { summary.ticks }

    /// The same run with the scenario's parameters and what made it attached.
    func annotated(params: JSONValue?, request: RunRequest) -> TraceValue {
        let params = params ?? self.params
        if let recipe, !holdsSteps {
            guard params != self.params else { return self }
            return TraceValue(summary: summary, request: recipe, engineVersion: engineVersion, params: params)
        }
        guard params != self.params || origin == nil else { return self }
        return TraceValue(trace: trace, summary: summary, name: name, params: params,
                          origin: origin ?? TraceOrigin(request: RunRequest(scenario: request.scenario, ticks: request.ticks,
                                                                            engine: engineVersion)))
    }

    var paramsValue: Value { Value(json: params ?? .object([])) }

    /// Members a trace has (LANGUAGE.md "Running and compiling"), for completion.
    public static let members = [
        "steps", "ticks", "seed", "engine", "digest", "final_phase", "final_stability", "mean_stability",
        "min_stability", "losses", "warnings", "prophecies", "paradoxes", "stability", "agent", "at", "params",
    ]
    static let methods: Set<String> = ["agent", "at"]

    var stabilitySeries: [Double] { trace.steps.map(\.state.stability) }

    /// A property; nil for unknown names and for methods.
    func property(_ name: String) -> Value? {
        let s = summary
        switch name {
        case "steps": return .list(trace.steps.map { .step($0) })
        case "ticks": return .number(Double(tickCount))
        case "seed": return .number(Double(seed))
        case "engine": return .string(engineVersion.description)
        case "digest": return .string(trace.metadata.digest)
        case "final_phase": return s.finalPhase.map { .string($0.rawValue) } ?? .null
        case "final_stability": return s.finalStability.map { .number($0) } ?? .null
        case "mean_stability": return s.meanStability.map { .number($0) } ?? .null
        case "min_stability": return s.minStability.map { .number($0) } ?? .null
        case "losses": return .list(s.losses.map { Value(json: $0.jsonValue) })
        case "warnings":
            return .list(trace.steps.compactMap { step in
                step.warning.map { w in
                    .record(Record([("tick", .number(Double(step.tick))), ("level", .string(w.level.rawValue)),
                                    ("threshold", .number(w.threshold)), ("stability", .number(w.stability))]))
                }
            })
        case "prophecies": return .list(trace.steps.compactMap { $0.prophecy.map { Value(json: $0.jsonValue) } })
        case "paradoxes": return .list(trace.steps.compactMap { $0.paradox.map { p in
            .record(Record([("tick", .number(Double(p.tick))), ("prophecy", .number(Double(p.prophecy))),
                            ("kind", .string(p.kind))]))
        } })
        case "stability": return .list(stabilitySeries.map { .number($0) })
        case "params": return paramsValue
        default: return nil
        }
    }

    /// `t.agent(id)`: the agent's series, one list per quantity.
    func agentSeries(_ id: String) -> Value? {
        guard let index = trace.initialState.agents.firstIndex(where: { $0.id == id })
            ?? trace.steps.first?.agents.firstIndex(where: { $0.id == id }) else { return nil }
        var capability: [Value] = [], alignment: [Value] = [], guardrail: [Value] = [], pressure: [Value] = []
        for s in trace.steps where index < s.agents.count {
            let a = s.agents[index]
            capability.append(.number(a.capability))
            alignment.append(.number(a.alignment))
            guardrail.append(.number(a.guardrail))
            pressure.append(.number(a.pressure))
        }
        return .record(Record([("id", .string(id)), ("capability", .list(capability)), ("alignment", .list(alignment)),
                               ("guardrail", .list(guardrail)), ("pressure", .list(pressure))]))
    }

    var agentIDs: [String] { (trace.steps.first?.agents ?? trace.initialState.agents).map(\.id) }

    /// `<trace sweep: 500 ticks, stable, sha256:d9ed2099…>`, for lists and records.
    var shortDescription: String {
        let digest = trace.metadata.digest
        let short = digest.count > 15 ? String(digest.prefix(15)) + "…" : digest
        return "<trace \(name.map { $0 + ": " } ?? "")\(trace.steps.count) ticks, \(summary.finalPhase?.rawValue ?? "empty"), \(short)>"
    }

    /// One row of `table(traces)`.
    var tableRow: Record {
        let s = summary
        return Record([
            ("scenario", .string(name ?? "-")), ("seed", .number(Double(seed))),
            ("ticks", .number(Double(tickCount))), ("phase", .string(s.finalPhase?.rawValue ?? "-")),
            ("mean", s.meanStability.map { .number(Double(formatFixed($0, 4)) ?? $0) } ?? .null),
            ("min", s.minStability.map { .number(Double(formatFixed($0, 4)) ?? $0) } ?? .null),
            ("losses", .number(Double(s.losses.count))), ("paradoxes", .number(Double(s.paradoxes))),
            ("digest", .string(String(trace.metadata.digest.prefix(15)))),
        ])
    }

    /// What `print(t)` shows: the summary figures and a sparkline of stability.
    public var summaryText: String {
        let s = summary
        func fmt(_ v: Double?) -> String { v.map { formatFixed($0, 4) } ?? "-" }
        var lines = ["trace\(name.map { " " + $0 } ?? "") · \(trace.steps.count) ticks · seed \(trace.metadata.seed) · engine \(trace.metadata.engineVersion)"]
        lines.append("  phase      \(s.finalPhase?.rawValue ?? "-") (final stability \(fmt(s.finalStability)))")
        lines.append("  stability  mean \(fmt(s.meanStability))  min \(fmt(s.minStability))")
        if !trace.steps.isEmpty {
            // On the fixed 0–1 scale of stability (plot(t) scales to the data and labels its axis).
            lines.append("             \(Sparkline.render(stabilitySeries, width: 60, lower: 0, upper: 1))  0–1")
        }
        let lossText = s.losses.map { "tick \($0.tick)" }.joined(separator: ", ")
        lines.append("  losses     \(s.losses.count)\(s.losses.isEmpty ? "" : " (" + lossText + ")")")
        lines.append("  warnings   \(s.warnings)  prophecies \(s.prophecies)  paradoxes \(s.paradoxes)")
        lines.append("  digest     \(trace.metadata.digest)")
        return lines.joined(separator: "\n")
    }
}

/// Members of a step value (`s.stability`, `s.tick`, …).
enum StepMembers {
    static let names = ["tick", "move", "stability", "basin", "phase", "pressure", "ceiling", "warning", "loss", "prophecy",
                        "paradox", "agents", "state", "agent"]

    static func property(_ s: TraceStep, _ name: String) -> Value? {
        switch name {
        case "tick": .number(Double(s.tick))
        case "move": .string(s.move)
        case "stability": .number(s.state.stability)
        case "basin": .number(Double(s.state.basin))
        case "phase": .string(s.state.phase.rawValue)
        case "pressure": .number(s.state.pressure)
        case "ceiling": .number(s.state.ceiling)
        case "warning", "loss", "prophecy", "paradox", "agents", "state":
            Value(json: s.jsonValue[name] ?? .null)
        default: nil
        }
    }

    /// `s.agent(id)`: the agent's record at this step.
    static func agent(_ s: TraceStep, _ id: String) -> Value? {
        s.agents.first { $0.id == id }.map { Value(json: $0.jsonValue) }
    }
}

/// What made a trace or a live simulation: the request (engine pinned) and the decrees and
/// policy changes submitted on the way, each with the tick it applies at. Replaying it on a
/// backend gives the same steps (the engine is deterministic): `fork` is built on that.
public struct TraceOrigin: Sendable {
    public var request: RunRequest
    public var decrees: [ScheduledDecree]
    public init(request: RunRequest, decrees: [ScheduledDecree] = []) {
        self.request = request
        self.decrees = decrees
    }
}

/// A decree or policy change and the tick it applies at.
public struct ScheduledDecree: Sendable, Equatable {
    public var tick: Int
    public var action: Action
    public init(tick: Int, action: Action) {
        self.tick = tick
        self.action = action
    }
}

/// A live simulation as a script holds it, with the steps computed so far.
public final class SimulationHandle: CustomStringConvertible {
    let live: any LiveSimulation
    let request: RunRequest
    /// Where it runs (a fork that replays starts there).
    let backend: any SimulationBackend
    /// Decrees and policy changes submitted so far, in order.
    var decrees: [ScheduledDecree] = []
    var steps: [TraceStep] = []
    var digest = TraceDigest()
    var summary = TraceSummary()
    private var writer = CanonicalJSONWriter(capacity: 1024)

    let initial: SimulationSnapshot

    init(live: any LiveSimulation, request: RunRequest, initial: SimulationSnapshot, backend: any SimulationBackend) {
        self.live = live
        self.request = RunRequest(scenario: request.scenario, ticks: request.ticks, engine: request.engine ?? live.engineVersion)
        self.initial = initial
        self.backend = backend
    }

    public static let members = ["step", "decree", "policy", "fork", "trace", "state", "tick"]

    /// Submits a decree or policy change and remembers it (for `fork`); returns its tick.
    func submit(_ action: Action) throws(BackendError) -> Int {
        let tick = try live.submit(action)
        decrees.append(ScheduledDecree(tick: tick, action: action))
        return tick
    }

    var origin: TraceOrigin { TraceOrigin(request: request, decrees: decrees) }

    /// `sim.fork(t)`: a new live simulation at this one's state after tick t − 1 (0 ≤ t ≤
    /// tick), holding this one's first t steps and the decrees applied before t.
    func fork(at t: Int) throws(BackendError) -> SimulationHandle {
        Self.adopt(try live.fork(at: t), origin: origin, steps: steps.prefix(t), initial: initial, backend: backend)
    }

    /// A handle for `live`, a fork of `origin` at tick `steps.count` whose first steps are `steps`.
    static func adopt(_ live: any LiveSimulation, origin: TraceOrigin, steps: ArraySlice<TraceStep>,
                      initial: SimulationSnapshot, backend: any SimulationBackend) -> SimulationHandle {
        let handle = SimulationHandle(live: live, request: origin.request, initial: initial, backend: backend)
        handle.decrees = origin.decrees.filter { $0.tick < steps.count }
        for s in steps { handle.record(s) }
        return handle
    }

    /// The simulation as something the REPL's `watch` can follow; nil for embedded ones.
    public var watchable: (any WatchableSimulation)? { live as? any WatchableSimulation }

    func record(_ s: TraceStep) {
        writer.reset()
        writer.step(s)
        digest.add(line: writer.bytes)
        summary.add(s)
        steps.append(s)
    }

    func traceValue() -> TraceValue {
        let trace = Trace(metadata: TraceMetadata(simulationId: nil, scenarioId: nil, engineVersion: live.engineVersion,
                                                  seed: request.scenario.seed, ticks: steps.count, digest: digest.finalize()),
                          initialState: initial, steps: steps)
        return TraceValue(trace: trace, summary: summary, name: request.scenario.name, origin: origin)
    }

    public var description: String {
        "<simulation \(request.scenario.name) at tick \(live.tick)\(steps.last.map { ", stability \(formatFixed($0.state.stability, 4)) \($0.state.phase.rawValue)" } ?? "")>"
    }
}

extension Value {
    /// A script value for a JSON document: objects become records (keys in order).
    public init(json: JSONValue) {
        switch json {
        case .null: self = .null
        case .bool(let b): self = .bool(b)
        case .number(let n): self = .number(n)
        case .string(let s): self = .string(s)
        case .array(let a): self = .list(a.map { Value(json: $0) })
        case .object(let m): self = .record(Record(m.map { ($0.key, Value(json: $0.value)) }))
        }
    }
}
