import KairosEngine

/// Semantic checks before anything runs: unknown names, unknown event kinds and targets,
/// out-of-range literal fields (alignment 170, a negative tick), missing model fields, an
/// engine that is not offered. Values computed at run time are checked again then.
public struct Checker {
    private var diagnostics: [Diagnostic] = []
    private var scopes: [Set<String>]

    /// Checks `program`, given the names the session already binds.
    public static func check(_ program: Program, knownNames: Set<String>) -> [Diagnostic] {
        var globals = knownNames.union(Builtins.names).union(["args"])
        // Top-level functions may call functions declared further down the file.
        for s in program.statements {
            switch s.kind {
            case .letBinding(let name, _, _), .function(let name, _, _, _), .scenario(let name, _, _, _): globals.insert(name)
            default: break
            }
        }
        var checker = Checker(scopes: [globals])
        checker.block(program.statements, newScope: false)
        return checker.diagnostics
    }

    private init(scopes: [Set<String>]) { self.scopes = scopes }

    private mutating func report(_ id: String, _ message: String, _ range: SourceRange, hint: String? = nil,
                                 severity: Severity = .error) {
        diagnostics.append(Diagnostic(id, message, at: range, phase: .semantic, hint: hint, severity: severity))
    }

    private mutating func declare(_ name: String) { scopes[scopes.count - 1].insert(name) }

    private func isKnown(_ name: String) -> Bool { scopes.contains { $0.contains(name) } }

    private var visible: [String] { scopes.flatMap { $0 }.sorted() }

    private mutating func block(_ statements: [Stmt], newScope: Bool = true) {
        if newScope { scopes.append([]) }
        for s in statements { statement(s) }
        if newScope { scopes.removeLast() }
    }

    private mutating func function(_ params: [String], _ body: FunctionBody) {
        scopes.append(Set(params))
        switch body {
        case .expression(let e): expr(e)
        case .block(let b): block(b, newScope: false)
        }
        scopes.removeLast()
    }

    private mutating func statement(_ s: Stmt) {
        switch s.kind {
        case .expression(let e): expr(e)
        case .letBinding(let name, _, let value):
            expr(value)
            declare(name)
        case .assign(let target, let value):
            expr(target)
            expr(value)
        case .function(let name, _, let params, let body):
            declare(name)
            function(params, .block(body))
        case .scenario(let name, _, let params, let body):
            declare(name)
            scopes.append(Set(params ?? []))
            block(body, newScope: false)
            scenarioBody(body)
            scopes.removeLast()
        case .ifElse(let condition, let then, let otherwise):
            expr(condition)
            block(then)
            if let otherwise { block(otherwise) }
        case .forIn(let name, _, let sequence, let body):
            expr(sequence)
            scopes.append([name])
            block(body, newScope: false)
            scopes.removeLast()
        case .whileLoop(let condition, let body):
            expr(condition)
            block(body)
        case .breakLoop, .continueLoop: break
        case .returnValue(let e): if let e { expr(e) }
        case .use(let target):
            switch target {
            case .embedded: break
            case .remote(let e): expr(e)
            case .engine(let e):
                expr(e)
                if case .string(let segments) = e.kind, segments.count == 1, case .text(let text) = segments[0],
                   EngineVersion(text).flatMap(EngineRegistry.physics(for:)) == nil {
                    report("unknown-engine", "engine \(text) is not available", e.range,
                           hint: "offered: \(EngineRegistry.available.map(\.description).joined(separator: ", "))")
                }
            }
        case .seed(let e):
            literal(e, "seed", FieldRules.seed)
        case .ticks(let e):
            literal(e, "ticks", FieldRules.ticks)
        case .stability(let e):
            literal(e, "stability", FieldRules.stability)
        case .basin(let e):
            literal(e, "basin", FieldRules.basin)
        case .entity(let kind, let name, let fields):
            entityName(name)
            var seen = Set<String>()
            for f in fields {
                expr(f.value)
                guard let rule = FieldRules.entity(kind, f.name) else {
                    report("unknown-field", "unknown \(kind.rawValue) field '\(f.name)'", f.nameRange,
                           hint: didYouMean(f.name, in: kind.fields) ?? "fields: \(kind.fields.joined(separator: ", "))")
                    continue
                }
                if !seen.insert(f.name).inserted {
                    report("duplicate-field", "\(f.name) is set twice", f.nameRange)
                }
                literal(f.value, f.name, rule)
            }
            let missing = kind.requiredFields.filter { !seen.contains($0) }
            if !missing.isEmpty {
                report("missing-field", "\(kind.rawValue) \(name.literal.map(quote) ?? "") is missing \(missing.joined(separator: ", "))",
                       s.range)
            }
        case .event(let e):
            expr(e.tick)
            literal(e.tick, "the event tick", FieldRules.eventTick)
            if let m = e.magnitude { expr(m) }
            if let d = e.duration {
                expr(d)
                literal(d, "the moratorium length", FieldRules.duration)
            }
            if let t = e.target { entityName(t) }
            guard let (kind, _) = FieldRules.eventKind(e.kind) else {
                report("unknown-kind", "unknown event kind '\(e.kind)'", e.kindRange,
                       hint: didYouMean(e.kind, in: FieldRules.allEventKinds))
                return
            }
            if let m = e.magnitude {
                if let range = kind.magnitudeRange {
                    literal(m, "\(kind.rawValue) magnitude", FieldRules.Rule(range: range))
                } else if kind != .policy {
                    report("bad-event", "\(kind.rawValue) takes no magnitude", m.range,
                           hint: kind == .moratorium ? "write 'for N ticks'" : nil)
                }
            }
            if let d = e.duration, kind != .moratorium {
                report("bad-event", "only a moratorium lasts 'for N ticks'", d.range)
            }
            let written = "at \(e.tick.literalText ?? "T") \(e.kind)\(e.target.flatMap(\.literal).map { " " + quote($0) } ?? "")"
            if e.magnitude == nil, e.duration == nil, let range = kind.magnitudeRange {
                report("missing-magnitude", "\(e.kind) needs a magnitude", e.kindRange,
                       hint: "write '\(written) by M' with M between \(formatNumber(range.lowerBound)) and \(formatNumber(range.upperBound))")
            } else if e.magnitude == nil, kind == .policy {
                report("missing-magnitude", "a policy event needs 'by {lambda: …, gamma: …}'", e.kindRange,
                       hint: "write '\(written) by {lambda: 0.7}'")
            } else if e.duration == nil, e.magnitude == nil, kind == .moratorium {
                report("missing-duration", "a moratorium needs a length", e.kindRange,
                       hint: "write '\(written) for N ticks'")
            }
        case .prophecy(let p):
            if let e = p.every { literal(e, "every", FieldRules.every) }
            if let e = p.horizon { literal(e, "horizon", FieldRules.horizon) }
            if let e = p.depth { literal(e, "depth", FieldRules.depth) }
        }
    }

