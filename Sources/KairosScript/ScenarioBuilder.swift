import KairosEngine

/// The scenario a running scenario body is filling in, plus the event targets to check
/// once every model and agent of the body is known.
final class ScenarioBuilder {
    var value: ScenarioValue
    var pendingTargets: [(name: String, range: SourceRange)] = []

    init(name: String) { value = ScenarioValue(name: name) }
}

extension Interpreter {
    /// Runs a scenario body and returns the scenario it declared.
    func buildScenario(name: String, body: [Stmt], env: Environment, range: SourceRange) throws(RuntimeError) -> ScenarioValue {
        let saved = builder
        let current = ScenarioBuilder(name: name)
        builder = current
        defer { builder = saved }
        if case .returned = try execute(body, env) {
            throw RuntimeError("'return' inside a scenario body", at: range)
        }
        let names = current.value.entities.map(\.name)
        for target in current.pendingTargets where !names.contains(target.name) {
            throw RuntimeError("unknown target \(quote(target.name)) in scenario \(name)", at: target.range, id: "unknown-target",
                               hint: didYouMean(target.name, in: names) ?? (names.isEmpty ? "declare a model or agent first" : "declared: \(names.joined(separator: ", "))"))
        }
        // The engine's own validator is the last word; the checks above give better locations.
        do throws(ValidationFailure) {
            _ = try ScenarioValidator.validate(current.value.native.jsonValue)
        } catch {
            throw RuntimeError("scenario \(name) is invalid: \(error.description)", at: range, id: "invalid-scenario")
        }
        return current.value
    }

    func ruled(_ e: Expr, _ env: Environment, _ what: String, _ rule: FieldRules.Rule) throws(RuntimeError) -> Double {
        let n = try number(e, env, what)
        if let problem = FieldRules.violation(n, rule) {
            throw RuntimeError("\(what) \(problem), got \(formatNumber(n))", at: e.range, id: "out-of-range")
        }
        return n
    }

    func entityName(_ name: EntityName, _ env: Environment) throws(RuntimeError) -> String {
        let v = try evaluate(name.expr, env)
        guard case .string(let s) = v, !s.isEmpty else {
            throw RuntimeError("a name must be a non-empty string, got \(v.repr)", at: name.expr.range, id: "type-error")
        }
        return s
    }

    /// Applies one scenario declaration to the scenario being built.
    func declare(_ s: Stmt, _ env: Environment) throws(RuntimeError) {
        guard let b = builder else { return }
        switch s.kind {
        case .seed(let e): b.value.seed = UInt64(try ruled(e, env, "seed", FieldRules.seed))
        case .ticks(let e): b.value.ticks = Int(try ruled(e, env, "ticks", FieldRules.ticks))
        case .stability(let e): b.value.stability = try ruled(e, env, "stability", FieldRules.stability)
        case .basin(let e): b.value.basin = Int(try ruled(e, env, "basin", FieldRules.basin))
        case .entity(let kind, let nameExpr, let fields):
            let name = try entityName(nameExpr, env)
            if b.value.entities.contains(where: { $0.name == name }) {
                throw RuntimeError("duplicate name \(quote(name)) in scenario \(b.value.name)", at: nameExpr.expr.range,
                                   id: "duplicate-name")
            }
            var values: [String: Double] = [:]
            for f in fields {
                guard let rule = FieldRules.entity(kind, f.name) else {
                    throw RuntimeError("unknown \(kind.rawValue) field '\(f.name)'", at: f.nameRange, id: "unknown-field",
                                       hint: didYouMean(f.name, in: kind.fields) ?? "fields: \(kind.fields.joined(separator: ", "))")
                }
                guard values[f.name] == nil else {
                    throw RuntimeError("\(f.name) is set twice", at: f.nameRange, id: "duplicate-field")
                }
                values[f.name] = try ruled(f.value, env, f.name, rule)
            }
            let missing = kind.requiredFields.filter { values[$0] == nil }
            if !missing.isEmpty {
                throw RuntimeError("\(kind.rawValue) \(quote(name)) is missing \(missing.joined(separator: ", "))", at: s.range,
                                   id: "missing-field")
            }
            switch kind {
            case .model:
                b.value.entities.append(.model(AISafetyInput.Model(
                    name: name, capabilityIndex: values["capability"] ?? 0, alignmentScore: values["alignment"] ?? 0,
                    guardrailCoverage: values["guardrails"] ?? 0, growthRate: values["growth"], lambda: values["lambda"],
                    gamma: values["gamma"])))
            case .agent:
                var a = AgentSpec(id: name)
                if let v = values["capability"] { a.capability = v }
                if let v = values["alignment"] { a.alignment = v }
                if let v = values["guardrail"] { a.guardrail = v }
                if let v = values["growth"] { a.growth = v }
                if let v = values["lambda"] { a.lambda = v }
                if let v = values["gamma"] { a.gamma = v }
                b.value.entities.append(.agent(a))
            }
        case .event(let decl):
            b.value.events.append(try event(decl, env, b))
        case .prophecy(let p):
            var settings = b.value.settings ?? Settings()
            if let e = p.every { settings.prophecyInterval = Int(try ruled(e, env, "every", FieldRules.every)) }
            if let e = p.horizon { settings.prophecyHorizon = Int(try ruled(e, env, "horizon", FieldRules.horizon)) }
            if let e = p.depth { settings.recursionDepth = Int(try ruled(e, env, "depth", FieldRules.depth)) }
            b.value.settings = settings
        default:
            break
        }
    }

