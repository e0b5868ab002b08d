import KairosEngine

/// The built-in functions of LANGUAGE.md, plus `catalog`.
enum Builtins {
    static let names = [
        "print", "len", "range", "sum", "mean", "min", "max", "abs", "round", "floor", "ceil", "sqrt", "map", "filter",
        "sort", "keys", "str", "json", "table", "plot", "save", "load", "assert", "catalog",
        "help", "fork",
    ] + AnalysisBuiltins.names
}

extension Interpreter {
    func callBuiltin(_ name: String, _ args: [Value], _ site: CallSite) throws(RuntimeError) -> Value {
        // The argument checks the analysis built-ins use (same messages).
        let checked = BuiltinArguments(name: name, values: args, site: site, interpreter: self)
        func arity(_ allowed: ClosedRange<Int>) throws(RuntimeError) { try checked.arity(allowed) }
        func num(_ i: Int) throws(RuntimeError) -> Double { try checked.number(i) }
        func str(_ i: Int) throws(RuntimeError) -> String {
            guard case .string(let s) = args[i] else {
                throw RuntimeError("\(name) needs a string, got \(args[i].typeName)", at: site.arg(i), id: "type-error")
            }
            return s
        }
        func numbers(_ v: Value, _ i: Int) throws(RuntimeError) -> [Double] {
            var out: [Double] = []
            for item in try sequence(v, site.arg(i), name) {
                guard case .number(let n) = item else {
                    throw RuntimeError("\(name) needs numbers, found \(item.typeName) \(item.repr)", at: site.arg(i), id: "type-error")
                }
                out.append(n)
            }
            return out
        }

        switch name {
        case "print":
            emit(args.map(\.printText).joined(separator: " ") + "\n")
            return .null
        case "len":
            try arity(1 ... 1)
            switch args[0] {
            case .list(let l): return .number(Double(l.count))
            case .string(let s): return .number(Double(s.count))
            case .record(let r): return .number(Double(r.fields.count))
            case .range(let r): return .number(Double(r.count))
            case .trace(let t): return .number(Double(t.tickCount))
            default: throw RuntimeError("len needs a list, string, record, range or trace, got \(args[0].typeName)", at: site.arg(0), id: "type-error")
            }
        case "range":
            try arity(1 ... 3)
            let (lo, hi) = args.count == 1 ? (0.0, try num(0)) : (try num(0), try num(1))
            let step = args.count == 3 ? try num(2) : 1
            guard step != 0 else { throw RuntimeError("a range step cannot be 0", at: site.arg(2)) }
            return .range(RangeValue(low: lo, high: hi, step: step, inclusive: false))
        case "sum", "mean":
            try arity(1 ... 1)
            let xs = try numbers(args[0], 0)
            var total = 0.0
            for x in xs { total += x }
            if name == "sum" { return .number(total) }
            guard !xs.isEmpty else { throw RuntimeError("mean of an empty list", at: site.arg(0)) }
            return .number(total / Double(xs.count))
        case "min", "max":
            guard !args.isEmpty else { try arity(1 ... 1); return .null }
            let xs = args.count == 1 ? try numbers(args[0], 0) : try numbers(.list(args), 0)
            guard var best = xs.first else { throw RuntimeError("\(name) of an empty list", at: site.arg(0)) }
            for x in xs.dropFirst() { best = name == "min" ? Swift.min(best, x) : Swift.max(best, x) }
            return .number(best)
        case "abs": try arity(1 ... 1); return .number(Swift.abs(try num(0)))
        case "floor": try arity(1 ... 1); return .number(try num(0).rounded(.down))
        case "ceil": try arity(1 ... 1); return .number(try num(0).rounded(.up))
        case "sqrt":
            try arity(1 ... 1)
            let x = try num(0)
            guard x >= 0 else { throw RuntimeError("sqrt of a negative number", at: site.arg(0)) }
            return .number(x.squareRoot())
        case "round":
            try arity(1 ... 2)
            let x = try num(0)
            guard args.count == 2 else { return .number(x.rounded(.toNearestOrAwayFromZero)) }
            let places = try num(1)
            guard places >= 0, places <= 15, places == places.rounded() else {
                throw RuntimeError("round takes 0 to 15 decimal places", at: site.arg(1), id: "out-of-range")
            }
            // Round on the decimal text so round(0.55785, 4) is the 0.5579 a reader expects.
            return .number(Double(formatFixed(x, Int(places))) ?? x)
        case "map", "filter":
            try arity(2 ... 2)
            let items = try sequence(args[0], site.arg(0), name)
            var out: [Value] = []
            var nested = false
            for item in items {
                try checkCancelled(site.range)
                let r = try callValue(args[1], [item], site)
                if name == "map" {
                    nested = nested || r.isContainer
                    out.append(r)
                } else {
                    guard case .bool(let keep) = r else {
                        throw RuntimeError("filter's function must return true or false, got \(r.typeName)", at: site.arg(1), id: "type-error")
                    }
                    if keep { out.append(item) }
                }
            }
            return nested ? try checkNesting(.list(out), site.range) : .list(out)
        case "sort":
            try arity(1 ... 2)
            let items = try sequence(args[0], site.arg(0), name)
            var keys: [Value] = []
            for item in items { keys.append(args.count == 2 ? try callValue(args[1], [item], site) : item) }
            return .list(try sorted(items, keys: keys, site))
        case "keys":
            try arity(1 ... 1)
            let names = Interpreter.members(of: args[0])
            guard !names.isEmpty || args[0].typeName == "record" else {
                throw RuntimeError("keys needs a value with members (a record, trace, step, simulation or scenario), got \(args[0].typeName)",
                                   at: site.arg(0), id: "type-error")
            }
            return .list(names.map { .string($0) })
        case "str":
            try arity(1 ... 1)
            return .string(args[0].printText)
        case "json":
            try arity(1 ... 1)
            return .string(CanonicalJSON.string(try jsonValue(args[0], site.arg(0))))
        case "table":
            try arity(1 ... 1)
            emit(try TextRendering.table(args[0], at: site.arg(0)) + "\n")
            return .null
        case "plot":
            return try plotBuiltin(args, site)
        case "save" where !limits.fileAccess, "load" where !limits.fileAccess:
            throw RuntimeError("\(name) cannot touch files here", at: site.range, id: "file-access")
        case "save":
            try arity(2 ... 2)
            try TraceFiles.save(args[0], to: try str(1), interpreter: self, at: site)
            return .null
        case "load":
            try arity(1 ... 1)
            return try TraceFiles.load(try str(0), at: site.arg(0))
        case "assert":
            try arity(1 ... 2)
            guard case .bool(let ok) = args[0] else {
                throw RuntimeError("assert needs true or false, got \(args[0].typeName)", at: site.arg(0), id: "type-error")
            }
            if !ok {
                let message = args.count == 2 ? args[1].printText : "assertion failed"
                throw RuntimeError(args.count == 2 ? "assertion failed: \(message)" : message, at: site.range, id: "assertion")
            }
            return .null
        case "fork":
            try arity(2 ... 2)
            return try forkBuiltin(args, site)
        case "help":
            try arity(0 ... 1)
            emit(try helpText(args.first, site) + "\n")
            return .null
        case "catalog":
            try arity(1 ... 1)
            let id = try str(0)
            guard let entry = ScenarioCatalog.scenario(id: id) else {
                throw RuntimeError("no catalog scenario \(quote(id))", at: site.arg(0), id: "unknown-scenario",
                                   hint: didYouMean(id, in: ScenarioCatalog.all.map(\.id)) ?? "catalog: \(ScenarioCatalog.all.map(\.id).joined(separator: ", "))")
            }
            return .scenario(ScenarioValue(catalog: entry))
        default:
            if let v = try callAnalysisBuiltin(name, args, site) { return v }
            throw RuntimeError("unknown built-in '\(name)'", at: site.calleeRange, id: "unknown-name")
        }
    }

