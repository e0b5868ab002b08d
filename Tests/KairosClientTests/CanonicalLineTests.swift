import Foundation
@testable import KairosAPI
import KairosEngine
import Testing

/// `TraceStep(canonicalLine:)`, the reader of multi-step stream frames: the same step as the
/// JSON parser gives for every line, on the direct path for canonical lines and through the
/// parser for any other layout.
@Suite struct CanonicalLineTests {
    static func read(_ text: String) -> TraceStep? {
        Array(text.utf8).withUnsafeBytes { TraceStep(canonicalLine: $0) }
    }

    @Test func everyCatalogStepReadsBackExactly() throws {
        var checked = 0
        for entry in ScenarioCatalog.all {
            let trace = try #require(Trace.run(entry.scenario, ticks: 600))
            for step in trace.steps {
                let line = CanonicalJSON.string(step)
                let direct = Array(line.utf8).withUnsafeBufferPointer { bytes -> TraceStep? in
                    var reader = CanonicalStepReader(base: bytes.baseAddress!, count: bytes.count)
                    return reader.step()
                }
                #expect(direct == step, "tick \(step.tick) of \(entry.id)")
                #expect(Self.read(line) == step)
                #expect(TraceStep(json: try JSONParser.parse(line)) == step)
                checked += 1
            }
        }
        #expect(checked >= 600 * ScenarioCatalog.all.count)
    }

    @Test func edgeValuesAndOptionalMembers() throws {
        let step = TraceStep(
            tick: 7, move: "policy", state: WorldSnapshot(stability: 1e-7, basin: 2, phase: .critical, pressure: 1.7976931348623157e308,
                                                          ceiling: 0.30000000000000004),
            warning: StabilityWarning(level: .danger, threshold: 0.2, stability: -0.5),
            loss: BasinLoss(tick: 6, magnitude: 123456789012345680, agent: nil, basin: 1),
            prophecy: Prophecy(id: 3, tick: 5, horizon: 100, predictedStability: 5e-324, predictedLoss: -4),
            paradox: Paradox(tick: 7, prophecy: 3, kind: "averted"),
            agents: [AgentSnapshot(id: "é€😀", capability: 1e21, alignment: 0.000001, guardrail: 2.5e-5, pressure: 0,
                                   lambda: 12345.6789, gamma: 9007199254740993)])
        #expect(Self.read(CanonicalJSON.string(step)) == step)
        #expect(Self.read(CanonicalJSON.string(TraceStep(tick: 0, move: "idle", state: step.state, agents: []))) ==
            TraceStep(tick: 0, move: "idle", state: step.state, agents: []))
    }

    /// Numbers of up to 17 significant digits, on both sides of the exact fast path: every one
    /// reads back to the double it was written from, whether a byte follows it or it ends the
    /// buffer.
    static let scale: [Double] = (-12 ... 12).map { Double("1e\($0)")! }

    /// The exact integer path on its own, at its edges: halfway cases round to even.
    @Test func exactProductsAndQuotientsRoundOnce() {
        #expect(CanonicalStepReader.exact(9_007_199_254_740_993, 0) == 9_007_199_254_740_992)  // 2^53 + 1: tie, to even
        #expect(CanonicalStepReader.exact(9_007_199_254_740_995, 0) == 9_007_199_254_740_996)  // 2^53 + 3: tie, to even
        #expect(CanonicalStepReader.exact(18_014_398_509_481_985, 0) == 18_014_398_509_481_984)  // below half
        #expect(CanonicalStepReader.exact(1, -27) == 1e-27)
        #expect(CanonicalStepReader.exact(9_999_999_999_999_999_999, 27) == 1e46)
        #expect(CanonicalStepReader.exact(30_000_000_000_000_004, -17) == 0.30000000000000004)
        #expect(CanonicalStepReader.exact(17_976_931_348_623_157, 0) == 17_976_931_348_623_157)
        #expect(CanonicalStepReader.exact(12_345_678_901_234_567, -20) == Double("0.00012345678901234567"))
    }

    @Test func longNumbersReadBackExactly() throws {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var checked = 0
        for _ in 0 ..< 50_000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            // Any positive double, one in [0, 1) (most of a trace's figures), one of those scaled
            // by 10^-12 … 10^12 (the integer path's exponents).
            let unit = Double(state >> 11) / 9_007_199_254_740_992
            let value = switch checked % 3 {
            case 0: Double(bitPattern: state & ~(1 << 63))
            case 1: unit
            default: unit * Self.scale[Int(state % 25)]
            }
            guard value.isFinite else { continue }
            var writer = CanonicalJSONWriter(capacity: 32)
            writer.value(.number(value))
            for text in [writer.bytes + Array(",".utf8), writer.bytes] {
                let read = text.withUnsafeBufferPointer { bytes -> Double? in
                    var reader = CanonicalStepReader(base: bytes.baseAddress!, count: bytes.count)
                    return reader.number()
                }
                let text = String(decoding: writer.bytes, as: UTF8.self)
                #expect(read == value && read == Double(text), "\(text)")
            }
            checked += 1
        }
        #expect(checked > 40_000)
    }

    @Test func otherLayoutsGoThroughTheParser() throws {
        let entry = try #require(ScenarioCatalog.scenario(id: "capability-divergence"))
        let step = try #require(Trace.run(entry.scenario, ticks: 3)).steps[2]
        let line = CanonicalJSON.string(step)
        // Whitespace, escapes, another key order: still the same step.
        #expect(Self.read(line.replacingOccurrences(of: ",", with: ", ")) == step)
        #expect(Self.read(line.replacingOccurrences(of: "\"idle\"", with: "\"\\u0069dle\"")) == step)
        #expect(Self.read(step.jsonValue.prettyPrinted()) == step)
        // Not steps.
        #expect(Self.read("") == nil)
        #expect(Self.read("{}") == nil)
        #expect(Self.read(String(line.dropLast())) == nil)
        #expect(Self.read(line + "x") == nil)
        #expect(Self.read(line.replacingOccurrences(of: "\"tick\":2,", with: "\"tick\":02,")) == nil)
    }
}
