import Foundation
import KairosEngine
import Testing

@Suite struct CanonicalJSONTests {
    /// ~28 000 doubles whose ECMAScript text was produced by node's Number.prototype.toString
    /// (scripts/dev/gen-ecmascript-numbers.js): random bit patterns, every power of ten,
    /// subnormals, 17-digit values and large integers.
    @Test func numbersMatchECMAScriptTable() throws {
        let text = String(decoding: try Fixtures.data("ecmascript-numbers.tsv"), as: UTF8.self)
        var checked = 0
        var failures: [String] = []
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: "\t")
            guard parts.count == 2, let bits = UInt64(parts[0], radix: 16) else { continue }
            let value = Double(bitPattern: bits)
            let got = CanonicalJSON.number(value)
            if got != parts[1] { failures.append("\(parts[0]): expected \(parts[1]), got \(got)") }
            checked += 1
        }
        #expect(checked > 25_000)
        #expect(failures.isEmpty, "\(failures.prefix(20))")
    }

    /// A writer that lays out many steps copies a number field's text when the field holds the
    /// same double as in its previous step (`NumberCache`): its lines are exactly those of a
    /// fresh writer per step, for fields that repeat, change, alternate, hold zero, negative
    /// zero, subnormals and the longest texts, for up to 20 agents (the first 16 are cached).
    @Test func repeatedNumbersLayOutLikeFreshOnes() throws {
        let text = String(decoding: try Fixtures.data("ecmascript-numbers.tsv"), as: UTF8.self)
        var pool: [Double] = [0, -0.0, 1, -1, 0.3, 0.1 + 0.2, 5e-324, -2.2250738585072014e-308, -0.000001234567890123456,
                              1e21, 123456789012345680000, 1.7976931348623157e308]
        for line in text.split(separator: "\n").prefix(3_000) {
            if let bits = UInt64(line.split(separator: "\t")[0], radix: 16), Double(bitPattern: bits).isFinite {
                pool.append(Double(bitPattern: bits))
            }
        }
        var generator = SystemRandomNumberGenerator()
        func pick(_ previous: Double) -> Double {
            switch generator.next() % 4 {
            case 0, 1: previous  // repeats: the cache answers
            case 2: pool[Int(generator.next() % UInt64(pool.count))]
            default: Double(bitPattern: generator.next() >> 2)
            }
        }
        var reused = CanonicalJSONWriter()
        var step = TraceStep(tick: 0, move: "idle", state: WorldSnapshot(stability: 0.5, basin: 1, phase: .stable, pressure: 0.3, ceiling: 1),
                             agents: (0 ..< 20).map { AgentSnapshot(id: "a\($0)", capability: 1, alignment: 0.5, guardrail: 0.25,
                                                                     pressure: 0, lambda: 0.3, gamma: 0.7) })
        for tick in 0 ..< 3_000 {
            step.tick = tick
            step.agents.removeLast(step.agents.count - 1 - Int(generator.next() % 20))
            while step.agents.count < 20 { step.agents.append(step.agents[step.agents.count - 1]) }
            for i in step.agents.indices {
                let a = step.agents[i]
                step.agents[i] = AgentSnapshot(id: a.id, capability: pick(a.capability), alignment: pick(a.alignment),
                                               guardrail: pick(a.guardrail), pressure: pick(a.pressure),
                                               lambda: pick(a.lambda), gamma: pick(a.gamma))
            }
            step.state = WorldSnapshot(stability: pick(step.state.stability), basin: 1, phase: .strained,
                                       pressure: pick(step.state.pressure), ceiling: pick(step.state.ceiling))
            step.warning = tick % 3 == 0 ? nil : StabilityWarning(level: .caution, threshold: pick(0.4), stability: pick(step.state.stability))
            step.loss = tick % 5 == 0 ? BasinLoss(tick: tick, magnitude: pick(0.2), agent: nil, basin: 2) : nil
            step.prophecy = tick % 2 == 0 ? Prophecy(id: tick, tick: tick, horizon: 10, predictedStability: pick(0.6), predictedLoss: nil) : nil
            reused.reset()
            reused.step(step)
            var fresh = CanonicalJSONWriter()
            fresh.step(step)
            #expect(reused.bytes == fresh.bytes, "tick \(tick)")
            if reused.bytes != fresh.bytes { break }
        }
    }

    /// The significant digits and decimal exponent of a number's text (`1.25e-7` → ("125", -9)).
    static func decimal(_ text: Substring) -> (digits: String, exponent: Int) {
        var mantissa = text
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exponent = Int(text[text.index(after: e)...].replacingOccurrences(of: "+", with: ""))!
            mantissa = text[..<e]
        }
        var digits = mantissa.filter { $0 != "-" }
        if let point = digits.firstIndex(of: ".") {
            exponent -= digits.distance(from: point, to: digits.endIndex) - 1
            digits.remove(at: point)
        }
        while digits.count > 1, digits.hasPrefix("0") { digits.removeFirst() }
        while digits.count > 1, digits.hasSuffix("0") {
            digits.removeLast()
            exponent += 1
        }
        return (digits, exponent)
    }

    /// Random doubles of every magnitude: the shortest round-trip digits (Schubfach for normal
    /// values) are Swift's own (`description`, also shortest and closest), and parse back.
    @Test func randomDoublesMatchSwiftsShortestDigits() {
        var generator = SystemRandomNumberGenerator()
        var failures: [String] = []
        for i in 0 ..< 200_000 {
            let value = i % 2 == 0 ? Double(bitPattern: generator.next()) : Double.random(in: 0 ... 1000, using: &generator)
            guard value.isFinite, value != 0 else { continue }
            let text = CanonicalJSON.number(value)
            let ours = Self.decimal(Substring(text)), swift = Self.decimal(Substring(value.description))
            if Double(text) != value || ours != swift {
                failures.append("\(value.bitPattern): \(text) vs \(value.description)")
            }
        }
        #expect(failures.isEmpty, "\(failures.prefix(10))")
    }

    @Test(arguments: [
        (1e-7, "1e-7"), (1e21, "1e+21"), (1e20, "100000000000000000000"), (5e-324, "5e-324"), (-0.0, "0"),
        (0.0, "0"), (1.0, "1"), (-1.0, "-1"), (100.0, "100"), (0.1, "0.1"), (1e-6, "0.000001"),
        (1.5e-7, "1.5e-7"), (123456789012345680.0, "123456789012345680"), (0.30000000000000004, "0.30000000000000004"),
        (1.7976931348623157e308, "1.7976931348623157e+308"), (9007199254740993.0, "9007199254740992"),
        (0.6400000000000001, "0.6400000000000001"), (2.5e-5, "0.000025"), (1.2345678901234566e-7, "1.2345678901234566e-7"),
        (-1.5e300, "-1.5e+300"), (4.35, "4.35"), (12345.6789, "12345.6789"),
    ])
    func knownNumbers(value: Double, expected: String) {
        #expect(CanonicalJSON.number(value) == expected)
    }

    @Test func stringsEscapeOnlyWhatRFC8785Requires() {
        let value = JSONValue.string("a\"b\\c\n\t\u{08}\u{0C}\r\u{01}\u{1F}é€😀\u{2028}/\u{7F}")
        #expect(CanonicalJSON.string(value) == "\"a\\\"b\\\\c\\n\\t\\b\\f\\r\\u0001\\u001fé€😀\u{2028}/\u{7F}\"")
    }

    @Test func objectKeysSortByUTF16CodeUnits() {
        // RFC 8785's example ordering: "\r" < "1" < "\u0080" < "ö" < "€" < "😀" < "\uFB33" (UTF-16 order).
        let value = JSONValue.object([
            JSONMember(key: "€", value: 1), JSONMember(key: "\r", value: 2), JSONMember(key: "\u{FB33}", value: 3),
            JSONMember(key: "1", value: 4), JSONMember(key: "😀", value: 5), JSONMember(key: "\u{80}", value: 6),
            JSONMember(key: "ö", value: 7),
        ])
        #expect(CanonicalJSON.string(value) == "{\"\\r\":2,\"1\":4,\"\u{80}\":6,\"ö\":7,\"€\":1,\"😀\":5,\"\u{FB33}\":3}")
    }

    @Test func nestedValuesHaveNoWhitespace() {
        let value: JSONValue = .object(["b": [1, 2.5, nil, true], "a": .object(["z": "x", "y": false])])
        #expect(CanonicalJSON.string(value) == "{\"a\":{\"y\":false,\"z\":\"x\"},\"b\":[1,2.5,null,true]}")
    }

    @Test func parsedThenCanonicalRoundTrips() throws {
        let text = "{\"numbers\": [1.0, 1e-7, 1E21, -0, 0.000001, 123456789.5e3],\n \"s\": \"\\u00e9\\ud83d\\ude00\"}"
        let value = try JSONParser.parse(text)
        #expect(CanonicalJSON.string(value) == "{\"numbers\":[1,1e-7,1e+21,0,0.000001,123456789500],\"s\":\"é😀\"}")
    }
}
