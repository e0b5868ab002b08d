import KairosAPI
import KairosEngine

/// Runs the engine for stored simulations: every mutation restores the simulation from its
/// latest checkpoint (never replaying from tick 0), applies one command, and returns what to
/// store — the new checkpoint, the log entry, and the steps it computed.
enum SimulationDriver {
    /// The most agent-tick evaluations one request may ask the engine for (prophecies fork the
    /// world, so a tick can cost far more than one evaluation): valid but ruinous settings are
    /// refused up front instead of holding a worker for minutes.
    static let workBudgetPerRequest = 100_000_000.0

    /// Agent-tick evaluations one tick of `scenario` costs, prophecy forks included: a world at
    /// depth d > 0 forks `horizon` ticks at depth d − 1 every `interval` ticks.
    static func workPerTick(_ scenario: Scenario) -> Double {
        let settings = scenario.settings
        var ticksPerTick = 1.0
        if settings.prophecyInterval > 0, settings.recursionDepth > 0 {
            let forks = Double(settings.prophecyHorizon) / Double(settings.prophecyInterval)
            for _ in 0 ..< settings.recursionDepth { ticksPerTick = 1 + forks * ticksPerTick }
        }
        return ticksPerTick * Double(scenario.agents.count + 1)
    }

    /// Above this many agent-tick evaluations per tick a simulation stores its trace; at or
    /// below it, replaying the log on read (100 000 ticks in well under a second in a release
    /// build) is cheaper than storing every step.
    static let derivedTraceWorkLimit = 256.0

    /// The most step records (a tick's world plus one per agent) one request may produce: the
    /// steps are held in memory, stored as one trace segment and answered in one body, so a
    /// valid but enormous request (1 000 agents × 10 000 ticks would be ~1.5 GB of NDJSON) is
    /// refused up front. 2 000 000 records are ~300 MB of canonical NDJSON with short ids.
    static let stepRecordBudgetPerRequest = 2_000_000

    /// The most step records one simulation may hold: with many agents it reaches fewer than
    /// `SimulationLimits.maxTicks` ticks (`maxTicks(of:)`), so no trace is larger than ~1 GB on
    /// disk or in a `GET …/trace`. 3 agents × 10^6 ticks (the WebSocket run's limit) fit.
    static let stepRecordBudgetPerSimulation = 4_000_000

    /// The tick a simulation of `scenario` completes at: `SimulationLimits.maxTicks`, or fewer
    /// with more than 39 agents (`stepRecordBudgetPerSimulation`).
    static func maxTicks(of scenario: Scenario) -> Int {
        min(SimulationLimits.maxTicks, stepRecordBudgetPerSimulation / (scenario.agents.count + 1))
    }

    /// Refuses `ticks` ticks of `scenario` over `budget` step records; `limited` says what the
    /// budget bounds ("one request may compute", "a simulation may hold").
    private static func checkRecords(_ scenario: Scenario, ticks: Int, budget: Int, limited: String, detail: String)
        throws(APIError)
    {
        let perTick = scenario.agents.count + 1
        guard perTick * ticks > budget else { return }
        throw APIError.validation(path: "ticks", "with \(scenario.agents.count) agents \(limited) at most \(budget / perTick) ticks "
            + "(\(budget) step records\(detail))")
    }

    /// Refuses a request for `ticks` ticks of `scenario` over any budget: step records a request
    /// keeps (`output`: when the steps are kept), step records a simulation holds, engine work
    /// (`workBudgetPerRequest`).
    static func checkWork(_ scenario: Scenario, ticks: Int, path: String, output: Bool = true) throws(APIError) {
        if output {
            try checkRecords(scenario, ticks: ticks, budget: stepRecordBudgetPerRequest, limited: "one request may compute",
                             detail: ": a tick's world plus one per agent")
        }
        try checkRecords(scenario, ticks: ticks, budget: stepRecordBudgetPerSimulation, limited: "a simulation may hold", detail: "")
        let perTick = workPerTick(scenario)
        guard perTick * Double(ticks) > workBudgetPerRequest else { return }
        let allowed = Int(workBudgetPerRequest / perTick)
        if allowed < 1 {
            throw APIError.validation(path: path, "one tick of this scenario costs about \(Int(perTick)) agent-tick evaluations "
                + "(agents × prophecy forks); lower settings.recursionDepth or prophecyHorizon, or raise prophecyInterval")
        }
        throw APIError.validation(path: "ticks", "this scenario costs about \(Int(perTick)) agent-tick evaluations per tick; "
            + "at most \(allowed) ticks per request")
    }