    /// The items of anything a loop or `map` can walk (not streams: they are unbounded).
    func sequence(_ v: Value, _ range: SourceRange, _ what: String) throws(RuntimeError) -> [Value] {
        switch v {
        case .list(let l): return l
        case .range(let r):
            guard r.count <= 10_000_000 else { throw RuntimeError("range too long for \(what)", at: range) }
            try checkLength(r.count, range)
            return (0 ..< r.count).map { .number(r.element($0)) }
        case .trace(let t): return t.trace.steps.map { .step($0) }
        case .string(let s): return s.map { .string(String($0)) }
        default:
            throw RuntimeError("\(what) needs a list or a range, got \(v.typeName)", at: range, id: "type-error")
        }
    }

    func sorted(_ items: [Value], keys: [Value], _ site: CallSite) throws(RuntimeError) -> [Value] {
        if keys.allSatisfy({ if case .number = $0 { true } else { false } }) {
            let order = keys.indices.sorted { i, j in
                guard case .number(let a) = keys[i], case .number(let b) = keys[j] else { return false }
                return a < b || (a == b && i < j)
            }
            return order.map { items[$0] }
        }
        if keys.allSatisfy({ if case .string = $0 { true } else { false } }) {
            let order = keys.indices.sorted { i, j in
                guard case .string(let a) = keys[i], case .string(let b) = keys[j] else { return false }
                return a < b || (a == b && i < j)
            }
            return order.map { items[$0] }
        }
        throw RuntimeError("sort needs all numbers or all strings", at: site.range, id: "type-error",
                           hint: "pass a key function: sort(list, x => x.field)")
    }

