import KairosEngine

/// Where a script's text goes. The library never prints: the CLI passes a sink that writes
/// to standard output, tests a `CollectedOutput`.
public protocol OutputSink: AnyObject {
    func write(_ text: String)
}

/// Collects output in memory.
public final class CollectedOutput: OutputSink {
    public private(set) var text = ""
    public init() {}
    public func write(_ text: String) { self.text += text }
}

/// What one `evaluate` call produced.
public struct Evaluation {
    /// Problems found; when any is an error, nothing after it ran.
    public var diagnostics: [Diagnostic]
    /// The value of a trailing expression statement (what a REPL shows), if there was one
    /// and evaluation succeeded.
    public var value: Value?

    public var succeeded: Bool { !diagnostics.contains { $0.severity == .error } }

    /// The exit status the CLI uses: 0 ok, 1 runtime error or failed assert, 2 syntax or
    /// semantic error.
    public var exitStatus: Int32 {
        guard let first = diagnostics.first(where: { $0.severity == .error }) else { return 0 }
        return first.phase == .runtime ? 1 : 2
    }
}

/// Where runs go: `use embedded` (the default) or `use remote "URL"`.
public enum RunTarget: Sendable, Equatable {
    case embedded
    case remote(String)
}

/// A runtime error: a diagnostic thrown up to `evaluate`. Only real errors travel this way;
/// `break`, `continue` and `return` are ordinary results (`Flow`).
struct RuntimeError: Error {
    var diagnostic: Diagnostic

    init(_ message: String, at range: SourceRange, id: String = "runtime-error", hint: String? = nil) {
        diagnostic = Diagnostic(id, message, at: range, phase: .runtime, hint: hint)
    }
}

/// How a statement finished.
enum Flow {
    case normal
    case breakLoop
    case continueLoop
    case returned(Value)
}

/// A Kairos Script session: one global scope kept across `evaluate` calls (a file is one
/// call; the REPL makes one per input), the run target and engine pin, and the sink that
/// receives output.
public final class Interpreter {
    public let output: OutputSink
    /// Checked inside every loop and engine run; `cancel()` it from a signal handler.
    public let cancellation: CancellationFlag
    /// Makes the backend for `use remote "URL"` (`KairosRemote.RemoteBackend.factory()` in
    /// the `kairos` executable); when nil, remote runs answer "remote target not available yet".
    public var remoteBackend: (@Sendable (String) -> (any SimulationBackend)?)?
    public private(set) var target: RunTarget = .embedded

    /// What `use embedded` / `use remote "URL"` do, for `kairos run --remote` and the REPL's `:target`.
    public func use(_ target: RunTarget) { self.target = target }
    /// Resource limits: unlimited loops, 10^8-long strings and lists, files allowed by
    /// default; `Limits.sandbox` for untrusted programs (the fuzzer).
    public struct Limits: Sendable {
        /// Loop iterations, function calls, callbacks and step batches a program may take (nil: no budget).
        public var maxSteps: Int?
        /// The longest string (in characters) or list a `+` or a range may build.
        public var maxLength: Int
        /// The longest run, stream or simulation step (nil: the language's own limits).
        public var maxTicks: Int?
        /// Whether `save` and `load` may touch files.
        public var fileAccess: Bool

        public init(maxSteps: Int? = nil, maxLength: Int = 100_000_000, maxTicks: Int? = nil, fileAccess: Bool = true) {
            self.maxSteps = maxSteps
            self.maxLength = maxLength
            self.maxTicks = maxTicks
            self.fileAccess = fileAccess
        }

        public static let sandbox = Limits(maxSteps: 20_000, maxLength: 1_000_000, maxTicks: 2_000, fileAccess: false)
    }

    public var limits = Limits()
    var stepsTaken = 0

    /// Receives warnings (an event after the last tick) before the program runs; when nil
    /// they come first in the evaluation's diagnostics.
    public var onWarning: ((Diagnostic) -> Void)?
    /// `use engine "1.0.0"`; nil runs the latest.
    public private(set) var engine: EngineVersion?

