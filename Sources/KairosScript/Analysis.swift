#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import KairosEngine

/// The built-ins of LANGUAGE.md "Analysis (language 1.1)" (all but `help`) and the analysis
/// additions: `group`, `tipping`, `diff`. docs/analysis.md describes each.
enum AnalysisBuiltins {
    static let names = [
        "median", "quantile", "stdev", "variance", "ci", "number", "grid", "type", "pow", "exp", "log", "split", "join",
        "format", "group", "tipping", "diff",
    ]
}

/// A built-in's arguments with the checks every analysis built-in shares; errors point at
/// the argument (or the call) as written.
struct BuiltinArguments {
    let name: String
    let values: [Value]
    let site: CallSite
    let interpreter: Interpreter

    var count: Int { values.count }
    subscript(i: Int) -> Value { values[i] }

    func arity(_ allowed: ClosedRange<Int>) throws(RuntimeError) {
        guard allowed.contains(values.count) else {
            let want = allowed.lowerBound == allowed.upperBound ? plural(allowed.lowerBound, "argument")
                : "\(allowed.lowerBound) to \(plural(allowed.upperBound, "argument"))"
            throw RuntimeError("\(name) takes \(want), got \(values.count)", at: site.range, id: "arity")
        }
    }

    func number(_ i: Int) throws(RuntimeError) -> Double {
        guard case .number(let n) = values[i] else {
            throw RuntimeError("\(name) needs a number, got \(values[i].typeName) \(values[i].repr)", at: site.arg(i), id: "type-error")
        }
        return n
    }

    func string(_ i: Int) throws(RuntimeError) -> String {
        guard case .string(let s) = values[i] else {
            throw RuntimeError("\(name) needs a string, got \(values[i].typeName) \(values[i].repr)", at: site.arg(i), id: "type-error")
        }
        return s
    }

    /// A whole number in `range` (decimal places, …).
    func whole(_ i: Int, _ range: ClosedRange<Int>, _ what: String) throws(RuntimeError) -> Int {
        let n = try number(i)
        guard n == n.rounded(), n >= Double(range.lowerBound), n <= Double(range.upperBound) else {
            throw RuntimeError("\(name) takes \(range.lowerBound) to \(range.upperBound) \(what), got \(formatNumber(n))",
                               at: site.arg(i), id: "out-of-range")
        }
        return Int(n)
    }

    /// A list of numbers (a range or a trace's `stability` series included), at least `minimum` long.
    func numbers(_ i: Int, minimum: Int = 1) throws(RuntimeError) -> [Double] {
        let out: [Double]
        switch values[i] {
        case .list(let items):
            var xs: [Double] = []
            xs.reserveCapacity(items.count)
            for (k, item) in items.enumerated() {
                guard case .number(let n) = item else {
                    throw RuntimeError("\(name) needs a list of numbers; item \(k) is \(item.typeName) \(item.repr)",
                                       at: site.arg(i), id: "type-error")
                }
                xs.append(n)
            }
            out = xs
        case .range(let r):
            try interpreter.checkLength(r.count, site.arg(i))
            out = (0 ..< r.count).map(r.element)
        default:
            throw RuntimeError("\(name) needs a list of numbers, got \(values[i].typeName)", at: site.arg(i), id: "type-error",
                               hint: values[i].typeName == "trace" ? "a trace's series: \(name)(t.stability)" : nil)
        }
        if out.count < minimum {
            let what = out.isEmpty ? "an empty list" : "a list of \(out.count)"
            throw RuntimeError("\(name) of \(what)\(minimum > 1 ? " (it needs at least \(minimum) values)" : "")",
                               at: site.arg(i), id: "empty-list")
        }
        if let bad = out.firstIndex(where: { $0.isNaN }) {
            throw RuntimeError("\(name) needs numbers; item \(bad) is nan", at: site.arg(i), id: "type-error")
        }
        return out
    }
}