    /// The JSON form of a value (`json(x)`, `save(x, "f.json")`).
    func jsonValue(_ v: Value, _ range: SourceRange) throws(RuntimeError) -> JSONValue {
        switch v {
        case .null: return .null
        case .bool(let b): return .bool(b)
        case .number(let n):
            guard n.isFinite else { throw RuntimeError("\(formatNumber(n)) has no JSON form", at: range) }
            return .number(n)
        case .string(let s): return .string(s)
        case .list(let items):
            var out: [JSONValue] = []
            for i in items { out.append(try jsonValue(i, range)) }
            return .array(out)
        case .record(let r):
            var out: [JSONMember] = []
            for f in r.fields { out.append(JSONMember(key: f.key, value: try jsonValue(f.value, range))) }
            return .object(out)
        case .range(let r): return .array((0 ..< Swift.min(r.count, 10_000_000)).map { .number(r.element($0)) })
        case .trace(let t): return t.trace.jsonValue
        case .step(let s): return s.jsonValue
        case .scenario(let s): return s.requestJSON(form: .automatic) ?? .null
        case .simulation(let h): return h.traceValue().trace.jsonValue
        case .plot(let p): return p.jsonValue
        case .function, .builtin, .method, .stream:
            throw RuntimeError("a \(v.typeName) has no JSON form", at: range, id: "type-error")
        }
    }

    // MARK: Methods

    func callMethod(_ m: BoundMethod, _ args: [Value], _ site: CallSite) throws(RuntimeError) -> Value {
        func string(_ i: Int, _ what: String) throws(RuntimeError) -> String {
            guard i < args.count, case .string(let s) = args[i] else {
                throw RuntimeError("\(m.name) needs \(what) as argument \(i + 1)", at: site.arg(i), id: "type-error")
            }
            return s
        }
        switch (m.receiver, m.name) {
        case (.trace(let t), "agent"):
            let id = try string(0, "an agent id")
            guard args.count == 1, let series = t.agentSeries(id) else {
                throw RuntimeError("trace has no agent \(quote(id))", at: site.arg(0), id: "unknown-target",
                                   hint: didYouMean(id, in: t.agentIDs))
            }
            return series
        case (.trace(let t), "at"):
            guard args.count == 1, case .number(let n) = args[0] else {
                throw RuntimeError("at needs a tick number", at: site.arg(0), id: "type-error")
            }
            let steps = t.trace.steps
            // Steps are stored by tick from 0, so the tick is the index (a loaded trace may differ).
            let direct = n >= 0 && n < Double(steps.count) && n == n.rounded() ? steps[Int(n)] : nil
            guard let step = direct?.tick == Int(exactly: n) ? direct : steps.first(where: { Double($0.tick) == n }) else {
                throw RuntimeError("trace has no tick \(formatNumber(n)) (it has 0 to \(t.trace.steps.count - 1))",
                                   at: site.arg(0), id: "index-range")
            }
            return .step(step)
        case (.step(let s), "agent"):
            let id = try string(0, "an agent id")
            guard let a = StepMembers.agent(s, id) else {
                throw RuntimeError("step has no agent \(quote(id))", at: site.arg(0), id: "unknown-target",
                                   hint: didYouMean(id, in: s.agents.map(\.id)))
            }
            return a
        case (.simulation(let h), _):
            return try simulationMethod(h, m.name, args, site)
        default:
            throw RuntimeError("\(m.receiver.typeName) has no method '\(m.name)'", at: site.calleeRange, id: "unknown-member")
        }
    }

