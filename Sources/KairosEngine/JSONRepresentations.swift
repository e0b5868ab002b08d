// JSON forms of engine values, as the API and the CLI show them.

extension Settings {
    public var jsonValue: JSONValue {
        .object([
            "prophecyInterval": .number(Double(prophecyInterval)),
            "prophecyHorizon": .number(Double(prophecyHorizon)),
            "recursionDepth": .number(Double(recursionDepth)),
        ])
    }
}

extension Action {
    /// The decree form: `{kind, target?, magnitude? | ticks? | lambda?, gamma?}`.
    public var jsonMembers: [JSONMember] {
        var m = [JSONMember(key: "kind", value: .string(kind.rawValue))]
        if let target { m.append(JSONMember(key: "target", value: .string(target))) }
        switch kind {
        case .moratorium: m.append(JSONMember(key: "ticks", value: .number(Double(ticks))))
        case .policy:
            if let lambda { m.append(JSONMember(key: "lambda", value: .number(lambda))) }
            if let gamma { m.append(JSONMember(key: "gamma", value: .number(gamma))) }
        default: m.append(JSONMember(key: "magnitude", value: .number(magnitude)))
        }
        return m
    }

    public var jsonValue: JSONValue { .object(jsonMembers) }
}

extension Event {
    public var jsonValue: JSONValue {
        .object([JSONMember(key: "tick", value: .number(Double(tick)))] + action.jsonMembers)
    }
}

extension Scenario {
    /// The native form of ENGINE.md with every field explicit.
    public var jsonValue: JSONValue {
        .object([
            "seed": .number(Double(seed)),
            "agents": .array(agents.map { a in
                .object([
                    "id": .string(a.id),
                    "policy": .object(["lambda": .number(a.lambda), "gamma": .number(a.gamma)]),
                    "state": .object([
                        "capability": .number(a.capability), "alignment": .number(a.alignment),
                        "guardrail": .number(a.guardrail),
                    ]),
                    "growth": .number(a.growth),
                ])
            }),
            "initialState": .object(["stability": .number(initialStability), "basin": .number(Double(initialBasin))]),
            "events": .array(events.map(\.jsonValue)),
            "settings": settings.jsonValue,
        ])
    }
}

extension AISafetyInput {
    public var jsonValue: JSONValue {
        var members: [JSONMember] = []
        if let seed { members.append(JSONMember(key: "seed", value: .number(Double(seed)))) }
        if let initialStability { members.append(JSONMember(key: "initialStability", value: .number(initialStability))) }
        if let settings { members.append(JSONMember(key: "settings", value: settings.jsonValue)) }
        members.append(JSONMember(key: "models", value: .array(models.map { m in
            var f: [JSONMember] = [
                JSONMember(key: "name", value: .string(m.name)),
                JSONMember(key: "capability_index", value: .number(m.capabilityIndex)),
                JSONMember(key: "alignment_score", value: .number(m.alignmentScore)),
                JSONMember(key: "guardrail_coverage", value: .number(m.guardrailCoverage)),
            ]
            if let v = m.growthRate { f.append(JSONMember(key: "growth_rate", value: .number(v))) }
            if let v = m.lambda { f.append(JSONMember(key: "lambda", value: .number(v))) }
            if let v = m.gamma { f.append(JSONMember(key: "gamma", value: .number(v))) }
            return .object(f)
        })))
        members.append(JSONMember(key: "events", value: .array(events.map { e in
            var f: [JSONMember] = [
                JSONMember(key: "tick", value: .number(Double(e.tick))),
                JSONMember(key: "type", value: .string(e.type.rawValue)),
            ]
            if let v = e.target { f.append(JSONMember(key: "target", value: .string(v))) }
            if let v = e.magnitude { f.append(JSONMember(key: "magnitude", value: .number(v))) }
            if let v = e.ticks { f.append(JSONMember(key: "ticks", value: .number(Double(v)))) }
            return .object(f)
        })))
        return .object(members)
    }
}