extension Interpreter {
    /// The analysis built-ins; nil when `name` is not one of them.
    func callAnalysisBuiltin(_ name: String, _ values: [Value], _ site: CallSite) throws(RuntimeError) -> Value? {
        let args = BuiltinArguments(name: name, values: values, site: site, interpreter: self)
        switch name {
        case "median":
            try args.arity(1 ... 1)
            return .number(Statistics.median(sorted: try args.numbers(0).sorted()))
        case "quantile":
            try args.arity(2 ... 2)
            let xs = try args.numbers(0).sorted()
            func one(_ q: Double, _ at: SourceRange) throws(RuntimeError) -> Value {
                guard q >= 0, q <= 1 else {
                    throw RuntimeError("quantile needs 0 <= q <= 1, got \(formatNumber(q))", at: at, id: "out-of-range")
                }
                return .number(Statistics.quantile(sorted: xs, q))
            }
            if case .number(let q) = args[1] { return try one(q, site.arg(1)) }
            // Several at once, as NumPy takes an array of q.
            guard case .list = args[1] else {
                throw RuntimeError("quantile needs q as a number from 0 to 1, got \(args[1].typeName) \(args[1].repr)",
                                   at: site.arg(1), id: "type-error")
            }
            var out: [Value] = []
            for q in try args.numbers(1) { out.append(try one(q, site.arg(1))) }
            return .list(out)
        case "stdev", "variance":
            try args.arity(1 ... 1)
            let v = Statistics.variance(try args.numbers(0, minimum: 2))
            return .number(name == "stdev" ? v.squareRoot() : v)
        case "ci":
            try args.arity(1 ... 2)
            let xs = try args.numbers(0, minimum: 2)
            let level = args.count == 2 ? try args.number(1) : 0.95
            guard level > 0, level < 1 else {
                throw RuntimeError("ci needs a level between 0 and 1 (0.95 for 95%), got \(formatNumber(level))",
                                   at: site.arg(1), id: "out-of-range")
            }
            let m = Statistics.mean(xs)
            let se = (Statistics.variance(xs) / Double(xs.count)).squareRoot()
            let t = Statistics.studentQuantile((1 + level) / 2, df: Double(xs.count - 1))
            return .record(Record([("mean", .number(m)), ("lo", .number(m - t * se)), ("hi", .number(m + t * se))]))
        case "number":
            try args.arity(1 ... 1)
            let text = try args.string(0)
            guard let n = parseNumber(text) else {
                throw RuntimeError("not a number: \(quote(text))", at: site.arg(0), id: "not-a-number",
                                   hint: "numbers are written 42, -3.5, 1e-3 or 1_000")
            }
            return .number(n)
        case "grid":
            try args.arity(1 ... 1)
            return try grid(args)
        case "type":
            try args.arity(1 ... 1)
            return .string(args[0].typeName)
        case "pow":
            try args.arity(2 ... 2)
            let (a, b) = (try args.number(0), try args.number(1))
            let r = pow(a, b)
            guard r.isFinite || !a.isFinite || !b.isFinite else {
                let why = a == 0 && b < 0 ? "0 to a negative power" : r.isNaN ? "a negative number to a fractional power" : "too large"
                throw RuntimeError("pow(\(formatNumber(a)), \(formatNumber(b))) is \(why)", at: site.range, id: "out-of-range")
            }
            return .number(r)
        case "exp":
            try args.arity(1 ... 1)
            let x = try args.number(0)
            let r = exp(x)
            guard r.isFinite || !x.isFinite else {
                throw RuntimeError("exp(\(formatNumber(x))) is too large", at: site.arg(0), id: "out-of-range")
            }
            return .number(r)
        case "log":
            try args.arity(1 ... 2)
            let x = try args.number(0)
            guard x > 0 else { throw RuntimeError("log of a number that is not positive: \(formatNumber(x))", at: site.arg(0), id: "out-of-range") }
            guard args.count == 2 else { return .number(log(x)) }
            let base = try args.number(1)
            guard base > 0, base != 1 else {
                throw RuntimeError("log needs a positive base other than 1, got \(formatNumber(base))", at: site.arg(1), id: "out-of-range")
            }
            return .number(log(x) / log(base))
        case "split":
            try args.arity(2 ... 2)
            let (s, sep) = (try args.string(0), try args.string(1))
            guard !sep.isEmpty else { throw RuntimeError("split needs a separator that is not empty", at: site.arg(1), id: "out-of-range") }
            return .list(s.split(separator: sep, omittingEmptySubsequences: false).map { .string(String($0)) })
        case "join":
            try args.arity(2 ... 2)
            let sep = try args.string(1)
            let items = try sequence(args[0], site.arg(0), name)
            let text = items.map(\.printText).joined(separator: sep)
            try checkLength(text.utf8.count, site.range)
            return .string(text)
        case "format":
            try args.arity(2 ... 2)
            let x = try args.number(0)
            return .string(formatFixed(x, try args.whole(1, 0 ... 15, "decimals")))
        case "group":
            try args.arity(2 ... 2)
            return try group(args)
        case "tipping":
            try args.arity(2 ... 3)
            return try tipping(args)
        case "diff":
            try args.arity(2 ... 2)
            return try diff(args)
        default:
            return nil
        }
    }

