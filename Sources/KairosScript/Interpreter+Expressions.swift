import KairosEngine

extension Interpreter {
    func evaluate(_ e: Expr, _ env: Environment) throws(RuntimeError) -> Value {
        switch e.kind {
        case .number(let n): return .number(n)
        case .bool(let b): return .bool(b)
        case .null: return .null
        case .string(let segments):
            var text = ""
            for s in segments {
                switch s {
                case .text(let t): text += t
                case .expr(let x): text += try evaluate(x, env).displayText
                }
                try checkLength(text.utf8.count, e.range)
            }
            return .string(text)
        case .name(let name):
            if let v = env.lookup(name) { return v }
            if declarationsOnly, skippedNames.contains(name) {
                throw RuntimeError("'\(name)' needs a run", at: e.range, id: Interpreter.skippedRunID)
            }
            if Builtins.names.contains(name) { return .builtin(Builtin(name: name)) }
            // A script's command-line arguments; empty where nothing bound them (check, compile,
            // an embedding), so `if len(args) > 0 { … }` works everywhere.
            if name == "args" { return .list([]) }
            throw RuntimeError("unknown name '\(name)'", at: e.range, id: "unknown-name",
                               hint: didYouMean(name, in: env.visibleNames + Builtins.names))
        case .list(let items):
            var values: [Value] = []
            values.reserveCapacity(items.count)
            var nested = false
            for item in items {
                let v = try evaluate(item, env)
                nested = nested || v.isContainer
                values.append(v)
            }
            return nested ? try checkNesting(.list(values), e.range) : .list(values)
        case .record(let fields):
            var r = Record()
            var nested = false
            for f in fields {
                let v = try evaluate(f.value, env)
                nested = nested || v.isContainer
                r.fields.append((f.key, v))
            }
            return nested ? try checkNesting(.record(r), e.range) : .record(r)
        case .unary(let op, let x):
            let v = try evaluate(x, env)
            switch (op, v) {
            case (.negate, .number(let n)): return .number(-n)
            case (.not, .bool(let b)): return .bool(!b)
            default:
                throw RuntimeError("'\(op.rawValue)' cannot apply to a \(v.typeName)", at: e.range, id: "type-error")
            }
        case .binary(let op, let a, let b):
            return try binary(op, a, b, e.range, env)
        case .range(let lo, let hi, let step):
            let low = try number(lo, env, "a range bound")
            let high = try number(hi, env, "a range bound")
            let s = try step.map { s throws(RuntimeError) in try number(s, env, "a range step") } ?? 1
            guard s != 0, s.isFinite else { throw RuntimeError("a range step cannot be 0", at: e.range) }
            return .range(RangeValue(low: low, high: high, step: s, inclusive: true))
        case .call(let callee, let args):
            return try call(callee, args, e.range, env)
        case .index(let base, let index):
            // `t.steps[i]` and `t.stability[i]` without building the whole list each time.
            if case .member(let owner, let name) = base.kind, name == "steps" || name == "stability",
               case .trace(let t) = try evaluate(owner, env) {
                let i = try listIndex(try evaluate(index, env), count: t.trace.steps.count, at: index.range)
                let step = t.trace.steps[i]
                return name == "steps" ? .step(step) : .number(step.state.stability)
            }
            return try subscriptValue(try evaluate(base, env), try evaluate(index, env), base: base, index: index)
        case .member(let base, let name):
            return try member(try evaluate(base, env), name, e.range)
        case .lambda(let params, let body):
            return .function(makeFunction(name: "lambda", params: params, body: body, closure: env, isScenario: false))
        case .run(let subject, let ticks):
            return try runExpression(subject, ticks, e.range, env)
        case .stream(let subject, let ticks):
            let scenario = try scenarioOperand(subject, env, verb: "stream")
            let request = RunRequest(scenario: scenario, ticks: try tickCount(ticks, scenario, env), engine: engine)
            _ = try backend(at: e.range)
            return .stream(StreamValue(request: request))
        case .start(let subject):
            let scenario = try scenarioOperand(subject, env, verb: "start")
            let request = RunRequest(scenario: scenario, ticks: scenario.ticks, engine: engine)
            let backend = try backend(at: e.range)
            do throws(BackendError) {
                let live = try backend.start(request)
                return .simulation(SimulationHandle(live: live, request: request, initial: try live.snapshot(), backend: backend))
            } catch {
                throw RuntimeError(error.message, at: e.range, hint: error.hint)
            }
        case .compile(let subject, let form):
            let v = try evaluate(subject, env)
            func one(_ v: Value) throws(RuntimeError) -> Value {
                guard case .scenario(let s) = v else {
                    throw RuntimeError("compile takes a scenario, got \(v.typeName)", at: subject.range, id: "type-error")
                }
                guard let json = s.requestJSON(form: form, engine: engine) else {
                    throw RuntimeError("scenario \(s.name) cannot be compiled as a domain input: \(s.domainObstacle ?? "")",
                                       at: e.range, hint: "compile it 'as scenario' for the native form")
                }
                return Value(json: json)
            }
            if case .list(let items) = v {
                var out: [Value] = []
                for item in items { out.append(try one(item)) }
                return .list(out)
            }
            return try one(v)
        }
    }