    let embedded: any SimulationBackend
    let globals = Environment(parent: nil)
    /// The scenario being built while a scenario body runs.
    var builder: ScenarioBuilder?
    var callDepth = 0
    static let maxCallDepth = 1000
    /// The file being evaluated, for `assert` messages and diagnostics.
    var fileName: String {
        get { currentSource.fileName }
    }
    /// The text being evaluated: the top-level input, or the source of the function running.
    var currentSource = SourceText("", fileName: "")

    public init(output: OutputSink, backend: any SimulationBackend = EmbeddedBackend(),
                cancellation: CancellationFlag = CancellationFlag()) {
        self.output = output
        self.embedded = backend
        self.cancellation = cancellation
    }

    /// A function holds its defining scope and a scope may hold the function (`fn f` binds
    /// `f` where `f`'s closure is): a reference cycle. The session breaks every such cycle
    /// when it ends (the fuzzer's leak checker found them).
    deinit {
        for scope in closureScopes { scope.environment?.values.removeAll() }
        globals.values.removeAll()
    }

    private struct WeakEnvironment {
        weak var environment: Environment?
    }

    /// Scopes that functions close over (weakly: a scope no cycle keeps alive goes away).
    private var closureScopes: [WeakEnvironment] = []
    private var closureScopesCompacted = 0

    /// A new function value closing over `scope`.
    func makeFunction(name: String, params: [String], body: FunctionBody, closure scope: Environment,
                      isScenario: Bool) -> FunctionValue {
        if closureScopes.last?.environment !== scope {
            closureScopes.append(WeakEnvironment(environment: scope))
            // Drop the scopes already gone (amortized: the list at most doubles between passes).
            if closureScopes.count > 2 * closureScopesCompacted + 64 {
                closureScopes.removeAll { $0.environment == nil }
                closureScopesCompacted = closureScopes.count
            }
        }
        return FunctionValue(name: name, params: params, body: body, closure: scope, isScenario: isScenario, source: currentSource)
    }

    // MARK: Session API

    /// Parses, checks and runs `source`. Stops at the first runtime error; syntax and
    /// semantic errors stop it before anything runs.
    public func evaluate(source: String, fileName: String) -> Evaluation {
        LargeStack.run {
            self.currentSource = SourceText(source, fileName: fileName)
            let (program, syntax) = Parser.parse(source)
            var diagnostics = self.diagnose(program, syntax, fileName: fileName)
            if let onWarning = self.onWarning {
                diagnostics.filter { $0.severity != .error }.forEach(onWarning)
                diagnostics.removeAll { $0.severity != .error }
            }
            guard !diagnostics.contains(where: { $0.severity == .error }) else { return Evaluation(diagnostics: diagnostics, value: nil) }
            var result = self.runHere(program)
            result.diagnostics = diagnostics + result.diagnostics
            return result
        }
    }

    /// Syntax and semantic diagnostics only (what `kairos check` prints); nothing runs.
    public func check(source: String, fileName: String) -> [Diagnostic] {
        LargeStack.run {
            let (program, syntax) = Parser.parse(source)
            return diagnose(program, syntax, fileName: fileName)
        }
    }

    func diagnose(_ program: Program, _ syntax: [Diagnostic], fileName: String) -> [Diagnostic] {
        var diagnostics = syntax
        if syntax.isEmpty {
            diagnostics = Checker.check(program, knownNames: Set(globals.visibleNames))
        }
        return diagnostics.map { var d = $0; d.fileName = fileName; return d }
    }

    /// Runs a parsed program in the session.
    public func run(_ program: Program) -> Evaluation {
        LargeStack.run { runHere(program) }
    }