    /// Starts a simulation and computes its first `ticks` ticks (0 for a plain create).
    static func start(id: String, organizationId: String, request: ScenarioRequest, version: EngineVersion, ticks: Int,
                      now: Int64) throws(APIError) -> SimulationChange {
        let (simulation, record) = try begin(id: id, organizationId: organizationId, request: request,
                                             scenarioJSON: canonical(request.scenario.jsonValue), version: version,
                                             ticks: ticks, now: now)
        guard ticks > 0 else { return SimulationChange(record: record) }
        return try compute(simulation, record: record, ticks: ticks, now: now)
    }

    /// `start` for `POST /simulations/run` (`scenarioJSON` is the scenario's canonical text, which
    /// the caller already has): also the digest of the computed steps, taken while they were
    /// encoded — each 32 KiB of lines is hashed while still in the cache, not in a second pass.
    static func startRun(id: String, organizationId: String, request: ScenarioRequest, scenarioJSON: [UInt8],
                         version: EngineVersion, ticks: Int, now: Int64) throws(APIError)
        -> (change: SimulationChange, digest: String)
    {
        let (simulation, record) = try begin(id: id, organizationId: organizationId, request: request,
                                             scenarioJSON: scenarioJSON, version: version, ticks: ticks, now: now)
        guard ticks > 0 else { return (SimulationChange(record: record), TraceDigest().finalize()) }
        var digest: TraceDigest? = TraceDigest()
        let change = try compute(simulation, record: record, ticks: ticks, now: now, digest: &digest)
        return (change, digest.unsafelyUnwrapped.finalize())
    }

    /// The engine and the record of a new simulation at tick 0, after the work budget's check.
    private static func begin(id: String, organizationId: String, request: ScenarioRequest, scenarioJSON: [UInt8],
                              version: EngineVersion, ticks: Int, now: Int64) throws(APIError)
        -> (any Simulation, SimulationRecord)
    {
        try checkWork(request.scenario, ticks: max(1, ticks), path: request.scenarioId == nil ? "scenario.settings" : "scenarioId")
        guard let simulation = EngineRegistry.start(request.scenario, version: version) else {
            throw APIError.engineVersionUnavailable(version.description)
        }
        let initial = canonical(simulation.snapshot().jsonValue)
        let record = SimulationRecord(
            id: id, organizationId: organizationId, scenarioId: request.scenarioId, scenarioJSON: scenarioJSON,
            seed: request.scenario.seed, engineVersion: version, status: .paused, tick: 0, createdAt: now,
            state: initial, initialState: initial, checkpoint: simulation.checkpoint(), logLength: 0,
            storesTrace: workPerTick(request.scenario) > derivedTraceWorkLimit)
        return (simulation, record)
    }

    /// Computes `ticks` more ticks.
    /// `clamped` (playback): at most the ticks left before the simulation's last (`maxTicks(of:)`).
    static func advance(_ record: SimulationRecord, ticks: Int, now: Int64, clamped: Bool = false) throws(APIError)
        -> SimulationChange
    {
        if record.status == .completed { throw APIError.completed(record) }
        let simulation = try restore(record)
        let limit = maxTicks(of: simulation.scenario)
        let ticks = clamped ? min(ticks, limit - record.tick) : ticks
        // Playing a simulation already at its last tick (stored before the limit was lower) completes it.
        if ticks <= 0, clamped { return setStatus(.completed, speed: nil, record: record, now: now) }
        try checkRoom(record, ticks: ticks, limit: limit, agents: simulation.scenario.agents.count)
        try checkWork(simulation.scenario, ticks: ticks, path: "ticks")
        return try compute(simulation, record: record, ticks: ticks, now: now)
    }

