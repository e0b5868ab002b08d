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
    @Test func longNumbersReadBackExactly() throws {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var checked = 0
        for _ in 0 ..< 50_000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            // Alternately any positive double and one in [0, 1) (most of a trace's figures).
            let value = checked % 2 == 0 ? Double(bitPattern: state & ~(1 << 63)) : Double(state >> 11) / 9_007_199_254_740_992
            guard value.isFinite else { continue }
            var writer = CanonicalJSONWriter(capacity: 32)
            writer.value(.number(value))
            for text in [writer.bytes + Array(",".utf8), writer.bytes] {
                let read = text.withUnsafeBufferPointer { bytes -> Double? in
                    var reader = CanonicalStepReader(base: bytes.baseAddress!, count: bytes.count)
                    return reader.number()
                }
                #expect(read == value, "\(String(decoding: writer.bytes, as: UTF8.self))")
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
