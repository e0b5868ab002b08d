import KairosEngine

/// A Kairos Script value (LANGUAGE.md "Values").
public enum Value {
    case number(Double)
    case string(String)
    case bool(Bool)
    case null
    case list([Value])
    case record(Record)
    case range(RangeValue)
    case function(FunctionValue)
    case builtin(Builtin)
    /// A method bound to its receiver: `t.agent`, `sim.step`.
    case method(BoundMethod)
    case scenario(ScenarioValue)
    case trace(TraceValue)
    case step(TraceStep)
    case simulation(SimulationHandle)
    case stream(StreamValue)
    /// What `plot(…)` returns (`save(p, "fig.svg")`).
    case plot(PlotValue)

    /// The type's name as messages use it.
    public var typeName: String {
        switch self {
        case .number: "number"
        case .string: "string"
        case .bool: "bool"
        case .null: "null"
        case .list: "list"
        case .record: "record"
        case .range: "range"
        case .function, .builtin, .method: "function"
        case .scenario: "scenario"
        case .trace: "trace"
        case .step: "step"
        case .simulation: "simulation"
        case .stream: "stream"
        case .plot: "plot"
        }
    }

    /// `print` text: strings as they are, everything else as `repr`.
    public var displayText: String {
        if case .string(let s) = self { return s }
        return repr
    }

    /// Source-like text: strings quoted, numbers without a needless fraction.
    public var repr: String {
        switch self {
        case .number(let n): formatNumber(n)
        case .string(let s): quote(s)
        case .bool(let b): b ? "true" : "false"
        case .null: "null"
        case .list(let items): Value.elided(items)
        case .record(let r): "{" + r.fields.map { "\($0.key): \($0.value.repr)" }.joined(separator: ", ") + "}"
        case .range(let r): r.description
        case .function(let f): "<\(f.isScenario ? "scenario" : "fn") \(f.name)(\(f.params.joined(separator: ", ")))>"
        case .builtin(let b): "<builtin \(b.name)>"
        case .method(let m): "<method \(m.name) of \(m.receiver.typeName)>"
        case .scenario(let s): s.description
        case .trace(let t): t.shortDescription
        case .step(let s): describeStep(s)
        case .simulation(let h): h.description
        case .stream(let s): "<stream of \(s.request.scenario.name), \(s.request.ticks) ticks>"
        case .plot(let p): p.description
        }
    }

    /// Lists longer than `elisionLimit` (20) show their first and last items around a count:
    /// `[0.81, 0.82, …296 more…, 0.8]` (`json(xs)` writes every item).
    static let elisionLimit = 20

    static func elided(_ items: [Value]) -> String {
        guard items.count > elisionLimit else { return "[" + items.map(\.repr).joined(separator: ", ") + "]" }
        let head = items.prefix(8).map(\.repr), tail = items.suffix(2).map(\.repr)
        return "[" + (head + ["…\(items.count - 10) more…"] + tail).joined(separator: ", ") + "]"
    }

    /// How a REPL shows the value of an expression: like `repr`, but a trace as its
    /// summary with a sparkline.
    public var replText: String {
        if case .trace(let t) = self { return t.summaryText }
        return repr
    }

    /// Whether the value is `null` (a REPL shows nothing for it).
    public var isNothing: Bool {
        if case .null = self { return true }
        return false
    }

    var truthy: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }
}

/// Numbers print as ECMAScript does: `3`, `0.5`, `1e-7`; never `3.0`.
public func formatNumber(_ n: Double) -> String {
    if n.isNaN { return "nan" }
    if n.isInfinite { return n < 0 ? "-inf" : "inf" }
    return CanonicalJSON.number(n)
}

func quote(_ s: String) -> String {
    var out = "\""
    for ch in s.unicodeScalars {
        switch ch {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        case "{": out += "\\{"
        default: out.unicodeScalars.append(ch)
        }
    }
    return out + "\""
}

func describeStep(_ s: TraceStep) -> String {
    "<step \(s.tick): stability \(formatFixed(s.state.stability, 4)) \(s.state.phase.rawValue), basin \(s.state.basin), move \(s.move)>"
}

/// A record: named fields that keep their order.
public struct Record {
    public var fields: [(key: String, value: Value)]

    public init(_ fields: [(key: String, value: Value)] = []) { self.fields = fields }

    public subscript(key: String) -> Value? {
        get { fields.first { $0.key == key }?.value }
        set {
            if let i = fields.firstIndex(where: { $0.key == key }) {
                if let newValue { fields[i].value = newValue } else { fields.remove(at: i) }
            } else if let newValue {
                fields.append((key, newValue))
            }
        }
    }

    public var keys: [String] { fields.map(\.key) }
}

/// `a..b` and `a..b step s`: inclusive of `b` when the steps land on it.
public struct RangeValue: Sendable, CustomStringConvertible {
    public var low: Double
    public var high: Double
    public var step: Double
    /// `range(a, b)` excludes its end; `a..b` includes it.
    public var inclusive: Bool