    func runHere(_ program: Program) -> Evaluation {
        var last: Value?
        do throws(RuntimeError) {
            for (i, statement) in program.statements.enumerated() {
                if case .expression(let e) = statement.kind, i == program.statements.count - 1 {
                    last = try evaluate(e, globals)
                } else {
                    _ = try execute(statement, globals)
                }
            }
            return Evaluation(diagnostics: [], value: last)
        } catch {
            var d = error.diagnostic
            if d.fileName.isEmpty { d.fileName = fileName }
            return Evaluation(diagnostics: [d], value: nil)
        }
    }

    /// What `kairos compile FILE` emits: every top-level scenario value and every top-level
    /// `compile …` statement, in the order the file writes them.
    public struct Compiled {
        public enum Item {
            /// A top-level scenario value (`scenario NAME { … }` or `let NAME = …`).
            case scenario(name: String, value: ScenarioValue)
            /// The JSON of a top-level `compile EXPR [as …]` statement (a list emits each item).
            case json(JSONValue)
        }

        public var items: [Item] = []
        /// Parameterized scenarios (`sweep(cap)`) nothing emitted a value of.
        public var parameterized: [String] = []
        public var diagnostics: [Diagnostic] = []

        public var succeeded: Bool { !diagnostics.contains { $0.severity == .error } }
    }

    /// Runs only a program's top-level declarations (`scenario`, `fn`, `use`, `let`) and its
    /// `compile` statements, with output discarded and without running any simulation: a
    /// `let` that needs a run is skipped, and so is every later `let` that uses it.
    public func compileScenarios(source: String, fileName: String) -> Compiled {
        LargeStack.run {
            self.currentSource = SourceText(source, fileName: fileName)
            var compiled = Compiled()
            let (program, syntax) = Parser.parse(source)
            compiled.diagnostics = diagnose(program, syntax, fileName: fileName)
            guard compiled.succeeded else { return compiled }
            declarationsOnly = true
            skippedNames = []
            defer { declarationsOnly = false }
            var parameterized: [String] = []
            var compiledAny = false
            for statement in program.statements {
                var compileStatement = false
                switch statement.kind {
                case .scenario(_, _, let params, _):
                    if let params { parameterized.append("\(statement.kind.declaredName ?? "")(\(params.joined(separator: ", ")))") }
                case .function, .use, .letBinding: break
                case .expression(let e):
                    guard case .compile = e.kind else { continue }
                    compileStatement = true
                default: continue
                }
                let result = runHere(Program(statements: [statement]))
                if let d = result.diagnostics.first {
                    guard d.id == Interpreter.skippedRunID else {
                        compiled.diagnostics += result.diagnostics
                        return compiled
                    }
                    if let name = statement.kind.declaredName { skippedNames.insert(name) }
                    continue
                }
                if compileStatement, let value = result.value {
                    compiledAny = true
                    let values: [Value] = if case .list(let items) = value { items } else { [value] }
                    for v in values {
                        do throws(RuntimeError) {
                            compiled.items.append(.json(try jsonValue(v, statement.range)))
                        } catch {
                            compiled.diagnostics.append(error.diagnostic)
                            return compiled
                        }
                    }
                } else if let name = statement.kind.declaredName, case .scenario(let s)? = globals.values[name] {
                    compiled.items.append(.scenario(name: name, value: s))
                }
            }
            compiled.parameterized = compiledAny ? [] : parameterized
            return compiled
        }
    }

    /// Top-level names skipped by `compileScenarios` because their value needs a run.
    var skippedNames: Set<String> = []

    /// Set while `compileScenarios` runs declarations: output is dropped and runs refuse.
    var declarationsOnly = false
    static let skippedRunID = "skipped-run"

    /// Whether `source` stops in the middle of something (an open `{`, `(` or `[`, a
    /// trailing operator): a REPL then asks for another line instead of reporting an error.
    public static func needsMoreInput(_ source: String) -> Bool {
        let (tokens, lexical) = Lexer.tokenize(source)
        guard lexical.isEmpty, let end = tokens.last?.range.start else { return false }
        if let last = tokens.dropLast().last, last.kind.continuesLine { return true }
        return LargeStack.run { Parser.parse(source).diagnostics.contains { $0.range.start == end } }
    }

