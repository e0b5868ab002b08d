import Foundation
import KairosScript
import KairosTestSupport
import Testing

/// The analysis examples, figures and files (docs/analysis.md); the built-ins themselves are
/// checked by the `analysis_*.krs` conformance files.
@Suite struct AnalysisTests {
    static func scratch() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kairos-analysis-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func tippingPointExampleAnswersTheSeedsQuestion() throws {
        let source = try Repository.text(Repository.root.appendingPathComponent("examples/tipping_point.krs"))
        let (output, result) = runScript(source, fileName: "tipping_point.krs", args: [])
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics.map(\.description))")
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.first == "stage 1: 190 runs, P(loss) = 1/2 at capability 814.9, 95% [792.2, 838.2]")
        #expect(lines.contains("stage 2: 220 more runs"))
        #expect(lines.contains("cap  runs  losses  observed  fitted"))
        #expect(lines.contains("806    20       9      0.45   0.513"))
        #expect(lines.suffix(3) == [
            "P(basin loss) crosses 1/2 at capability 805.5",
            "95% interval 802.1 to 808.5, from 410 runs of 500 ticks", "",
        ])
    }

    @Test func gridStudyPrintsIntervalsAndSavesAFigure() throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let figure = dir.appendingPathComponent("grid.svg")
        let source = try Repository.text(Repository.root.appendingPathComponent("examples/grid_study.krs"))
        let (output, result) = runScript(source, fileName: "grid_study.krs", args: [figure.path])
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics.map(\.description))")
        let lines = output.split(separator: "\n").map(String.init)
        #expect(lines.first == "alignment   cap  runs  p_loss  stability     lo     hi")
        #expect(lines.contains("       60   700     8    0.50      0.321  0.309  0.333"))
        #expect(lines.contains("       80  1000     8    0.00      0.429  0.418  0.440"))
        #expect(lines.last == "saved \(figure.path)")
        let svg = try String(contentsOf: figure, encoding: .utf8)
        #expect(svg.hasPrefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\""))
        #expect(svg.hasSuffix("</svg>\n"))
        for legend in ["alignment 60", "alignment 70", "alignment 80", ">capability<", ">P(basin loss)<"] { #expect(svg.contains(legend)) }
        #expect(svg.components(separatedBy: "<polyline").count == 4)
        // Standalone: no scripts, no external fonts, stylesheets or images.
        for outside in ["<script", "@import", "url(", "href", "@font-face"] { #expect(!svg.contains(outside)) }
    }

    /// `save(rows, "x.csv")` reads back in Python's csv module with every number exactly
    /// (the test is skipped where there is no python3).
    @Test func csvRoundTripsThroughPython() throws {
        guard let python = ["/usr/bin/python3", "/usr/local/bin/python3"].first(where: FileManager.default.isExecutableFile) else { return }
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let csv = dir.appendingPathComponent("rows.csv")
        let script = """
        let rows = [{cap: 100, p: 0.1 + 0.2, name: "a, \\"quoted\\" one", lost: true, note: null},
                    {cap: 1e21, p: 1 / 3, name: "b", lost: false, note: [1, 2]},
                    {cap: -0.000001, p: 5e-324, name: "", lost: false, note: {k: 1}}]
        save(rows, "\(csv.path)")
        """
        let (_, result) = runScript(script)
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics.map(\.description))")
        let check = """
        import csv, sys
        rows = list(csv.DictReader(open(sys.argv[1], newline="")))
        assert list(rows[0].keys()) == ["cap", "p", "name", "lost", "note"], rows[0].keys()
        assert [float(r["cap"]) for r in rows] == [100.0, 1e21, -0.000001]
        assert [float(r["p"]) for r in rows] == [0.1 + 0.2, 1 / 3, 5e-324]
        assert [r["name"] for r in rows] == ['a, "quoted" one', "b", ""]
        assert [r["lost"] for r in rows] == ["true", "false", "false"]
        assert [r["note"] for r in rows] == ["", "[1,2]", '{"k":1}']
        print("ok")
        """
        let result2 = try ChildProcess.run(URL(fileURLWithPath: python), ["-c", check, csv.path])
        #expect(String(decoding: result2.output, as: UTF8.self) == "ok\n", "\(result2.stderr)")
    }

    /// A sweep keeps summaries only; asking for steps recomputes them bit for bit.
    @Test func sweepsKeepSummariesAndRecomputeStepsOnDemand() throws {
        let source = """
        scenario s(cap) {
          seed cap
          ticks 120
          model "model" { capability cap; alignment 70; guardrails 60 }
          at 50 CAPABILITY_JUMP "model" by 0.3
        }
        run map([300, 900, 950], c => s(c))
        """
        let (_, result) = runScript(source)
        guard case .list(let items)? = result.value else { Issue.record("no list"); return }
        let traces = items.compactMap { if case .trace(let t) = $0 { t } else { nil } }
        #expect(traces.count == 3)
        #expect(traces.allSatisfy { !$0.holdsSteps })
        #expect(traces.map(\.tickCount) == [120, 120, 120])
        let (_, single) = runScript(source.replacingOccurrences(of: "run map([300, 900, 950], c => s(c))", with: "run s(900)"))
        guard case .trace(let eager)? = single.value else { Issue.record("no trace"); return }
        #expect(eager.holdsSteps)
        #expect(traces[1].trace == eager.trace)
        #expect(traces[1].summary == eager.summary)
        #expect(traces[1].holdsSteps)
        #expect(!traces[2].holdsSteps)
    }

    @Test func progressLineShowsDoneRateAndTimeLeft() {
        #expect(SweepProgress.line(verb: "running", done: 500, total: 2000, elapsedNanoseconds: 250_000_000)
            == "running 500/2000 · 2000 runs/s · 0:01 left")
        #expect(SweepProgress.line(verb: "running", done: 3, total: 10, elapsedNanoseconds: 2_000_000_000)
            == "running 3/10 · 1.5 runs/s · 0:05 left")
        #expect(SweepProgress.line(verb: "running", done: 0, total: 10, elapsedNanoseconds: 0) == "running 0/10")
        #expect(!SweepProgress.enabled(environment: ["NO_COLOR": "1"]))
        #expect(!SweepProgress.enabled(environment: ["TERM": "dumb"]))
    }

    @Test func progressDrawsOnlyAfterItsDelayAndErasesItself() {
        let lines = Locked<[String]>([])
        let quick = SweepProgress(total: 3, delayNanoseconds: 60_000_000_000) { text in lines.withLock { $0.append(text) } }
        for _ in 0 ..< 3 { quick.advance() }
        quick.finish()
        #expect(lines.withLock { $0 }.isEmpty)
        let slow = SweepProgress(total: 2, delayNanoseconds: 0) { text in lines.withLock { $0.append(text) } }
        slow.advance()
        slow.advance()
        slow.finish()
        let drawn = lines.withLock { $0 }
        #expect(drawn.first?.hasPrefix("\r\u{1B}[Krunning 1/2") == true)
        #expect(drawn.last == "\r\u{1B}[K")
    }
}

/// A value behind a lock, for collecting from `@Sendable` closures.
final class Locked<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: T
    init(_ value: T) { self.value = value }
    func withLock<R>(_ body: (inout T) -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}