    /// Computes `ticks` more ticks of a WebSocket run (`/simulations/run/stream`), which may go
    /// past `SimulationLimits.maxTicks` (up to 10^6 ticks); the stream marks it completed at the end.
    static func advanceStreamed(_ record: SimulationRecord, ticks: Int, now: Int64) throws(APIError) -> SimulationChange {
        let simulation = try restore(record)
        return try compute(simulation, record: record, ticks: ticks, now: now, completes: false)
    }

    /// Queues a decree or policy change for the next tick; returns the change and that tick.
    static func queue(_ action: Action, kind: SimulationLogEntry.Kind, payload: JSONValue, record: SimulationRecord,
                      now: Int64) throws(APIError) -> (SimulationChange, Int) {
        if record.status == .completed { throw APIError.completed(record) }
        let simulation = try restore(record)
        let tick: Int
        do {
            tick = try simulation.submit(action)
        } catch {
            throw APIError.validation(error.issues)
        }
        var updated = record
        updated.checkpoint = simulation.checkpoint()
        let entry = SimulationLogEntry(sequence: record.logLength, tick: tick, kind: kind, payload: payload, createdAt: now)
        updated.logLength += 1
        return (SimulationChange(record: updated, log: [entry]), tick)
    }

    /// Records a playback status change.
    /// `error` (a playback step the engine refused) is stored with the change, so the `error`
    /// event it causes is as durable as the pause.
    static func setStatus(_ status: SimulationStatus, speed: Double?, record: SimulationRecord, now: Int64,
                          error: APIError? = nil) -> SimulationChange {
        var updated = record
        updated.status = status
        if let speed { updated.speed = speed }
        guard status != record.status || (speed != nil && speed != record.speed) || error != nil else {
            return SimulationChange(record: record)
        }
        var payload: [JSONMember] = [JSONMember(key: "status", value: .string(status.rawValue))]
        if status == .playing { payload.append(JSONMember(key: "speed", value: .number(updated.speed))) }
        if let error {
            payload.append(JSONMember(key: "error", value: .object([
                "code": .string(error.code.rawValue), "message": .string(error.message), "details": error.details,
            ])))
        }
        let entry = SimulationLogEntry(sequence: record.logLength, tick: record.tick, kind: .status, payload: .object(payload),
                                       createdAt: now)
        updated.logLength += 1
        return SimulationChange(record: updated, log: [entry])
    }

    /// `record` (not completed: `advance` checked) has room for `ticks` more below `limit`.
    static func checkRoom(_ record: SimulationRecord, ticks: Int, limit: Int, agents: Int) throws(APIError) {
        if record.tick + ticks > limit {
            let why = limit < SimulationLimits.maxTicks
                ? " (with \(agents) agents: \(stepRecordBudgetPerSimulation) step records, a tick's world plus one per agent)" : ""
            throw APIError.validation([ValidationIssue(
                path: "ticks",
                message: "the simulation is at tick \(record.tick); it may hold at most \(limit) ticks\(why)")])
        }
    }

    static func scenario(of record: SimulationRecord) throws(APIError) -> Scenario {
        if let id = record.scenarioId, let entry = ScenarioCatalog.scenario(id: id),
           canonical(entry.scenario.jsonValue) == record.scenarioJSON {
            return entry.scenario
        }
        do {
            return try ScenarioValidator.validate(try JSONParser.parse(record.scenarioJSON))
        } catch {
            throw APIError.internal("stored scenario of \(record.id) does not validate: \(error)")
        }
    }

    static func restore(_ record: SimulationRecord) throws(APIError) -> any Simulation {
        let scenario = try scenario(of: record)
        do {
            return try EngineRegistry.restore(record.checkpoint, scenario: scenario)
        } catch {
            throw APIError.internal("checkpoint of \(record.id) does not restore: \(error)")
        }
    }

    private static func compute(_ simulation: any Simulation, record: SimulationRecord, ticks: Int,
                                now: Int64, completes: Bool = true) throws(APIError) -> SimulationChange {
        var none: TraceDigest? = nil
        return try compute(simulation, record: record, ticks: ticks, now: now, completes: completes, digest: &none)
    }