    func number(_ e: Expr, _ env: Environment, _ what: String) throws(RuntimeError) -> Double {
        let v = try evaluate(e, env)
        guard case .number(let n) = v else {
            throw RuntimeError("\(what) must be a number, got \(v.typeName) \(v.repr)", at: e.range, id: "type-error")
        }
        return n
    }

    func binary(_ op: BinaryOperator, _ a: Expr, _ b: Expr, _ range: SourceRange, _ env: Environment) throws(RuntimeError) -> Value {
        if op == .and || op == .or {
            let left = try evaluate(a, env)
            guard case .bool(let l) = left else {
                throw RuntimeError("'\(op.rawValue)' needs true or false, got \(left.typeName) \(left.repr)", at: a.range, id: "type-error")
            }
            if op == .and && !l { return .bool(false) }
            if op == .or && l { return .bool(true) }
            let right = try evaluate(b, env)
            guard case .bool(let r) = right else {
                throw RuntimeError("'\(op.rawValue)' needs true or false, got \(right.typeName) \(right.repr)", at: b.range, id: "type-error")
            }
            return .bool(r)
        }
        let l = try evaluate(a, env)
        let r = try evaluate(b, env)
        switch op {
        case .equal, .notEqual:
            guard let eq = try equal(l, r, range) else {
                throw RuntimeError("cannot compare \(l.typeName) with \(r.typeName)", at: range, id: "type-error",
                                   hint: "values of different types are never compared; convert one with str() or check the type")
            }
            return .bool(op == .equal ? eq : !eq)
        case .less, .lessEqual, .greater, .greaterEqual:
            let c: Int
            switch (l, r) {
            case (.number(let x), .number(let y)):
                if x.isNaN || y.isNaN { return .bool(false) }
                c = x < y ? -1 : x > y ? 1 : 0
            case (.string(let x), .string(let y)): c = x < y ? -1 : x > y ? 1 : 0
            default:
                throw RuntimeError("cannot compare \(l.typeName) with \(r.typeName) using '\(op.rawValue)'", at: range, id: "type-error")
            }
            switch op {
            case .less: return .bool(c < 0)
            case .lessEqual: return .bool(c <= 0)
            case .greater: return .bool(c > 0)
            default: return .bool(c >= 0)
            }
        case .add:
            switch (l, r) {
            case (.number(let x), .number(let y)): return .number(x + y)
            case (.string(let x), .string(let y)):
                try checkLength(x.utf8.count + y.utf8.count, range)
                return .string(x + y)
            case (.list(let x), .list(let y)):
                try checkLength(x.count + y.count, range)
                return .list(x + y)
            default:
                let hint = l.typeName == "string" || r.typeName == "string" ? "use interpolation: \"…{x}…\", or str(x)" : nil
                throw RuntimeError("cannot add \(l.typeName) and \(r.typeName)", at: range, id: "type-error", hint: hint)
            }
        case .subtract, .multiply, .divide, .remainder:
            guard case .number(let x) = l, case .number(let y) = r else {
                throw RuntimeError("'\(op.rawValue)' needs numbers, got \(l.typeName) and \(r.typeName)", at: range, id: "type-error")
            }
            switch op {
            case .subtract: return .number(x - y)
            case .multiply: return .number(x * y)
            case .divide:
                guard y != 0 else { throw RuntimeError("division by zero", at: range, id: "division-by-zero") }
                return .number(x / y)
            default:
                guard y != 0 else { throw RuntimeError("remainder by zero", at: range, id: "division-by-zero") }
                return .number(x.truncatingRemainder(dividingBy: y))
            }
        case .and, .or:
            return .null
        }
    }