    func simulationMethod(_ h: SimulationHandle, _ name: String, _ args: [Value], _ site: CallSite) throws(RuntimeError) -> Value {
        /// Runs a call on the live simulation, turning its failure into a located script error.
        func live<T>(_ body: () throws(BackendError) -> T) throws(RuntimeError) -> T {
            do throws(BackendError) {
                return try body()
            } catch {
                if error == .cancelled { throw RuntimeError("interrupted", at: site.range, id: "interrupted") }
                throw RuntimeError(error.message, at: site.range, hint: error.hint)
            }
        }
        switch name {
        case "step":
            var count = 1.0
            if args.count == 1, case .number(let n) = args[0] {
                count = n
            } else if !args.isEmpty {
                throw RuntimeError("step takes a tick count", at: site.arg(0), id: "type-error")
            }
            guard count >= 1, count == count.rounded(), count <= Double(limits.maxTicks ?? FieldRules.maxKeptTicks) else {
                throw RuntimeError("step takes a whole number of ticks from 1 to \(limits.maxTicks ?? FieldRules.maxKeptTicks)", at: site.arg(0),
                                   id: "out-of-range")
            }
            // In batches, so Ctrl-C is seen between them and a remote backend makes few requests.
            var remaining = Int(count)
            var last: TraceStep?
            while remaining > 0 {
                try checkCancelled(site.range)
                let batch = min(remaining, 1000)
                let steps = try live { () throws(BackendError) in try h.live.step(batch) }
                for s in steps { h.record(s) }
                last = steps.last ?? last
                remaining -= batch
            }
            return last.map { .step($0) } ?? .null
        case "decree":
            let action = try decree(args, h, site)
            return .number(Double(try live { () throws(BackendError) in try h.submit(action) }))
        case "policy":
            guard args.count == 2, case .string(let target) = args[0], case .record(let r) = args[1] else {
                throw RuntimeError("policy takes an agent id and {lambda: …, gamma: …}", at: site.range, id: "type-error")
            }
            try checkTarget(target, h, site.arg(0))
            let (lambda, gamma) = try policyValues(r, site.arg(1))
            let action = Action(kind: .policy, target: target, lambda: lambda, gamma: gamma)
            return .number(Double(try live { () throws(BackendError) in try h.submit(action) }))
        case "fork":
            guard args.count == 1, case .number(let t) = args[0] else {
                throw RuntimeError("fork takes the tick to fork at: sim.fork(40)", at: site.range, id: "arity")
            }
            let current = h.live.tick
            guard t >= 0, t == t.rounded(), t <= Double(current) else {
                throw RuntimeError("fork tick must be a whole number from 0 to the simulation's tick \(current), got \(formatNumber(t))",
                                   at: site.arg(0), id: "out-of-range")
            }
            return .simulation(try live { () throws(BackendError) in try h.fork(at: Int(t)) })
        default:
            throw RuntimeError("simulation has no method '\(name)'", at: site.calleeRange, id: "unknown-member")
        }
    }

    /// `sim.decree(kind, [target], [magnitude or ticks])`.
    func decree(_ args: [Value], _ h: SimulationHandle, _ site: CallSite) throws(RuntimeError) -> Action {
        guard let first = args.first, case .string(let spelling) = first else {
            throw RuntimeError("decree takes a kind first: sim.decree(\"shock\", 0.2)", at: site.range, id: "type-error")
        }
        guard let (kind, _) = FieldRules.eventKind(spelling), kind != .policy else {
            throw RuntimeError("unknown decree kind \(quote(spelling))", at: site.arg(0), id: "unknown-kind",
                               hint: spelling == "policy" ? "use sim.policy(id, {lambda: …})" : didYouMean(spelling, in: FieldRules.allEventKinds))
        }
        var action = Action(kind: kind)
        var rest = Array(args.dropFirst())
        var index = 1
        if case .string(let target)? = rest.first {
            try checkTarget(target, h, site.arg(1))
            action.target = target
            rest.removeFirst()
            index += 1
        }
        guard let amount = rest.first else { return action }
        guard case .number(let n) = amount, rest.count == 1 else {
            throw RuntimeError("decree takes a kind, an optional target and an optional number", at: site.arg(index), id: "type-error")
        }
        if kind == .moratorium {
            if let problem = FieldRules.violation(n, FieldRules.duration) {
                throw RuntimeError("moratorium ticks \(problem)", at: site.arg(index), id: "out-of-range")
            }
            action.ticks = Int(n)
            return action
        }
        guard let range = kind.magnitudeRange, range.contains(n) else {
            let text = kind.magnitudeRange.map { "between \(formatNumber($0.lowerBound)) and \(formatNumber($0.upperBound))" } ?? "absent"
            throw RuntimeError("\(kind.rawValue) magnitude must be \(text), got \(formatNumber(n))", at: site.arg(index), id: "out-of-range")
        }
        action.magnitude = n
        return action
    }

    func checkTarget(_ target: String, _ h: SimulationHandle, _ range: SourceRange) throws(RuntimeError) {
        let ids = h.request.scenario.native.agents.map(\.id)
        guard ids.contains(target) else {
            throw RuntimeError("unknown target \(quote(target))", at: range, id: "unknown-target", hint: didYouMean(target, in: ids))
        }
    }
}