    /// `number("1_000")`: the language's number syntax with an optional sign and surrounding spaces.
    func parseNumber(_ text: String) -> Double? {
        let t = text.trimmingSpaces
        var chars = Array(t.unicodeScalars)
        guard !chars.isEmpty else { return nil }
        var sign = 1.0
        if chars[0] == "-" || chars[0] == "+" {
            sign = chars[0] == "-" ? -1 : 1
            chars.removeFirst()
        }
        // Underscores only between digits.
        var clean = ""
        var sawDigit = false
        for (i, c) in chars.enumerated() {
            if c == "_" {
                guard i > 0, i + 1 < chars.count, ("0" ... "9").contains(chars[i - 1]), ("0" ... "9").contains(chars[i + 1])
                else { return nil }
                continue
            }
            if ("0" ... "9").contains(c) { sawDigit = true } else if !".eE+-".unicodeScalars.contains(c) { return nil }
            clean.unicodeScalars.append(c)
        }
        guard sawDigit, let first = clean.unicodeScalars.first, first != "e", first != "E" else { return nil }
        guard let n = Double(clean), n.isFinite else { return nil }
        return sign * n
    }

    func grid(_ args: BuiltinArguments) throws(RuntimeError) -> Value {
        guard case .record(let r) = args[0] else {
            throw RuntimeError("grid needs a record of lists or ranges, got \(args[0].typeName)", at: args.site.arg(0),
                               id: "type-error", hint: "grid({cap: 100..1000 step 50, seed: 1..20})")
        }
        var axes: [(key: String, values: [Value])] = []
        var total = 1.0
        for f in r.fields {
            switch f.value {
            case .list, .range:
                let items = try sequence(f.value, args.site.arg(0), "grid")
                axes.append((f.key, items))
                total *= Double(items.count)
            default:
                throw RuntimeError("grid needs a list or a range for \(f.key), got \(f.value.typeName) \(f.value.repr)",
                                   at: args.site.arg(0), id: "type-error", hint: "\(f.key): [\(f.value.repr)]")
            }
        }
        try checkLength(Int(Swift.min(total, 1e15)), args.site.arg(0))
        guard !axes.isEmpty, total > 0 else { return .list([]) }
        var out: [Value] = []
        out.reserveCapacity(Int(total))
        var index = Array(repeating: 0, count: axes.count)
        while true {
            out.append(.record(Record(axes.indices.map { (axes[$0].key, axes[$0].values[index[$0]]) })))
            // The last key varies fastest, like nested for loops in key order.
            var k = axes.count - 1
            while k >= 0 {
                index[k] += 1
                if index[k] < axes[k].values.count { break }
                index[k] = 0
                k -= 1
            }
            if k < 0 { break }
        }
        return .list(out)
    }

