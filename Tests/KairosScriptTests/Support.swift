import Foundation
import KairosScript

/// Paths of the repository, found from this file.
enum Repository {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func files(in relative: String, withExtension ext: String) -> [URL] {
        let dir = root.appendingPathComponent(relative)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.filter { $0.hasSuffix(".\(ext)") }.sorted().map { dir.appendingPathComponent($0) }
    }

    static func text(_ url: URL) throws -> String { try String(contentsOf: url, encoding: .utf8) }
}

/// Runs a script in a fresh session and returns what it printed and reported.
func runScript(_ source: String, fileName: String = "test.krs") -> (output: String, evaluation: Evaluation) {
    let out = CollectedOutput()
    let interpreter = Interpreter(output: out)
    let result = interpreter.evaluate(source: source, fileName: fileName)
    return (out.text, result)
}

/// The built `kairos` executable, next to the test bundle.
enum KairosBinary {
    static var url: URL {
        var dir = Bundle.main.bundleURL
        if dir.pathExtension == "xctest" { dir = dir.deletingLastPathComponent() }
        for candidate in [dir, Bundle.main.bundleURL.deletingLastPathComponent(), root.appendingPathComponent(".build/debug")] {
            let url = candidate.appendingPathComponent("kairos")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return dir.appendingPathComponent("kairos")
    }

    static var root: URL { Repository.root }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs `kairos` with arguments and standard input, collecting output through files.
    static func run(_ arguments: [String], stdin: String = "", executable: URL? = nil) throws -> Result {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kairos-script-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let inURL = dir.appendingPathComponent("in"), outURL = dir.appendingPathComponent("out"),
            errURL = dir.appendingPathComponent("err")
        try Data(stdin.utf8).write(to: inURL)
        FileManager.default.createFile(atPath: outURL.path, contents: nil)
        FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let process = Process()
        process.executableURL = executable ?? url
        process.arguments = arguments
        process.currentDirectoryURL = root
        process.standardInput = try FileHandle(forReadingFrom: inURL)
        process.standardOutput = try FileHandle(forWritingTo: outURL)
        process.standardError = try FileHandle(forWritingTo: errURL)
        try process.run()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: try String(contentsOf: outURL, encoding: .utf8),
                      stderr: try String(contentsOf: errURL, encoding: .utf8))
    }
}