    /// Computes `ticks` ticks into one segment of canonical lines; with a `digest`, also hashes
    /// the lines as they are written.
    private static func compute(_ simulation: any Simulation, record: SimulationRecord, ticks: Int,
                                now: Int64, completes: Bool = true, digest: inout TraceDigest?) throws(APIError)
        -> SimulationChange
    {
        let first = simulation.tick
        var lines = CanonicalJSONWriter(capacity: ticks * (300 + 200 * simulation.scenario.agents.count))
        var prophecies: [Prophecy] = []
        var losses: [Int] = []
        var hashed = 0
        for _ in 0 ..< ticks {
            let step = simulation.step()
            try checkFinite(step)
            lines.step(step)
            lines.byte(0x0A)
            if let p = step.prophecy { prophecies.append(p) }
            if let l = step.loss { losses.append(l.tick) }
            if digest != nil, lines.bytes.count - hashed >= 1 << 15 {
                lines.bytes.withUnsafeBytes { digest!.add(lines: UnsafeRawBufferPointer(rebasing: $0[hashed...])) }
                hashed = lines.bytes.count
            }
        }
        if digest != nil, lines.bytes.count > hashed {
            lines.bytes.withUnsafeBytes { digest!.add(lines: UnsafeRawBufferPointer(rebasing: $0[hashed...])) }
        }
        var updated = record
        updated.tick = simulation.tick
        updated.state = canonical(simulation.snapshot().jsonValue)
        updated.checkpoint = simulation.checkpoint()
        var log = [SimulationLogEntry(sequence: record.logLength, tick: first, kind: .step,
                                      payload: .object(["ticks": .number(Double(ticks))]), createdAt: now)]
        updated.logLength += 1
        if completes, updated.tick >= maxTicks(of: simulation.scenario) {
            updated.status = .completed
            log.append(SimulationLogEntry(sequence: updated.logLength, tick: updated.tick, kind: .status,
                                          payload: .object(["status": .string(SimulationStatus.completed.rawValue)]), createdAt: now))
            updated.logLength += 1
        }
        return SimulationChange(record: updated, log: log,
                                segment: TraceSegment(firstTick: first, tickCount: ticks, lines: lines.bytes),
                                prophecies: prophecies, lossTicks: losses)
    }

    /// A new simulation whose state is exactly `record`'s after tick `tick − 1`: the scenario
    /// replayed on the same engine version with the log's steps up to `tick` and the decrees
    /// and policy changes applied before `tick` (none queued for `tick` or later, no status
    /// change). Its log holds those entries again, so it replays, steps and derives its trace
    /// like any other simulation; stepping it with no new decree reproduces `record`'s steps
    /// from `tick` on, byte for byte.
    static func fork(_ record: SimulationRecord, log: [SimulationLogEntry], at tick: Int, id: String, now: Int64)
        throws(APIError) -> SimulationChange
    {
        guard tick >= 0, tick <= record.tick else {
            throw APIError.validation(path: "tick", "must be between 0 and the simulation's current tick \(record.tick)")
        }
        let scenario = try scenario(of: record)
        try checkWork(scenario, ticks: max(1, tick), path: "tick", output: record.storesTrace)
        var lines = CanonicalJSONWriter(capacity: record.storesTrace ? tick * (300 + 200 * scenario.agents.count) : 0)
        var entries: [SimulationLogEntry] = []
        var prophecies: [Prophecy] = []
        var losses: [Int] = []
        let simulation = try replayLog(record, scenario: scenario, log, before: tick, entry: { entry, ticks in
            var kept = entry
            kept.sequence = entries.count
            kept.createdAt = now
            if let ticks { kept.payload = .object(["ticks": .number(Double(ticks))]) }
            entries.append(kept)
        }, step: { step in
            if record.storesTrace {
                lines.step(step)
                lines.byte(0x0A)
            }
            if let p = step.prophecy { prophecies.append(p) }
            if let l = step.loss { losses.append(l.tick) }
        })
        guard simulation.tick == tick else {
            throw APIError.internal("the log of \(record.id) holds \(simulation.tick) ticks, not \(tick)")
        }
        let forked = SimulationRecord(
            id: id, organizationId: record.organizationId, scenarioId: record.scenarioId, scenarioJSON: record.scenarioJSON,
            seed: record.seed, engineVersion: record.engineVersion, status: .paused, tick: tick, createdAt: now,
            state: canonical(simulation.snapshot().jsonValue), initialState: record.initialState,
            checkpoint: simulation.checkpoint(), logLength: entries.count, speed: record.speed,
            storesTrace: record.storesTrace, forkedFrom: ForkOrigin(simulationId: record.id, tick: tick))
        let segment = record.storesTrace && tick > 0 ? TraceSegment(firstTick: 0, tickCount: tick, lines: lines.bytes) : nil
        return SimulationChange(record: forked, log: entries, segment: segment, prophecies: prophecies, lossTicks: losses)
    }