extension Value {
    /// How `print` and `str` show a value: strings bare, traces as their summary.
    var printText: String {
        switch self {
        case .trace(let t): t.summaryText
        default: displayText
        }
    }
}

extension Interpreter {
    /// What `help(x)` prints: the entry for a built-in or a name given as a string, the members
    /// of a trace, step, simulation or scenario, a function's signature.
    func helpText(_ subject: Value?, _ site: CallSite) throws(RuntimeError) -> String {
        guard let subject else {
            return "help(x) describes a built-in, keyword or member: help(quantile), help(\"stream\"), help(t) for a trace's members.\n"
                + "Built-ins: " + Builtins.names.sorted().joined(separator: " ")
        }
        func members(_ kind: HelpEntry.Kind, _ title: String) -> String {
            let entries = HelpCatalog.all.filter { $0.kind == kind }
            let width = (entries.map(\.signature.count).max() ?? 0) + 2
            return ([title] + entries.map { "  " + $0.signature + String(repeating: " ", count: width - $0.signature.count) + $0.summary })
                .joined(separator: "\n")
        }
        let name: String
        switch subject {
        case .builtin(let b): name = b.name
        case .string(let s): name = s.trimmingCharacters(in: " ")
        case .trace: return members(.traceMember, "a trace has:")
        case .step: return members(.stepMember, "a step has:")
        case .simulation: return members(.simulationMember, "a simulation has:")
        case .scenario: return members(.scenarioMember, "a scenario has:")
        case .function(let f):
            return "\(f.isScenario ? "scenario" : "fn") \(f.signature)" + (f.isScenario ? ": call it with values to get a scenario" : "")
        case .method(let m):
            name = m.name
        default:
            throw RuntimeError("help takes a built-in, a name in quotes or a trace, step, simulation or scenario, got \(subject.typeName)",
                               at: site.arg(0), id: "type-error", hint: "help(\"\(subject.typeName)\") or help(mean)")
        }
        let found = HelpCatalog.entries(named: name)
        guard !found.isEmpty else {
            if name == "builtins" { return HelpCatalog.builtinTable }
            throw RuntimeError("no help on \(quote(name))", at: site.arg(0), id: "unknown-name",
                               hint: didYouMean(name, in: HelpCatalog.names) ?? "help() lists the built-ins")
        }
        return HelpCatalog.render(found)
    }
}

extension String {
    func trimmingCharacters(in set: Character) -> String {
        String(drop { $0 == set }.reversed().drop { $0 == set }.reversed())
    }
}

extension Interpreter {
    /// `fork(trace, t)`: a live simulation at the trace's state after tick t − 1 — forked on the
    /// server when the trace is a remote run there, otherwise its request replayed (with a live
    /// simulation's decrees) on the current target. `fork(sim, t)` is `sim.fork(t)`.
    func forkBuiltin(_ args: [Value], _ site: CallSite) throws(RuntimeError) -> Value {
        if case .simulation(let h) = args[0] { return try simulationMethod(h, "fork", [args[1]], site.droppingFirstArgument) }
        guard case .trace(let t) = args[0] else {
            throw RuntimeError("fork takes a trace (or a live simulation) and a tick, got \(args[0].typeName)", at: site.arg(0),
                               id: "type-error")
        }
        guard case .number(let n) = args[1] else {
            throw RuntimeError("fork needs a number, got \(args[1].typeName) \(args[1].repr)", at: site.arg(1), id: "type-error")
        }
        guard n >= 0, n == n.rounded(), n <= Double(t.tickCount) else {
            throw RuntimeError("fork tick must be a whole number from 0 to the trace's \(t.tickCount) ticks, got \(formatNumber(n))",
                               at: site.arg(1), id: "out-of-range")
        }
        guard let origin = t.origin else {
            throw RuntimeError("this trace was read from a file: fork needs the scenario that made it", at: site.arg(0),
                               id: "no-origin", hint: "fork a trace made by run, or a live simulation: sim.fork(t)")
        }
        let tick = Int(n)
        let backend = try backend(at: site.range)
        do throws(BackendError) {
            let simulationId = t.holdsSteps ? t.trace.metadata.simulationId : nil
            let live = try backend.fork(origin, simulationId: simulationId, at: tick)
            let trace = t.trace
            return .simulation(SimulationHandle.adopt(live, origin: origin, steps: trace.steps.prefix(tick),
                                                      initial: trace.initialState, backend: backend))
        } catch {
            if error == .cancelled { throw RuntimeError("interrupted", at: site.range, id: "interrupted") }
            throw RuntimeError(error.message, at: site.range, hint: error.hint)
        }
    }
}