    /// A field of a record, a trace's member or scenario parameter, for `group`.
    func field(_ item: Value, _ key: String, _ i: Int, _ args: BuiltinArguments) throws(RuntimeError) -> Value {
        switch item {
        case .record(let r):
            if let v = r[key] { return v }
            throw RuntimeError("group: item \(i) has no field \(quote(key))", at: args.site.arg(1), id: "unknown-member",
                               hint: didYouMean(key, in: r.keys))
        case .trace(let t):
            if case .record(let p) = t.paramsValue, let v = p[key] { return v }
            if !TraceValue.methods.contains(key), let v = t.property(key) { return v }
            var known = TraceValue.members
            if case .record(let p) = t.paramsValue { known = p.keys + known }
            throw RuntimeError("group: trace \(i) has no parameter or member \(quote(key))", at: args.site.arg(1),
                               id: "unknown-member", hint: didYouMean(key, in: known))
        default:
            throw RuntimeError("group by field needs records or traces; item \(i) is \(item.typeName)", at: args.site.arg(0),
                               id: "type-error", hint: "group by a function instead: group(xs, x => …)")
        }
    }

    /// `group(xs, key)`: the items by key, in order of first appearance.
    func group(_ args: BuiltinArguments) throws(RuntimeError) -> Value {
        let items = try sequence(args[0], args.site.arg(0), "group")
        let keyNames: [String]?
        switch args[1] {
        case .string(let k): keyNames = [k]
        case .list(let ks):
            var names: [String] = []
            for k in ks {
                guard case .string(let s) = k else {
                    throw RuntimeError("group takes field names as strings, got \(k.typeName) \(k.repr)", at: args.site.arg(1),
                                       id: "type-error")
                }
                names.append(s)
            }
            guard !names.isEmpty else { throw RuntimeError("group needs at least one field name", at: args.site.arg(1), id: "empty-list") }
            keyNames = names
        case .function, .builtin, .method: keyNames = nil
        default:
            throw RuntimeError("group takes a field name, a list of field names or a function, got \(args[1].typeName)",
                               at: args.site.arg(1), id: "type-error")
        }
        var groups: [(key: [Value], items: [Value])] = []
        for (i, item) in items.enumerated() {
            try checkCancelled(args.site.range)
            var key: [Value] = []
            if let keyNames {
                for k in keyNames { key.append(try field(item, k, i, args)) }
            } else {
                key = [try callValue(args[1], [item], args.site)]
            }
            // Linear search keeps first-appearance order; keys compare as `==` does.
            var found: Int?
            for (g, existing) in groups.enumerated() {
                var same = true
                for (a, b) in zip(existing.key, key) {
                    if try equal(a, b, args.site.range) != true {
                        same = false
                        break
                    }
                }
                if same { found = g; break }
            }
            if let found { groups[found].items.append(item) } else { groups.append((key, [item])) }
        }
        let labels = keyNames ?? ["key"]
        return .list(groups.map { g in
            var r = Record(Array(zip(labels, g.key)).map { ($0.0, $0.1) })
            r.fields.append(("items", .list(g.items)))
            return .record(r)
        })
    }