    /// Structural equality; nil when the two values may not be compared.
    func equal(_ l: Value, _ r: Value, _ range: SourceRange) throws(RuntimeError) -> Bool? {
        switch (l, r) {
        case (.null, .null): return true
        case (.null, _), (_, .null): return false
        case (.number(let x), .number(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.bool(let x), .bool(let y)): return x == y
        case (.list(let x), .list(let y)):
            guard x.count == y.count else { return false }
            for (a, b) in zip(x, y) {
                guard let e = try equal(a, b, range) else { return nil }
                if !e { return false }
            }
            return true
        case (.record(let x), .record(let y)):
            guard x.keys == y.keys else { return false }
            for (a, b) in zip(x.fields, y.fields) {
                guard let e = try equal(a.value, b.value, range) else { return nil }
                if !e { return false }
            }
            return true
        case (.trace(let x), .trace(let y)): return x.trace.metadata.digest == y.trace.metadata.digest
        case (.scenario(let x), .scenario(let y)): return x == y
        case (.step(let x), .step(let y)): return x == y
        default: return nil
        }
    }

    func subscriptValue(_ container: Value, _ index: Value, base: Expr, index indexExpr: Expr) throws(RuntimeError) -> Value {
        switch (container, index) {
        case (.list(let items), .number):
            return items[try listIndex(index, count: items.count, at: indexExpr.range)]
        case (.string(let s), .number):
            let chars = Array(s)
            return .string(String(chars[try listIndex(index, count: chars.count, at: indexExpr.range)]))
        case (.record(let r), .string(let key)):
            guard let v = r[key] else {
                throw RuntimeError("record has no key \(quote(key))", at: indexExpr.range, id: "unknown-member",
                                   hint: didYouMean(key, in: r.keys))
            }
            return v
        case (.range(let r), .number):
            return .number(r.element(try listIndex(index, count: r.count, at: indexExpr.range)))
        default:
            throw RuntimeError("cannot index a \(container.typeName) with a \(index.typeName)", at: indexExpr.range, id: "type-error")
        }
    }

    func member(_ v: Value, _ name: String, _ range: SourceRange) throws(RuntimeError) -> Value {
        func missing(_ names: [String]) -> RuntimeError {
            RuntimeError("\(v.typeName) has no member '\(name)'", at: range, id: "unknown-member", hint: didYouMean(name, in: names))
        }
        switch v {
        case .record(let r):
            guard let f = r[name] else { throw missing(r.keys) }
            return f
        case .trace(let t):
            if TraceValue.methods.contains(name) { return .method(BoundMethod(receiver: v, name: name)) }
            guard let p = t.property(name) else { throw missing(TraceValue.members) }
            return p
        case .plot(let p):
            guard let v = p.property(name) else { throw missing(PlotValue.members) }
            return v
        case .step(let s):
            if name == "agent" { return .method(BoundMethod(receiver: v, name: name)) }
            guard let p = StepMembers.property(s, name) else { throw missing(StepMembers.names) }
            return p
        case .simulation(let h):
            switch name {
            case "step", "decree", "policy", "fork": return .method(BoundMethod(receiver: v, name: name))
            case "trace": return .trace(h.traceValue())
            case "tick": return .number(Double(h.live.tick))
            case "state":
                do {
                    return Value(json: try h.live.snapshot().jsonValue)
                } catch {
                    throw RuntimeError(error.message, at: range, hint: error.hint)
                }
            default: throw missing(SimulationHandle.members)
            }
        case .scenario(let s):
            guard let p = ScenarioMembers.property(s, name) else {
                if TraceValue.members.contains(name) {
                    throw RuntimeError("scenario \(s.name) has no member '\(name)': it has not run yet", at: range, id: "unknown-member",
                                       hint: "run it first: let t = run \(s.name), then t.\(name)")
                }
                throw missing(ScenarioMembers.names)
            }
            return p
        case .function(let f) where f.isScenario:
            throw RuntimeError("\(f.signature) is a scenario with parameters: it has no member '\(name)'", at: range, id: "unknown-member",
                               hint: TraceValue.members.contains(name) ? "run it with values first: let t = run \(f.name)(…), then t.\(name)"
                                   : "call it with values first: \(f.name)(…).\(name)")
        default:
            throw RuntimeError("a \(v.typeName) has no members", at: range, id: "unknown-member")
        }
    }

    // MARK: Calls

    func call(_ calleeExpr: Expr, _ argExprs: [Expr], _ range: SourceRange, _ env: Environment) throws(RuntimeError) -> Value {
        // `sim.trace()` and `sim.state()` read the same as the properties.
        if case .member(let base, let name) = calleeExpr.kind, argExprs.isEmpty, ["trace", "state", "tick"].contains(name) {
            let receiver = try evaluate(base, env)
            if case .simulation = receiver { return try member(receiver, name, calleeExpr.range) }
        }
        let callee = try evaluate(calleeExpr, env)
        var args: [Value] = []
        args.reserveCapacity(argExprs.count)
        for a in argExprs { args.append(try evaluate(a, env)) }
        return try callValue(callee, args, CallSite(range: range, calleeRange: calleeExpr.range, argRanges: argExprs.map(\.range)))
    }

    func callValue(_ callee: Value, _ args: [Value], _ site: CallSite) throws(RuntimeError) -> Value {
        switch callee {
        case .function(let f): return try callFunction(f, args, site)
        case .builtin(let b): return try callBuiltin(b.name, args, site)
        case .method(let m): return try callMethod(m, args, site)
        default:
            throw RuntimeError("a \(callee.typeName) is not a function", at: site.calleeRange, id: "type-error")
        }
    }

    func callFunction(_ f: FunctionValue, _ args: [Value], _ site: CallSite) throws(RuntimeError) -> Value {
        guard args.count == f.params.count else {
            throw RuntimeError("\(f.name) takes \(plural(f.params.count, "argument")), got \(args.count)", at: site.range,
                               id: "arity")
        }
        // A call is a step: recursion spends the budget and sees Ctrl-C as loops do (the fuzzer
        // found `fib(n - 1) + fib(n - 1)`, 2^20 calls, running past its 20 s timeout unbudgeted).
        try checkCancelled(site.range)
        guard callDepth < Interpreter.maxCallDepth else {
            throw RuntimeError("too many nested calls (more than \(Interpreter.maxCallDepth)); is the recursion missing a base case?",
                               at: site.range, id: "stack-overflow")
        }
        callDepth += 1
        let caller = currentSource
        currentSource = f.source
        defer {
            callDepth -= 1
            currentSource = caller
        }
        let scope = Environment(parent: f.closure)
        for (p, a) in zip(f.params, args) { scope.define(p, a) }
        do throws(RuntimeError) {
            if f.isScenario, case .block(let body) = f.body {
                var scenario = try buildScenario(name: f.name, body: body, env: scope, range: site.range)
                // Plain arguments only (numbers, strings, lists, records): `t.params`.
                scenario.params = .object(zip(f.params, args).compactMap { p, a in
                    Interpreter.plainJSON(a).map { JSONMember(key: p, value: $0) }
                })
                return .scenario(scenario)
            }
            switch f.body {
            case .expression(let e):
                return try evaluate(e, scope)
            case .block(let body):
                if case .returned(let v) = try execute(body, scope) { return v }
                return .null
            }
        } catch {
            // The error happened in this function's text; the frame says who called it.
            var e = error
            if e.diagnostic.fileName.isEmpty {
                e.diagnostic.fileName = f.source.fileName
                e.diagnostic.excerpt = f.source.line(e.diagnostic.range.start.line).map(String.init)
            }
            if e.diagnostic.id != "interrupted" {
                e.diagnostic.addFrame(StackFrame(function: f.signature, callSite: site.range, fileName: caller.fileName))
            }
            throw e
        }
    }

    // MARK: run

    func scenarioOperand(_ e: Expr, _ env: Environment, verb: String) throws(RuntimeError) -> ScenarioValue {
        let v = try evaluate(e, env)
        guard case .scenario(let s) = v else {
            throw RuntimeError("\(verb) takes a scenario, got \(v.typeName)", at: e.range, id: "type-error",
                               hint: v.typeName == "function" ? "call it first: \(verb) name(arguments)" : nil)
        }
        return s
    }

    func tickCount(_ e: Expr?, _ scenario: ScenarioValue, _ env: Environment) throws(RuntimeError) -> Int {
        let count = try requestedTicks(e, scenario, env)
        if let max = limits.maxTicks, count > max {
            throw RuntimeError("runs are limited to \(max) ticks here, not \(count)", at: e?.range ?? SourceRange(at: .start), id: "out-of-range")
        }
        return count
    }

    func requestedTicks(_ e: Expr?, _ scenario: ScenarioValue, _ env: Environment) throws(RuntimeError) -> Int {
        guard let e else { return scenario.ticks }
        let n = try number(e, env, "ticks")
        if let problem = FieldRules.violation(n, FieldRules.ticks) {
            throw RuntimeError("ticks \(problem)", at: e.range, id: "out-of-range")
        }
        return Int(n)
    }

    func runExpression(_ subject: Expr, _ ticks: Expr?, _ range: SourceRange, _ env: Environment) throws(RuntimeError) -> Value {
        let v = try evaluate(subject, env)
        var requests: [RunRequest] = []
        let isList: Bool
        switch v {
        case .scenario(let s):
            isList = false
            requests.append(RunRequest(scenario: s, ticks: try tickCount(ticks, s, env), engine: engine))
        case .list(let items):
            isList = true
            for (i, item) in items.enumerated() {
                guard case .scenario(let s) = item else {
                    throw RuntimeError("run takes scenarios; item \(i) is a \(item.typeName)", at: subject.range, id: "type-error")
                }
                requests.append(RunRequest(scenario: s, ticks: try tickCount(ticks, s, env), engine: engine))
            }
        default:
            throw RuntimeError("run takes a scenario or a list of scenarios, got \(v.typeName)", at: subject.range,
                               id: "type-error", hint: v.typeName == "function" ? "call it first: run name(arguments)" : nil)
        }
        if let long = requests.first(where: { $0.ticks > FieldRules.maxKeptTicks }) {
            throw RuntimeError("run keeps every step in memory: at most \(FieldRules.maxKeptTicks) ticks, not \(long.ticks)",
                               at: range, id: "out-of-range", hint: "stream steps through longer runs in constant memory")
        }
        let results = try backend(at: range).run(requests, cancellation: cancellation)
        var traces: [Value] = []
        for (r, request) in zip(results, requests) {
            switch r {
            case .success(let t): traces.append(.trace(t.annotated(params: request.scenario.params, request: request)))
            case .failure(let e):
                if e == .cancelled { throw RuntimeError("interrupted", at: range, id: "interrupted") }
                throw RuntimeError(e.message, at: range, hint: e.hint)
            }
        }
        return isList ? .list(traces) : traces[0]
    }
}

/// Where a call is written, for argument-specific messages.
struct CallSite {
    var range: SourceRange
    var calleeRange: SourceRange
    var argRanges: [SourceRange]

    func arg(_ i: Int) -> SourceRange { i < argRanges.count ? argRanges[i] : range }

    /// The same call seen as a method call on its first argument (`fork(sim, t)` → `sim.fork(t)`).
    var droppingFirstArgument: CallSite {
        CallSite(range: range, calleeRange: calleeRange, argRanges: Array(argRanges.dropFirst()))
    }
}

/// Members of a scenario value.
enum ScenarioMembers {
    static let names = ["name", "seed", "ticks", "models", "agents", "events"]

    static func property(_ s: ScenarioValue, _ name: String) -> Value? {
        switch name {
        case "name": return .string(s.name)
        case "seed": return .number(Double(s.seed))
        case "ticks": return .number(Double(s.ticks))
        case "models", "agents":
            let wanted = name == "models"
            return .list(s.entities.compactMap { e in
                switch e {
                case .model: wanted ? .string(e.name) : nil
                case .agent: wanted ? nil : .string(e.name)
                }
            })
        case "events": return .list(s.events.map { Value(json: Event(tick: $0.tick, action: $0.action).jsonValue) })
        default: return nil
        }
    }
}