    public var count: Int {
        guard step != 0, step.isFinite else { return 0 }
        let span = (high - low) / step
        guard span >= 0 else { return 0 }
        // A little slack so `0..1 step 0.1` reaches 1 despite binary fractions.
        let n = Int(min(span + 1e-9, 1e15).rounded(.down))
        // An exclusive range stops before an element that lands on its end.
        if !inclusive, abs(element(n) - high) <= 1e-9 * Swift.max(1, abs(high)) { return n }
        return n + 1
    }

    public func element(_ i: Int) -> Double { low + Double(i) * step }

    public var description: String {
        if !inclusive { return "range(\(formatNumber(low)), \(formatNumber(high)), \(formatNumber(step)))" }
        return step == 1 ? "\(formatNumber(low))..\(formatNumber(high))"
            : "\(formatNumber(low))..\(formatNumber(high)) step \(formatNumber(step))"
    }
}

/// A user function or lambda together with the scope it closes over.
public final class FunctionValue {
    public let name: String
    let params: [String]
    let body: FunctionBody
    let closure: Environment
    /// `scenario NAME(params) { … }`: calling it builds a scenario.
    let isScenario: Bool
    /// The text the function was written in, for errors raised inside it.
    let source: SourceText

    init(name: String, params: [String], body: FunctionBody, closure: Environment, isScenario: Bool, source: SourceText) {
        self.name = name
        self.params = params
        self.body = body
        self.closure = closure
        self.isScenario = isScenario
        self.source = source
    }

    /// `sweep(cap)`, `lambda(c)`: how a call stack names it.
    var signature: String { "\(name)(\(params.joined(separator: ", ")))" }
}

/// A built-in function, by name.
public struct Builtin {
    public let name: String
}

/// A method and the value it was looked up on.
public final class BoundMethod {
    public let receiver: Value
    public let name: String
    init(receiver: Value, name: String) {
        self.receiver = receiver
        self.name = name
    }
}

/// `stream X ticks N`, not started until iterated.
public struct StreamValue {
    public let request: RunRequest
}

/// A lexical scope.
final class Environment {
    var values: [String: Value] = [:]
    /// Declaration order, for `names` and `kairos compile`.
    var order: [String] = []
    let parent: Environment?

    init(parent: Environment?) { self.parent = parent }

    func lookup(_ name: String) -> Value? {
        var env: Environment? = self
        while let e = env {
            if let v = e.values[name] { return v }
            env = e.parent
        }
        return nil
    }

    func define(_ name: String, _ value: Value) {
        if values.updateValue(value, forKey: name) == nil { order.append(name) }
    }

    /// Assigns to the nearest existing binding; false when there is none.
    func assign(_ name: String, _ value: Value) -> Bool {
        var env: Environment? = self
        while let e = env {
            if e.values[name] != nil {
                e.values[name] = value
                return true
            }
            env = e.parent
        }
        return false
    }

    /// Every name visible from here, innermost first, without duplicates.
    var visibleNames: [String] {
        var seen = Set<String>()
        var out: [String] = []
        var env: Environment? = self
        while let e = env {
            for n in e.order where seen.insert(n).inserted { out.append(n) }
            env = e.parent
        }
        return out
    }
}

extension Value {
    /// How deep lists and records may nest (`[[[…]]]`): every walk over a value (printing,
    /// `json`, `==`, `save`, and freeing it) recurses once per level, so the depth is bounded
    /// where values are built rather than trusted to the stack.
    public static let maxNesting = 1000

    /// Whether lists and records nest deeper than `limit` inside this value (a walk with its
    /// own stack, stopping at the first too-deep path).
    func nestsDeeper(than limit: Int) -> Bool {
        var pending: [(Value, Int)] = [(self, 0)]
        while let (value, depth) = pending.popLast() {
            let items: [Value]
            switch value {
            case .list(let list): items = list
            case .record(let r): items = r.fields.map(\.value)
            default: continue
            }
            if depth + 1 > limit { return true }
            for item in items where item.isContainer { pending.append((item, depth + 1)) }
        }
        return false
    }

    /// A list or a record: a value other values nest in.
    var isContainer: Bool {
        switch self {
        case .list, .record: true
        default: false
        }
    }
}

extension Interpreter {
    /// Refuses a list or record nested deeper than `Value.maxNesting`.
    func checkNesting(_ value: Value, _ range: SourceRange) throws(RuntimeError) -> Value {
        guard value.nestsDeeper(than: Value.maxNesting) else { return value }
        throw RuntimeError("lists and records nest at most \(Value.maxNesting) deep", at: range, id: "too-deep",
                           hint: "a list inside a list inside a list … more than \(Value.maxNesting) times is refused")
    }
}