    /// `tipping(xs, outcomes[, level])`: where a logistic fit of the outcomes crosses 1/2.
    func tipping(_ args: BuiltinArguments) throws(RuntimeError) -> Value {
        let xs = try args.numbers(0)
        guard case .list(let raw) = args[1] else {
            throw RuntimeError("tipping needs a list of outcomes (true/false or 0/1), got \(args[1].typeName)", at: args.site.arg(1),
                               id: "type-error")
        }
        var ys: [Double] = []
        for (i, v) in raw.enumerated() {
            switch v {
            case .bool(let b): ys.append(b ? 1 : 0)
            case .number(let n) where n == 0 || n == 1: ys.append(n)
            default:
                throw RuntimeError("tipping needs outcomes true/false or 0/1; item \(i) is \(v.typeName) \(v.repr)",
                                   at: args.site.arg(1), id: "type-error")
            }
        }
        guard xs.count == ys.count else {
            throw RuntimeError("tipping needs as many outcomes as values: \(xs.count) values, \(ys.count) outcomes", at: args.site.range,
                               id: "type-error")
        }
        let level = args.count == 3 ? try args.number(2) : 0.95
        guard level > 0, level < 1 else {
            throw RuntimeError("tipping needs a level between 0 and 1 (0.95 for 95%), got \(formatNumber(level))", at: args.site.arg(2),
                               id: "out-of-range")
        }
        let z = Statistics.normalQuantile((1 + level) / 2)
        switch Statistics.logisticCrossing(xs, ys, z: z) {
        case .success(let fit):
            return .record(Record([
                ("x", .number(fit.crossing)), ("lo", fit.lower.map { .number($0) } ?? .null),
                ("hi", fit.upper.map { .number($0) } ?? .null), ("level", .number(level)), ("n", .number(Double(xs.count))),
                ("slope", .number(fit.slope)), ("intercept", .number(fit.intercept)),
            ]))
        case .failure(.oneOutcome):
            throw RuntimeError("tipping needs both outcomes; all \(xs.count) are \(ys[0] == 1 ? "true" : "false")", at: args.site.arg(1),
                               id: "no-crossing", hint: "widen the range of values so that some runs end each way")
        case .failure(.oneValue):
            throw RuntimeError("tipping needs at least two different values", at: args.site.arg(0), id: "no-crossing")
        case .failure(.separated(let below, let above)) where below == above:
            throw RuntimeError("the outcomes switch at \(formatNumber(below)) with no overlap on either side; no curve to fit",
                               at: args.site.range, id: "no-crossing",
                               hint: "add values just below and above \(formatNumber(below)), with several runs each")
        case .failure(.separated(let below, let above)):
            throw RuntimeError("the outcomes switch cleanly between \(formatNumber(below)) and \(formatNumber(above)); no curve to fit",
                               at: args.site.range, id: "no-crossing",
                               hint: "the crossing lies between them: add values (or replicates) between \(formatNumber(below)) and \(formatNumber(above))")
        case .failure(.noConvergence):
            throw RuntimeError("tipping: the logistic fit did not converge", at: args.site.range, id: "no-crossing")
        }
    }

    /// `diff(a, b)`: where two traces (or series) first differ and by how much.
    func diff(_ args: BuiltinArguments) throws(RuntimeError) -> Value {
        let a: [Double], b: [Double]
        var firstTick: Int?
        var ticks: (Int) -> Double = { Double($0) }
        var changes: Value?
        switch (args[0], args[1]) {
        case (.trace(let x), .trace(let y)):
            let (sa, sb) = (x.trace.steps, y.trace.steps)
            a = sa.map(\.state.stability)
            b = sb.map(\.state.stability)
            firstTick = sa.indices.first { $0 < sb.count && sa[$0] != sb[$0] } ?? (sa.count == sb.count ? nil : min(sa.count, sb.count))
            let tickOf = sa.count >= sb.count ? sa : sb
            ticks = { Double(tickOf[$0].tick) }
            if let i = firstTick, i < sa.count, i < sb.count {
                changes = .list(Self.stepChanges(sa[i].jsonValue, sb[i].jsonValue).map { change in
                    var fields: [(String, Value)] = [("member", .string(change.path)), ("a", Value(json: change.a)),
                                                     ("b", Value(json: change.b))]
                    if case .number(let x) = change.a, case .number(let y) = change.b { fields.append(("by", .number(y - x))) }
                    return .record(Record(fields))
                })
            } else {
                changes = .list([])
            }
        case (.trace, _), (_, .trace):
            throw RuntimeError("diff compares two traces or two lists of numbers, got \(args[0].typeName) and \(args[1].typeName)",
                               at: args.site.range, id: "type-error")
        default:
            a = try args.numbers(0, minimum: 0)
            b = try args.numbers(1, minimum: 0)
            firstTick = a.indices.first { $0 < b.count && a[$0] != b[$0] } ?? (a.count == b.count ? nil : min(a.count, b.count))
        }
        var largest = 0.0, largestAt: Int?
        for (i, (x, y)) in zip(a, b).enumerated() where abs(y - x) > largest {
            largest = abs(y - x)
            largestAt = i
        }
        func at(_ s: [Double], _ i: Int?) -> Value { i.flatMap { $0 < s.count ? .number(s[$0]) : nil } ?? .null }
        let by: Value = firstTick.flatMap { $0 < min(a.count, b.count) ? .number(b[$0] - a[$0]) : nil } ?? .null
        return .record(Record([
            ("same", .bool(firstTick == nil)),
            ("tick", firstTick.map { .number(ticks($0)) } ?? .null),
            ("a", at(a, firstTick)), ("b", at(b, firstTick)), ("by", by),
            ("max", .number(largest)), ("max_tick", largestAt.map { .number(ticks($0)) } ?? .null),
        ] + (changes.map { [("changes", $0)] } ?? [])))
    }

