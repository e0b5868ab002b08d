import Foundation
import KairosScript
import Testing

@Suite struct ExampleTests {
    @Test(arguments: Repository.files(in: "examples", withExtension: "krs").map(\.lastPathComponent))
    func exampleRuns(file: String) throws {
        let source = try Repository.text(Repository.root.appendingPathComponent("examples/\(file)"))
        #expect(source.hasPrefix("#!/usr/bin/env kairos\n"))
        // `args` as the CLI binds it: one argument, a scratch file for a figure the example saves.
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("kairos-example-\(UUID().uuidString).svg")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let (output, result) = runScript(source, fileName: file, args: [scratch.path])
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics.map(\.description))")
        #expect(!output.isEmpty)
    }

    @Test func capabilitySweepPrintsFiftyOneRuns() throws {
        let source = try Repository.text(Repository.root.appendingPathComponent("examples/capability_sweep.krs"))
        let (output, _) = runScript(source)
        let lines = output.split(separator: "\n")
        #expect(lines.count == 51)
        #expect(lines.first == "cap=100 phase=stable stability=0.9316 losses=0")
        #expect(lines.contains("cap=550 phase=strained stability=0.5842 losses=0"))
        #expect(lines.last == "cap=1000 phase=collapsed stability=0.1772 losses=1")
    }
}
