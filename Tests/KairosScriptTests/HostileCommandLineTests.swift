import Foundation
import KairosEngine
import KairosTestSupport
import Testing

/// Bad input at the command line (issue: hostile input): binary and endless files, output
/// that cannot be held, negative tick counts, and floods of diagnostics.
@Suite struct HostileCommandLineTests {
    static func temporaryFile(_ bytes: [UInt8]) throws -> String {
        let path = NSTemporaryDirectory() + "kairos-hostile-\(UUID().uuidString)"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test(arguments: ["check", "run", "compile"])
    func binaryFilesAreNotScripts(command: String) throws {
        let r = try KairosBinary.run([command, "/bin/ls"])
        #expect(r.status == 2)
        #expect(r.stderr == "/bin/ls: error: not a text file (it holds a NUL byte or is not UTF-8)\n")
        let zero = try KairosBinary.run([command, "/dev/zero"])
        #expect(zero.status == 2)
        #expect(zero.stderr.hasPrefix("/dev/zero: error: not a text file"))
    }

    @Test func scenarioFilesAreCheckedToo() throws {
        let r = try KairosBinary.run(["simulate", "/dev/zero"])
        #expect(r.status == 2)
        #expect(r.stderr.hasPrefix("/dev/zero: error: not a text file"))
        let invalid = try Self.temporaryFile([0x7B, 0xFF, 0xFE, 0x7D])
        defer { try? FileManager.default.removeItem(atPath: invalid) }
        #expect(try KairosBinary.run(["simulate", invalid]).stderr.hasSuffix("error: not a text file (it holds a NUL byte or is not UTF-8)\n"))
    }

    @Test func inputsAreCapped() throws {
        // 17 MiB of text (no NUL): refused with the limit named, before anything is parsed.
        let path = try Self.temporaryFile(Array(repeating: UInt8(ascii: "x"), count: 17 << 20))
        defer { try? FileManager.default.removeItem(atPath: path) }
        for command in [["check", path], ["simulate", path]] {
            let r = try KairosBinary.run(command)
            #expect(r.status == 2)
            #expect(r.stderr == "\(path): error: larger than 16 MiB; scripts and scenario files are at most 16 MiB\n", "\(r.stderr)")
        }
    }

    @Test func diagnosticsStopAfterFifty() throws {
        let source = (1 ... 300).map { "let x\($0) = nope\($0)" }.joined(separator: "\n")
        let r = try KairosBinary.run(["check", "-"], stdin: source)
        #expect(r.status == 2)
        #expect(r.stderr.components(separatedBy: ": error: ").count == 51)
        #expect(r.stderr.hasSuffix("<stdin>: and 250 more diagnostics\n"))
    }

    @Test func jsonOutputRefusesWhatItCannotHold() throws {
        let r = try KairosBinary.run(["simulate", "examples/three-agents.json", "--ticks", "1000000000", "--output", "json"])
        #expect(r.status == 2)
        #expect(r.stderr.contains("--output json holds the whole trace in memory: at most 1000000 ticks, not 1000000000"))
        #expect(r.stdout.isEmpty)
    }

    @Test func negativeTicksSayWhatIsWrong() throws {
        let r = try KairosBinary.run(["simulate", "examples/three-agents.json", "--ticks", "-1"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("--ticks must be 0 or more, not -1"), "\(r.stderr)")
        #expect(!r.stderr.contains("Missing value"))
    }

    @Test func manyRecordKeysCheckInLinearTime() throws {
        let source = "let r = {" + (0 ..< 100_000).map { "k\($0): \($0)" }.joined(separator: ", ") + "}\nprint(len(r))\n"
        let r = try KairosBinary.run(["run", "-"], stdin: source)
        #expect(r.status == 0, "\(r.stderr.prefix(300))")
        #expect(r.stdout == "100000\n")
    }

    /// The summary streams: its sparkline columns, fed one value at a time, are those of the
    /// whole series.
    @Test(arguments: [1, 2, 59, 60, 61, 119, 500, 1_001])
    func sparklineColumnsMatchTheSeries(count: Int) {
        var g = Xoshiro256StarStar(seed: UInt64(count))
        let series = (0 ..< count).map { _ in Double(g.next() % 10_000) / 10_000 }
        var columns = Sparkline.Columns(count: count, width: 60)
        for x in series { columns.add(x) }
        #expect(Sparkline.render(columnMeans: columns.means, lower: 0, upper: 1) == Sparkline.render(series, width: 60, lower: 0, upper: 1))
        #expect(columns.means.count == min(60, count))
    }
}