    func event(_ decl: EventDecl, _ env: Environment, _ b: ScenarioBuilder) throws(RuntimeError) -> ScenarioValue.ScheduledEvent {
        let tick = Int(try ruled(decl.tick, env, "the event tick", FieldRules.eventTick))
        guard let (kind, domain) = FieldRules.eventKind(decl.kind) else {
            throw RuntimeError("unknown event kind '\(decl.kind)'", at: decl.kindRange, id: "unknown-kind",
                               hint: didYouMean(decl.kind, in: FieldRules.allEventKinds))
        }
        var action = Action(kind: kind)
        if let t = decl.target {
            let name = try entityName(t, env)
            action.target = name
            b.pendingTargets.append((name, t.expr.range))
        }
        if let m = decl.magnitude {
            if let range = kind.magnitudeRange {
                action.magnitude = try ruled(m, env, "\(kind.rawValue) magnitude", FieldRules.Rule(range: range))
            } else if kind == .policy {
                let v = try evaluate(m, env)
                guard case .record(let r) = v else {
                    throw RuntimeError("a policy event takes 'by {lambda: …, gamma: …}'", at: m.range, id: "type-error")
                }
                (action.lambda, action.gamma) = try policyValues(r, m.range)
            } else {
                throw RuntimeError("\(kind.rawValue) takes no magnitude", at: m.range, id: "bad-event",
                                   hint: kind == .moratorium ? "write 'for N ticks'" : nil)
            }
        } else if kind == .policy {
            throw RuntimeError("a policy event needs 'by {lambda: …, gamma: …}'", at: decl.kindRange, id: "bad-event")
        }
        if let d = decl.duration {
            guard kind == .moratorium else {
                throw RuntimeError("only a moratorium lasts 'for N ticks'", at: d.range, id: "bad-event")
            }
            action.ticks = Int(try ruled(d, env, "the moratorium length", FieldRules.duration))
        }
        return ScenarioValue.ScheduledEvent(tick: tick, action: action, domainType: domain, hasMagnitude: decl.magnitude != nil)
    }

    /// `{lambda: 0.7, gamma: 0.2}` → the policy values, each in [0, 1].
    func policyValues(_ r: Record, _ range: SourceRange) throws(RuntimeError) -> (Double?, Double?) {
        var lambda: Double?
        var gamma: Double?
        for (key, value) in r.fields {
            guard key == "lambda" || key == "gamma" else {
                throw RuntimeError("a policy has lambda and gamma, not '\(key)'", at: range, id: "unknown-field",
                                   hint: didYouMean(key, in: ["lambda", "gamma"]))
            }
            guard case .number(let n) = value, (0 ... 1).contains(n) else {
                throw RuntimeError("\(key) must be a number between 0 and 1, got \(value.repr)", at: range, id: "out-of-range")
            }
            if key == "lambda" { lambda = n } else { gamma = n }
        }
        guard lambda != nil || gamma != nil else {
            throw RuntimeError("a policy needs lambda, gamma or both", at: range, id: "bad-event")
        }
        return (lambda, gamma)
    }
}