    /// Event targets against the models and agents a scenario body declares, when every
    /// name involved is written literally.
    private mutating func scenarioBody(_ body: [Stmt]) {
        var names: [String] = []
        var dynamicNames = false
        var targets: [(String, SourceRange)] = []
        var seenNames = Set<String>()
        // The run length, when the body sets it with a literal (100 when it does not set it).
        var ticks: Double? = 100
        var ticksComputed = false
        var eventTicks: [(Double, SourceRange)] = []
        func walk(_ statements: [Stmt]) {
            for s in statements {
                switch s.kind {
                case .ticks(let e):
                    if case .number(let n) = e.kind { ticks = n } else { ticksComputed = true }
                case .entity(_, let name, _):
                    if let n = name.literal {
                        if !seenNames.insert(n).inserted {
                            report("duplicate-name", "duplicate name \(quote(n))", name.expr.range)
                        }
                        names.append(n)
                    } else {
                        dynamicNames = true
                    }
                case .event(let e):
                    if let t = e.target, let n = t.literal { targets.append((n, t.expr.range)) }
                    if case .number(let n) = e.tick.kind { eventTicks.append((n, e.tick.range)) }
                case .ifElse(_, let then, let otherwise):
                    walk(then)
                    if let otherwise { walk(otherwise) }
                case .forIn(_, _, _, let b), .whileLoop(_, let b):
                    walk(b)
                default: break
                }
            }
        }
        walk(body)
        if let ticks, !ticksComputed {
            for (t, range) in eventTicks where t >= ticks {
                report("event-after-end", "this event never happens: the scenario runs ticks 0 to \(formatNumber(ticks - 1))", range,
                       hint: "raise 'ticks' above \(formatNumber(t)), or run it longer with 'run NAME ticks \(formatNumber(t + 1))'",
                       severity: .warning)
            }
        }
        guard !dynamicNames else { return }
        for (n, range) in targets where !names.contains(n) {
            report("unknown-target", "unknown target \(quote(n))", range,
                   hint: didYouMean(n, in: names) ?? (names.isEmpty ? "declare a model or agent first" : "declared: \(names.joined(separator: ", "))"))
        }
    }

    /// A model, agent or target name: a string, or a variable holding one.
    private mutating func entityName(_ name: EntityName) {
        if case .name(let n) = name.expr.kind, !isKnown(n) {
            report("unknown-name", "unknown name '\(n)'", name.expr.range,
                   hint: didYouMean(n, in: visible).map { "\($0), or a literal name in quotes: \"\(n)\"" }
                       ?? "a literal name goes in quotes: \"\(n)\"")
            return
        }
        expr(name.expr)
    }

    /// A literal number (or a negated one) checked against its rule.
    private mutating func literal(_ e: Expr, _ what: String, _ rule: FieldRules.Rule) {
        let value: Double
        switch e.kind {
        case .number(let n): value = n
        case .unary(.negate, let inner):
            guard case .number(let n) = inner.kind else { return }
            value = -n
        case .string, .bool, .null, .list, .record:
            report("type-error", "\(what) must be a number", e.range)
            return
        default: return
        }
        if let problem = FieldRules.violation(value, rule) {
            report("out-of-range", "\(what) \(problem), got \(formatNumber(value))", e.range)
        }
    }

    private mutating func expr(_ e: Expr) {
        switch e.kind {
        case .number, .bool, .null: break
        case .string(let segments):
            for case .expr(let x) in segments { expr(x) }
        case .name(let name):
            if !isKnown(name) {
                report("unknown-name", "unknown name '\(name)'", e.range, hint: didYouMean(name, in: visible))
            }
        case .list(let items): items.forEach { expr($0) }
        case .record(let fields): fields.forEach { expr($0.value) }
        case .unary(_, let x), .member(let x, _), .start(let x), .compile(let x, _): expr(x)
        case .binary(_, let a, let b), .index(let a, let b):
            expr(a)
            expr(b)
        case .range(let a, let b, let step):
            expr(a)
            expr(b)
            if let step { expr(step) }
        case .call(let f, let args):
            expr(f)
            args.forEach { expr($0) }
        case .lambda(let params, let body): function(params, body)
        case .run(let x, let ticks), .stream(let x, let ticks):
            expr(x)
            if let ticks {
                expr(ticks)
                literal(ticks, "ticks", FieldRules.ticks)
            }
        }
    }
}