    /// Derives the trace (canonical NDJSON) from the scenario and the log alone, from tick 0:
    /// the stored segments and checkpoints are a cache of exactly this.
    /// `fromTick` > 0: the lines of the ticks from `fromTick` on (the earlier ticks are computed,
    /// not encoded).
    static func replay(_ record: SimulationRecord, log: [SimulationLogEntry], fromTick: Int = 0) throws(APIError) -> [UInt8] {
        var lines = CanonicalJSONWriter(capacity: 1 << 16)
        _ = try replayLog(record, scenario: try scenario(of: record), log, before: .max, entry: { _, _ in }, step: { step in
            guard step.tick >= fromTick else { return }
            lines.step(step)
            lines.byte(0x0A)
        })
        return lines.bytes
    }

    /// Replays `record`'s log (its entries below `logLength`) on a new engine of its scenario
    /// (`scenario`, as `scenario(of:)` read it) and version, up to tick `limit`: the steps of the step entries until `limit` ticks are
    /// computed, the decrees and policy changes that apply before `limit`; status entries are
    /// skipped. `entry` sees each entry replayed (for a step entry cut short, the ticks it
    /// replayed), `step` each step computed. Returns the engine where the replay left it.
    private static func replayLog(_ record: SimulationRecord, scenario: Scenario, _ log: [SimulationLogEntry],
                                  before limit: Int, entry: (SimulationLogEntry, _ ticks: Int?) -> Void,
                                  step: (TraceStep) -> Void) throws(APIError) -> any Simulation {
        guard let simulation = EngineRegistry.start(scenario, version: record.engineVersion) else {
            throw APIError.engineVersionUnavailable(record.engineVersion.description)
        }
        let agentIDs = scenario.agents.map(\.id)
        for e in log where e.sequence < record.logLength {
            switch e.kind {
            case .step:
                let ticks = Int(e.payload["ticks"]?.numberValue ?? 0)
                let count = min(ticks, limit - simulation.tick)
                guard count > 0 else { continue }
                entry(e, count < ticks ? count : nil)
                for _ in 0 ..< count { step(simulation.step()) }
            case .decree, .policy:
                guard e.tick < limit else { continue }
                do {
                    let action = try ScenarioValidator.validateDecree(e.payload["decree"] ?? .null, agentIDs: agentIDs)
                    try simulation.submit(action)
                } catch {
                    throw APIError.internal("log entry \(e.sequence) of \(record.id) does not replay: \(error)")
                }
                entry(e, nil)
            case .status:
                continue
            }
        }
        return simulation
    }

    /// ENGINE.md bounds capability only on input: repeated capability jumps (×11 each) or
    /// logistic growth from far above CMAX overflow binary64, and JSON has no number for the
    /// result. Such a step is refused rather than stored with `null` where a number belongs.
    static func checkFinite(_ step: TraceStep) throws(APIError) {
        let world = step.state
        guard world.stability.isFinite, world.pressure.isFinite, world.ceiling.isFinite else {
            throw nonFinite(step.tick, "the world's state")
        }
        for a in step.agents where !(a.capability.isFinite && a.alignment.isFinite && a.guardrail.isFinite && a.pressure.isFinite) {
            throw nonFinite(step.tick, "agent \(a.id)'s capability or pressure")
        }
    }

    private static func nonFinite(_ tick: Int, _ what: String) -> APIError {
        APIError.validation(path: "ticks", "at tick \(tick) \(what) leaves the range of binary64 (capability jumps or growth "
            + "overflow); nothing from this request was stored")
    }

    static func canonical(_ value: JSONValue) -> [UInt8] {
        var w = CanonicalJSONWriter(capacity: 512)
        w.value(value)
        return w.bytes
    }
}
