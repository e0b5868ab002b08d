import Foundation
import KairosScript
import KairosTestSupport

/// Paths of the repository, found from this file.
enum Repository {
    static var root: URL { TestPaths.root }

    static func files(in relative: String, withExtension ext: String) -> [URL] {
        let dir = root.appendingPathComponent(relative)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.filter { $0.hasSuffix(".\(ext)") }.sorted().map { dir.appendingPathComponent($0) }
    }

    static func text(_ url: URL) throws -> String { try String(contentsOf: url, encoding: .utf8) }
}

/// Runs a script in a fresh session and returns what it printed and reported.
func runScript(_ source: String, fileName: String = "test.krs", args: [String]? = nil) -> (output: String, evaluation: Evaluation) {
    let out = CollectedOutput()
    let interpreter = Interpreter(output: out)
    if let args { interpreter.define("args", .list(args.map { .string($0) })) }
    let result = interpreter.evaluate(source: source, fileName: fileName)
    return (out.text, result)
}

/// The built `kairos`, run from the repository's root with `stdin` as its standard input.
enum KairosBinary {
    static func run(_ arguments: [String], stdin: String = "") throws -> ChildProcessResult {
        try ChildProcess.run(TestPaths.kairos, arguments, stdin: Data(stdin.utf8), directory: TestPaths.root)
    }
}