    /// Every name a script can use here: bindings of the session, then built-ins.
    public var namesInScope: [String] {
        globals.visibleNames + Builtins.names.filter { globals.values[$0] == nil }
    }

    /// The built-in functions' names.
    public static var builtinNames: [String] { Builtins.names }
    /// The members of traces, steps and simulations.
    public static var traceMembers: [String] { TraceValue.members }
    public static var stepMembers: [String] { StepMembers.names }
    public static var simulationMembers: [String] { SimulationHandle.members }

    /// A value as JSON (what `json(x)` encodes), or nil for values JSON cannot hold.
    public func json(of value: Value) -> JSONValue? {
        try? jsonValue(value, SourceRange(at: .start))
    }

    /// Binds a global (the CLI binds `args`; a REPL may preload values).
    public func define(_ name: String, _ value: Value) { globals.define(name, value) }

    /// The global binding `name`, if any.
    public func value(named name: String) -> Value? { globals.lookup(name) }

    /// Members of a value, for completion after a dot: a trace's figures, a step's fields,
    /// a simulation's methods, a record's keys.
    public static func members(of value: Value) -> [String] {
        switch value {
        case .trace: TraceValue.members
        case .step: StepMembers.names
        case .simulation: SimulationHandle.members
        case .record(let r): r.keys
        case .scenario: ScenarioMembers.names
        case .plot: PlotValue.members
        default: []
        }
    }

