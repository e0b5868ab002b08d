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

extension TraceStep {
    /// A step from one canonical NDJSON line (without its newline), read straight from its
    /// bytes when it has exactly the layout `CanonicalJSONWriter.step` writes (keys sorted, no
    /// whitespace, no escapes); any other valid JSON step goes through the JSON parser.
    /// Nil when the line is not a step.
    public init?(canonicalLine line: UnsafeRawBufferPointer) {
        if line.count > 0, let base = line.baseAddress {
            var reader = CanonicalStepReader(base: base.assumingMemoryBound(to: UInt8.self), count: line.count)
            if let step = reader.step() {
                self = step
                return
            }
        }
        guard let json = try? JSONParser.parse(Array(line)) else { return nil }
        self.init(json: json)
    }
}

/// Reads the canonical layout of a step field by field; nil at the first byte that differs
/// (the caller then parses the line as JSON).
struct CanonicalStepReader {
    let base: UnsafePointer<UInt8>
    let end: Int
    var i = 0

    init(base: UnsafePointer<UInt8>, count: Int) {
        self.base = base
        end = count
    }

    @inline(__always)
    mutating func lit(_ s: StaticString) -> Bool {
        let n = s.utf8CodeUnitCount
        guard i + n <= end else { return false }
        let p = s.utf8Start
        for k in 0 ..< n where base[i + k] != p[k] { return false }
        i += n
        return true
    }

    /// A string without escapes or control characters.
    mutating func string() -> String? {
        guard i < end, base[i] == 0x22 else { return nil }
        let start = i + 1
        var j = start
        var ascii = true
        while j < end {
            let c = base[j]
            if c == 0x22 { break }
            if c == 0x5C || c < 0x20 { return nil }
            if c >= 0x80 { ascii = false }
            j += 1
        }
        guard j < end else { return nil }
        i = j + 1
        let bytes = UnsafeBufferPointer(start: base + start, count: j - start)
        // ASCII is valid UTF-8: decoding it is the same string without the generic validation
        // (whose metadata lookups cost ~3 % of a stream's client).
        if ascii { return String(decoding: bytes, as: UTF8.self) }
        guard let text = String(validating: bytes, as: UTF8.self) else { return nil }
        return text
    }

    /// An integer written as JSON digits (no fraction, no exponent, at most 18 digits).
    mutating func integer() -> Int? {
        var negative = false
        if i < end, base[i] == UInt8(ascii: "-") {
            negative = true
            i += 1
        }
        let start = i
        var value = 0
        while i < end, base[i] &- 0x30 < 10 {
            guard i - start < 18 else { return nil }
            value = value * 10 + Int(base[i] &- 0x30)
            i += 1
        }
        guard i > start, !(base[start] == 0x30 && i - start > 1) else { return nil }
        if i < end, base[i] == UInt8(ascii: ".") || base[i] == UInt8(ascii: "e") || base[i] == UInt8(ascii: "E") { return nil }
        return negative ? -value : value
    }

