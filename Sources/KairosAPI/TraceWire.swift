import KairosEngine

// Reading the engine's JSON forms back (the client's side of the wire): the inverse of
// `TraceStep.jsonValue`, `Trace.jsonValue` and `SimulationSnapshot.jsonValue`.

extension TraceStep {
    /// A step as the API sends it (one NDJSON line, or an element of `trace.steps`); nil when
    /// `json` is not one.
    public init?(json: JSONValue) {
        guard let tick = json["tick"]?.integerValue, let move = json["move"]?.stringValue,
              let state = json["state"].flatMap(WorldSnapshot.init(json:)),
              let agentsJSON = json["agents"]?.arrayValue else { return nil }
        var agents: [AgentSnapshot] = []
        for a in agentsJSON {
            guard let agent = AgentSnapshot(json: a) else { return nil }
            agents.append(agent)
        }
        var warning: StabilityWarning?
        if let w = json["warning"], w != .null {
            guard let level = w["level"]?.stringValue.flatMap(WarningLevel.init(rawValue:)),
                  let threshold = w["threshold"]?.numberValue, let stability = w["stability"]?.numberValue else { return nil }
            warning = StabilityWarning(level: level, threshold: threshold, stability: stability)
        }
        var loss: BasinLoss?
        if let l = json["loss"], l != .null {
            guard let t = l["tick"]?.integerValue, let magnitude = l["magnitude"]?.numberValue,
                  let basin = l["basin"]?.integerValue else { return nil }
            loss = BasinLoss(tick: t, magnitude: magnitude, agent: l["agent"]?.stringValue, basin: basin)
        }
        var prophecy: Prophecy?
        if let p = json["prophecy"], p != .null {
            guard let prophecyValue = Prophecy(json: p) else { return nil }
            prophecy = prophecyValue
        }
        var paradox: Paradox?
        if let p = json["paradox"], p != .null {
            guard let t = p["tick"]?.integerValue, let id = p["prophecy"]?.integerValue, let kind = p["kind"]?.stringValue else {
                return nil
            }
            paradox = Paradox(tick: t, prophecy: id, kind: kind)
        }
        self.init(tick: tick, move: move, state: state, warning: warning, loss: loss, prophecy: prophecy, paradox: paradox,
                  agents: agents)
    }
}

extension Prophecy {
    public init?(json: JSONValue) {
        guard let id = json["id"]?.integerValue, let tick = json["tick"]?.integerValue,
              let horizon = json["horizon"]?.integerValue, let stability = json["predictedStability"]?.numberValue else {
            return nil
        }
        self.init(id: id, tick: tick, horizon: horizon, predictedStability: stability,
                  predictedLoss: json["predictedLoss"]?.integerValue)
    }
}

extension WorldSnapshot {
    public init?(json: JSONValue) {
        guard let stability = json["stability"]?.numberValue, let basin = json["basin"]?.integerValue,
              let phase = json["phase"]?.stringValue.flatMap(Phase.init(rawValue:)),
              let pressure = json["pressure"]?.numberValue, let ceiling = json["ceiling"]?.numberValue else { return nil }
        self.init(stability: stability, basin: basin, phase: phase, pressure: pressure, ceiling: ceiling)
    }
}

extension AgentSnapshot {
    public init?(json: JSONValue) {
        guard let id = json["id"]?.stringValue, let s = json["state"], let p = json["policy"],
              let capability = s["capability"]?.numberValue, let alignment = s["alignment"]?.numberValue,
              let guardrail = s["guardrail"]?.numberValue, let pressure = s["pressure"]?.numberValue,
              let lambda = p["lambda"]?.numberValue, let gamma = p["gamma"]?.numberValue else { return nil }
        self.init(id: id, capability: capability, alignment: alignment, guardrail: guardrail, pressure: pressure,
                  lambda: lambda, gamma: gamma)
    }
}

extension SimulationSnapshot {
    /// `{tick, stability, basin, phase, pressure, ceiling, agents}`.
    public init?(json: JSONValue) {
        guard let tick = json["tick"]?.integerValue, let world = WorldSnapshot(json: json),
              let agentsJSON = json["agents"]?.arrayValue else { return nil }
        var agents: [AgentSnapshot] = []
        for a in agentsJSON {
            guard let agent = AgentSnapshot(json: a) else { return nil }
            agents.append(agent)
        }
        self.init(tick: tick, world: world, agents: agents)
    }
}

extension Trace {
    /// `{metadata, initialState, steps}`.
    public init?(json: JSONValue) {
        guard let m = json["metadata"], let version = m["engineVersion"]?.stringValue.flatMap(EngineVersion.init),
              let seed = m["seed"]?.integerValue, let ticks = m["ticks"]?.integerValue, let digest = m["digest"]?.stringValue,
              let initial = json["initialState"].flatMap(SimulationSnapshot.init(json:)),
              let stepsJSON = json["steps"]?.arrayValue else { return nil }
        var steps: [TraceStep] = []
        steps.reserveCapacity(stepsJSON.count)
        for s in stepsJSON {
            guard let step = TraceStep(json: s) else { return nil }
            steps.append(step)
        }
        self.init(metadata: TraceMetadata(simulationId: m["simulationId"]?.stringValue, scenarioId: m["scenarioId"]?.stringValue,
                                          engineVersion: version, seed: UInt64(seed), ticks: ticks, digest: digest),
                  initialState: initial, steps: steps)
    }
}

extension JSONValue {
    /// The number as an `Int` when it is a whole number in range.
    public var integerValue: Int? {
        guard case .number(let n) = self, n == n.rounded(.towardZero), n.magnitude < 9_007_199_254_740_992 else { return nil }
        return Int(n)
    }
}