    /// Completions for the word being typed at the end of `line`: members after `name.`,
    /// else names in scope, keywords and built-ins, each starting with the typed prefix.
    public func completions(for line: String) -> [String] {
        let tail = line.reversed().prefix { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." }
        let word = String(tail.reversed())
        if let dot = word.lastIndex(of: ".") {
            let receiver = String(word[..<dot])
            let prefix = String(word[word.index(after: dot)...])
            guard !receiver.contains("."), let v = globals.lookup(receiver) else { return [] }
            return Interpreter.members(of: v).filter { $0.hasPrefix(prefix) }
        }
        let candidates = namesInScope + TokenKind.keywords.keys.sorted()
        var seen = Set<String>()
        return candidates.filter { $0.hasPrefix(word) && seen.insert($0).inserted }
    }

    /// The backend of the current target.
    func backend(at range: SourceRange) throws(RuntimeError) -> any SimulationBackend {
        if declarationsOnly { throw RuntimeError("not run while compiling", at: range, id: Interpreter.skippedRunID) }
        switch target {
        case .embedded:
            return embedded
        case .remote(let url):
            if let b = remoteBackend?(url) { return b }
            throw RuntimeError("remote target not available yet", at: range, id: "remote-unavailable",
                               hint: "this interpreter has no client for servers; 'use embedded' switches back")
        }
    }

    func checkCancelled(_ range: SourceRange) throws(RuntimeError) {
        if cancellation.isCancelled { throw RuntimeError("interrupted", at: range, id: "interrupted") }
        if let budget = limits.maxSteps {
            stepsTaken += 1
            if stepsTaken > budget {
                throw RuntimeError("step budget of \(budget) exhausted", at: range, id: "budget")
            }
        }
    }

    /// Refuses a string or list longer than `limits.maxLength`.
    func checkLength(_ count: Int, _ range: SourceRange) throws(RuntimeError) {
        if count > limits.maxLength {
            throw RuntimeError("a string or list of \(count) items is longer than the \(limits.maxLength) allowed", at: range, id: "too-long")
        }
    }

    func emit(_ text: String) {
        if !declarationsOnly { output.write(text) }
    }

    // MARK: Statements

    func execute(_ statements: [Stmt], _ env: Environment) throws(RuntimeError) -> Flow {
        for s in statements {
            let flow = try execute(s, env)
            if case .normal = flow { continue }
            return flow
        }
        return .normal
    }

    func execute(_ s: Stmt, _ env: Environment) throws(RuntimeError) -> Flow {
        switch s.kind {
        case .expression(let e):
            _ = try evaluate(e, env)
        case .letBinding(let name, _, let value):
            env.define(name, try evaluate(value, env))
        case .assign(let target, let value):
            let v = try evaluate(value, env)
            if case .name = target.kind {
                try assign(target, v, env)
            } else {
                // `a[0] = a`, `r.k = r`: the value goes a level down into the container.
                if v.nestsDeeper(than: Value.maxNesting - 1) { _ = try checkNesting(.list([v]), value.range) }
                try assign(target, v, env)
            }
        case .function(let name, _, let params, let body):
            env.define(name, .function(makeFunction(name: name, params: params, body: .block(body), closure: env, isScenario: false)))
        case .scenario(let name, _, let params, let body):
            if let params {
                env.define(name, .function(makeFunction(name: name, params: params, body: .block(body), closure: env, isScenario: true)))
            } else {
                env.define(name, .scenario(try buildScenario(name: name, body: body, env: Environment(parent: env), range: s.range)))
            }
        case .ifElse(let condition, let then, let otherwise):
            if try test(condition, env) {
                return try execute(then, Environment(parent: env))
            } else if let otherwise {
                return try execute(otherwise, Environment(parent: env))
            }
        case .forIn(let name, _, let sequence, let body):
            return try forLoop(name, sequence, body, env)
        case .whileLoop(let cond, let body):
            while try test(cond, env) {
                try checkCancelled(s.range)
                switch try execute(body, Environment(parent: env)) {
                case .breakLoop: return .normal
                case .returned(let v): return .returned(v)
                case .normal, .continueLoop: continue
                }
            }
        case .breakLoop: return .breakLoop
        case .continueLoop: return .continueLoop
        case .returnValue(let e): return .returned(try e.map { e throws(RuntimeError) in try evaluate(e, env) } ?? .null)
        case .use(let target): try use(target, env)
        case .seed, .ticks, .stability, .basin, .entity, .event, .prophecy:
            guard builder != nil else {
                throw RuntimeError("scenario declarations belong inside a scenario block", at: s.range)
            }
            try declare(s, env)
        }
        return .normal
    }

    func test(_ e: Expr, _ env: Environment) throws(RuntimeError) -> Bool {
        let v = try evaluate(e, env)
        guard let b = v.truthy else {
            throw RuntimeError("a condition must be true or false, got \(v.typeName) \(v.repr)", at: e.range, id: "type-error")
        }
        return b
    }

    func forLoop(_ name: String, _ sequenceExpr: Expr, _ body: [Stmt], _ env: Environment) throws(RuntimeError) -> Flow {
        let sequence = try evaluate(sequenceExpr, env)
        func iteration(_ v: Value) throws(RuntimeError) -> Flow? {
            try checkCancelled(sequenceExpr.range)
            let scope = Environment(parent: env)
            scope.define(name, v)
            switch try execute(body, scope) {
            case .breakLoop: return .normal
            case .returned(let r): return .returned(r)
            case .normal, .continueLoop: return nil
            }
        }
        switch sequence {
        case .list(let items):
            for v in items { if let f = try iteration(v) { return f } }
        case .range(let r):
            for i in 0 ..< r.count { if let f = try iteration(.number(r.element(i))) { return f } }
        case .string(let s):
            for c in s { if let f = try iteration(.string(String(c))) { return f } }
        case .record(let r):
            for k in r.keys { if let f = try iteration(.string(k)) { return f } }
        case .stream(let stream):
            let source: any StepStream
            let backend = try backend(at: sequenceExpr.range)
            do throws(BackendError) {
                source = try backend.stream(stream.request)
            } catch {
                throw RuntimeError(error.message, at: sequenceExpr.range, hint: error.hint)
            }
            while true {
                let step: TraceStep?
                do {
                    step = try source.next()
                } catch {
                    throw RuntimeError(error.message, at: sequenceExpr.range, hint: error.hint)
                }
                guard let step else { break }
                if let f = try iteration(.step(step)) { return f }
            }
        case .trace(let t):
            for s in t.trace.steps { if let f = try iteration(.step(s)) { return f } }
        default:
            throw RuntimeError("cannot loop over a \(sequence.typeName)", at: sequenceExpr.range, id: "type-error",
                               hint: "for loops take a list, a range, a stream, a trace, a string or a record")
        }
        return .normal
    }

    func use(_ target: UseTarget, _ env: Environment) throws(RuntimeError) {
        switch target {
        case .embedded:
            self.target = .embedded
        case .remote(let e):
            guard case .string(let url) = try evaluate(e, env) else {
                throw RuntimeError("use remote takes a URL string", at: e.range, id: "type-error")
            }
            self.target = .remote(url)
        case .engine(let e):
            let v = try evaluate(e, env)
            guard case .string(let text) = v else {
                throw RuntimeError("use engine takes a version string such as \"1.0.0\"", at: e.range, id: "type-error")
            }
            guard let version = EngineVersion(text), EngineRegistry.physics(for: version) != nil else {
                throw RuntimeError("engine \(text) is not available", at: e.range, id: "unknown-engine",
                                   hint: "offered: \(EngineRegistry.available.map(\.description).joined(separator: ", "))")
            }
            engine = version
        }
    }

    /// `name = v`, `list[i] = v`, `record.key = v` (lists and records are values: the
    /// change is written back to the binding).
    func assign(_ target: Expr, _ value: Value, _ env: Environment) throws(RuntimeError) {
        switch target.kind {
        case .name(let name):
            guard env.assign(name, value) else {
                if Builtins.names.contains(name) {
                    throw RuntimeError("cannot assign to built-in '\(name)'", at: target.range, id: "unknown-name",
                                       hint: "declare your own with 'let \(name) = …'")
                }
                throw RuntimeError("unknown name '\(name)'", at: target.range, id: "unknown-name",
                                   hint: didYouMean(name, in: env.visibleNames) ?? "declare it first with 'let \(name) = …'")
            }
        case .index(let base, let indexExpr):
            var container = try evaluate(base, env)
            let index = try evaluate(indexExpr, env)
            switch (container, index) {
            case (.list(var items), .number):
                let i = try listIndex(index, count: items.count, at: indexExpr.range)
                items[i] = value
                container = .list(items)
            case (.record(var r), .string(let key)):
                r[key] = value
                container = .record(r)
            default:
                throw RuntimeError("cannot assign into a \(container.typeName) with a \(index.typeName) index", at: target.range,
                                   id: "type-error")
            }
            try assign(base, container, env)
        case .member(let base, let name):
            let owner = try evaluate(base, env)
            if case .plot(var p) = owner {
                try p.set(name, value, at: target.range)
                return try assign(base, .plot(p), env)
            }
            guard case .record(var r) = owner else {
                throw RuntimeError("only record fields can be assigned", at: target.range, id: "type-error")
            }
            r[name] = value
            try assign(base, .record(r), env)
        default:
            throw RuntimeError("cannot assign to this expression", at: target.range)
        }
    }

    func listIndex(_ index: Value, count: Int, at range: SourceRange) throws(RuntimeError) -> Int {
        guard case .number(let n) = index, n == n.rounded(.towardZero), abs(n) < 1e15 else {
            throw RuntimeError("a list index must be a whole number, got \(index.repr)", at: range, id: "type-error")
        }
        let i = n < 0 ? count + Int(n) : Int(n)
        guard i >= 0, i < count else {
            throw RuntimeError("index \(formatNumber(n)) is out of range for a list of \(count)", at: range, id: "index-range")
        }
        return i
    }
}