extension Optional where Wrapped == Int {
    var json: JSONValue { map { .number(Double($0)) } ?? .null }
}

extension TraceStep {
    public var jsonValue: JSONValue {
        .object([
            "tick": .number(Double(tick)),
            "move": .string(move),
            "state": state.jsonValue,
            "warning": warning.map {
                .object(["level": .string($0.level.rawValue), "threshold": .number($0.threshold),
                         "stability": .number($0.stability)])
            } ?? .null,
            "loss": loss?.jsonValue ?? .null,
            "prophecy": prophecy?.jsonValue ?? .null,
            "paradox": paradox.map {
                .object(["tick": .number(Double($0.tick)), "prophecy": .number(Double($0.prophecy)), "kind": .string($0.kind)])
            } ?? .null,
            "agents": .array(agents.map(\.jsonValue)),
        ])
    }
}

extension BasinLoss {
    public var jsonValue: JSONValue {
        .object(["tick": .number(Double(tick)), "magnitude": .number(magnitude), "agent": agent.map { .string($0) } ?? .null,
                 "basin": .number(Double(basin))])
    }
}

extension Prophecy {
    public var jsonValue: JSONValue {
        .object(["id": .number(Double(id)), "tick": .number(Double(tick)), "horizon": .number(Double(horizon)),
                 "predictedStability": .number(predictedStability), "predictedLoss": predictedLoss.json])
    }
}

extension WorldSnapshot {
    public var jsonValue: JSONValue {
        .object(["stability": .number(stability), "basin": .number(Double(basin)), "phase": .string(phase.rawValue),
                 "pressure": .number(pressure), "ceiling": .number(ceiling)])
    }
}

extension AgentSnapshot {
    public var jsonValue: JSONValue {
        .object([
            "id": .string(id),
            "state": .object(["capability": .number(capability), "alignment": .number(alignment),
                              "guardrail": .number(guardrail), "pressure": .number(pressure)]),
            "policy": .object(["lambda": .number(lambda), "gamma": .number(gamma)]),
        ])
    }
}

extension SimulationSnapshot {
    /// `{tick, stability, basin, phase, pressure, ceiling, agents}`.
    public var jsonValue: JSONValue {
        var members = [JSONMember(key: "tick", value: .number(Double(tick)))]
        if case .object(let w) = world.jsonValue { members += w }
        members.append(JSONMember(key: "agents", value: .array(agents.map(\.jsonValue))))
        return .object(members)
    }
}

extension TraceMetadata {
    public var jsonValue: JSONValue {
        .object([
            "simulationId": simulationId.map { .string($0) } ?? .null,
            "scenarioId": scenarioId.map { .string($0) } ?? .null,
            "engineVersion": .string(engineVersion.description),
            "seed": .number(Double(seed)),
            "ticks": .number(Double(ticks)),
            "digest": .string(digest),
        ])
    }
}

extension Trace {
    /// `{metadata, initialState, steps}` (API.md).
    public var jsonValue: JSONValue {
        .object(["metadata": metadata.jsonValue, "initialState": initialState.jsonValue,
                 "steps": .array(steps.map(\.jsonValue))])
    }
}

extension TraceSummary {
    public var jsonValue: JSONValue {
        .object([
            "ticks": .number(Double(ticks)),
            "finalPhase": finalPhase.map { .string($0.rawValue) } ?? .null,
            "finalStability": finalStability.map { .number($0) } ?? .null,
            "meanStability": meanStability.map { .number($0) } ?? .null,
            "minStability": minStability.map { .number($0) } ?? .null,
            "basinLosses": .array(losses.map(\.jsonValue)),
            "warnings": .number(Double(warnings)),
            "prophecies": .number(Double(prophecies)),
            "paradoxes": .number(Double(paradoxes)),
        ])
    }
}