    /// The leaves of two steps' JSON that differ, by path (`stability`, `agents.m.guardrail`,
    /// `move`): objects by key in `a`'s order, then `b`'s extra keys; lists of records with an
    /// `id` by that id, other lists by index. A member present on one side only is null on the other.
    static func stepChanges(_ a: JSONValue?, _ b: JSONValue?, path: String = "") -> [(path: String, a: JSONValue, b: JSONValue)] {
        func join(_ key: String) -> String { path.isEmpty ? key : path + "." + key }
        switch (a, b) {
        case (.object(let x)?, .object(let y)?):
            var out: [(path: String, a: JSONValue, b: JSONValue)] = []
            for m in x { out += stepChanges(m.value, y.first { $0.key == m.key }?.value, path: join(m.key)) }
            for m in y where !x.contains(where: { $0.key == m.key }) { out += stepChanges(nil, m.value, path: join(m.key)) }
            return out
        case (.array(let x)?, .array(let y)?):
            func key(_ v: JSONValue, _ i: Int) -> String { v["id"]?.stringValue ?? String(i) }
            let xs = x.enumerated().map { (key($1, $0), $1) }, ys = y.enumerated().map { (key($1, $0), $1) }
            var out: [(path: String, a: JSONValue, b: JSONValue)] = []
            for (k, v) in xs { out += stepChanges(v, ys.first { $0.0 == k }?.1, path: join(k)) }
            for (k, v) in ys where !xs.contains(where: { $0.0 == k }) { out += stepChanges(nil, v, path: join(k)) }
            return out
        default:
            let (x, y) = (a ?? .null, b ?? .null)
            return x == y ? [] : [(path, x, y)]
        }
    }
}

extension Interpreter {
    /// The JSON of plain data (no traces, functions, …); nil otherwise.
    static func plainJSON(_ v: Value) -> JSONValue? {
        switch v {
        case .null: return .null
        case .bool(let b): return .bool(b)
        case .number(let n): return n.isFinite ? .number(n) : nil
        case .string(let s): return .string(s)
        case .list(let items):
            var out: [JSONValue] = []
            for i in items { guard let j = plainJSON(i) else { return nil }; out.append(j) }
            return .array(out)
        case .record(let r):
            var out: [JSONMember] = []
            for f in r.fields { guard let j = plainJSON(f.value) else { return nil }; out.append(JSONMember(key: f.key, value: j)) }
            return .object(out)
        default: return nil
        }
    }
}

extension String {
    var trimmingSpaces: String {
        let scalars = unicodeScalars
        guard let start = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
              let end = scalars.lastIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        return String(scalars[start ... end])
    }
}