    private static let powersOfTen: [Double] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14,
                                                1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22]

    private static let powersOfFive: [UInt64] = (0 ... 27).map { q in (0 ..< q).reduce(UInt64(1)) { p, _ in p * 5 } }

    /// `mantissa × 10^exponent` correctly rounded (to nearest, ties to even), for a mantissa
    /// below 2^64 and |exponent| ≤ 27 (so 5^|exponent| < 2^63): 10^q = 5^q × 2^q, the product
    /// or quotient by 5^|q| is computed exactly in 128 bits (a quotient keeps its remainder as
    /// the sticky bit), and the 64 leading bits are rounded to 53 once. What `strtod` returns,
    /// without its arbitrary-precision path (~12 % of a remote stream's client).
    static func exact(_ mantissa: UInt64, _ exponent: Int) -> Double {
        guard mantissa != 0 else { return 0 }
        var bits: UInt64  // value = (bits + a fraction that is nonzero iff `sticky`) × 2^binaryExponent
        var sticky: Bool
        var binaryExponent: Int
        if exponent >= 0 {
            let (high, low) = mantissa.multipliedFullWidth(by: powersOfFive[exponent])
            if high == 0 {
                (bits, sticky, binaryExponent) = (low, false, exponent)
            } else {
                let shift = high.leadingZeroBitCount
                bits = shift == 0 ? high : (high << shift) | (low >> (64 - shift))
                sticky = (low << shift) != 0
                binaryExponent = exponent + 64 - shift
            }
        } else {
            let divisor = powersOfFive[-exponent]
            let normalize = mantissa.leadingZeroBitCount
            let numerator = mantissa << normalize  // in [2^63, 2^64)
            let t = divisor.bitWidth - divisor.leadingZeroBitCount - 1  // divisor in [2^t, 2^(t+1))
            // numerator × 2^t as 128 bits; its high word < 2^t ≤ divisor, so the quotient fits.
            let high = t == 0 ? 0 : numerator >> (64 - t)
            let low = numerator << t
            let (quotient, remainder) = divisor.dividingFullWidth((high: high, low: low))
            (bits, sticky, binaryExponent) = (quotient, remainder != 0, -normalize - t + exponent)
        }
        let shift = bits.leadingZeroBitCount
        bits <<= shift
        binaryExponent -= shift
        var significand = bits >> 11
        let rest = bits & 0x7FF
        if rest > 0x400 || (rest == 0x400 && (sticky || significand & 1 == 1)) {
            significand += 1
            if significand == 1 << 53 {
                significand = 1 << 52
                binaryExponent += 1
            }
        }
        return Double(sign: .plus, exponent: binaryExponent + 11, significand: Double(significand))
    }

    /// A JSON number. Up to 15 significant digits and a decimal exponent within ±22, the
    /// value is one correctly rounded operation on exact operands (Clinger's fast path);
    /// otherwise the text goes to `Double(_:)`.
    mutating func number() -> Double? {
        var negative = false
        if i < end, base[i] == UInt8(ascii: "-") {
            negative = true
            i += 1
        }
        let intStart = i
        var mantissa: UInt64 = 0
        var significant = 0
        var exponent = 0
        while i < end, base[i] &- 0x30 < 10 {
            mantissa = mantissa &* 10 &+ UInt64(base[i] &- 0x30)
            if mantissa != 0 { significant += 1 }
            i += 1
        }
        guard i > intStart, !(base[intStart] == 0x30 && i - intStart > 1) else { return nil }
        if i < end, base[i] == UInt8(ascii: ".") {
            i += 1
            let fractionStart = i
            while i < end, base[i] &- 0x30 < 10 {
                mantissa = mantissa &* 10 &+ UInt64(base[i] &- 0x30)
                if mantissa != 0 { significant += 1 }
                exponent -= 1
                i += 1
            }
            guard i > fractionStart else { return nil }
        }
        if i < end, base[i] == UInt8(ascii: "e") || base[i] == UInt8(ascii: "E") {
            i += 1
            var negativeExponent = false
            if i < end, base[i] == UInt8(ascii: "+") || base[i] == UInt8(ascii: "-") {
                negativeExponent = base[i] == UInt8(ascii: "-")
                i += 1
            }
            let exponentStart = i
            var e = 0
            while i < end, base[i] &- 0x30 < 10 {
                guard i - exponentStart < 5 else { return nil }
                e = e * 10 + Int(base[i] &- 0x30)
                i += 1
            }
            guard i > exponentStart else { return nil }
            exponent += negativeExponent ? -e : e
        }
        let value: Double
        if significant <= 15, exponent >= -22, exponent <= 22 {
            let m = Double(mantissa)
            value = exponent < 0 ? m / Self.powersOfTen[-exponent] : m * Self.powersOfTen[exponent]
        } else if significant <= 19, exponent >= -27, exponent <= 27 {
            // Exact: the mantissa (< 10^19 < 2^64) times or over 5^|exponent| (< 2^63) in
            // integers, rounded once (`Self.exact`); a trace's 17-digit figures all come here.
            value = Self.exact(mantissa, exponent)
        } else {
            guard let v = Double(String(decoding: UnsafeBufferPointer(start: base + intStart, count: i - intStart), as: UTF8.self)),
                  v.isFinite else { return nil }
            value = v
        }
        return negative ? -value : value
    }

    mutating func step() -> TraceStep? {
        guard lit(#"{"agents":["#) else { return nil }
        var agents: [AgentSnapshot] = []
        if !lit("]") {
            repeat {
                guard lit(#"{"id":"#), let id = string(), lit(#","policy":{"gamma":"#), let gamma = number(),
                      lit(#","lambda":"#), let lambda = number(), lit(#"},"state":{"alignment":"#), let alignment = number(),
                      lit(#","capability":"#), let capability = number(), lit(#","guardrail":"#), let guardrail = number(),
                      lit(#","pressure":"#), let pressure = number(), lit("}}") else { return nil }
                agents.append(AgentSnapshot(id: id, capability: capability, alignment: alignment, guardrail: guardrail,
                                            pressure: pressure, lambda: lambda, gamma: gamma))
            } while lit(",")
            guard lit("]") else { return nil }
        }
        guard lit(#","loss":"#) else { return nil }
        var loss: BasinLoss?
        if !lit("null") {
            guard lit(#"{"agent":"#) else { return nil }
            var agent: String?
            if !lit("null") {
                guard let a = string() else { return nil }
                agent = a
            }
            guard lit(#","basin":"#), let basin = integer(), lit(#","magnitude":"#), let magnitude = number(),
                  lit(#","tick":"#), let tick = integer(), lit("}") else { return nil }
            loss = BasinLoss(tick: tick, magnitude: magnitude, agent: agent, basin: basin)
        }
        guard lit(#","move":"#), let move = string(), lit(#","paradox":"#) else { return nil }
        var paradox: Paradox?
        if !lit("null") {
            guard lit(#"{"kind":"#), let kind = string(), lit(#","prophecy":"#), let prophecy = integer(),
                  lit(#","tick":"#), let tick = integer(), lit("}") else { return nil }
            paradox = Paradox(tick: tick, prophecy: prophecy, kind: kind)
        }
        guard lit(#","prophecy":"#) else { return nil }
        var prophecy: Prophecy?
        if !lit("null") {
            guard lit(#"{"horizon":"#), let horizon = integer(), lit(#","id":"#), let id = integer(),
                  lit(#","predictedLoss":"#) else { return nil }
            var predictedLoss: Int?
            if !lit("null") {
                guard let l = integer() else { return nil }
                predictedLoss = l
            }
            guard lit(#","predictedStability":"#), let stability = number(), lit(#","tick":"#), let tick = integer(),
                  lit("}") else { return nil }
            prophecy = Prophecy(id: id, tick: tick, horizon: horizon, predictedStability: stability, predictedLoss: predictedLoss)
        }
        guard lit(#","state":{"basin":"#), let basin = integer(), lit(#","ceiling":"#), let ceiling = number(),
              lit(#","phase":"#), let phaseName = string(), let phase = Phase(rawValue: phaseName),
              lit(#","pressure":"#), let pressure = number(), lit(#","stability":"#), let stability = number(),
              lit(#"},"tick":"#), let tick = integer(), lit(#","warning":"#) else { return nil }
        var warning: StabilityWarning?
        if !lit("null") {
            guard lit(#"{"level":"#), let levelName = string(), let level = WarningLevel(rawValue: levelName),
                  lit(#","stability":"#), let warningStability = number(), lit(#","threshold":"#), let threshold = number(),
                  lit("}") else { return nil }
            warning = StabilityWarning(level: level, threshold: threshold, stability: warningStability)
        }
        guard lit("}"), i == end else { return nil }
        return TraceStep(tick: tick, move: move, state: WorldSnapshot(stability: stability, basin: basin, phase: phase,
                                                                      pressure: pressure, ceiling: ceiling),
                         warning: warning, loss: loss, prophecy: prophecy, paradox: paradox, agents: agents)
    }
}
