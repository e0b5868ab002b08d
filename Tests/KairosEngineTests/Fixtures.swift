import Foundation
import KairosEngine

enum Fixtures {
    static var directory: URL {
        Bundle.module.resourceURL!.appendingPathComponent("Fixtures")
    }

    static func data(_ relative: String) throws -> Data {
        try Data(contentsOf: directory.appendingPathComponent(relative))
    }

    static func json(_ relative: String) throws -> JSONValue {
        try JSONParser.parse([UInt8](data(relative)))
    }

    static var goldenNames: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("golden").path)) ?? []
        return names.filter { $0.hasSuffix(".json") }.sorted()
    }
}

/// The directory holding the built products (`kairos`), next to the test bundle.
enum Products {
    static var directory: URL {
        var url = Bundle.main.bundleURL
        if url.pathExtension == "xctest" { url = url.deletingLastPathComponent() }
        // swift-testing runs inside the .xctest bundle on Linux as well.
        for candidate in [url, Bundle.module.bundleURL.deletingLastPathComponent()] {
            if FileManager.default.isExecutableFile(atPath: candidate.appendingPathComponent("kairos").path) { return candidate }
        }
        return url
    }

    struct Result {
        var status: Int32
        var stdout: Data
        var stderr: String
    }

    /// Runs `kairos` with arguments and optional standard input (output through temporary
    /// files, so a large output can never dead-lock on a full pipe).
    static func kairos(_ arguments: [String], stdin: Data? = nil) throws -> Result {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kairos-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let inURL = dir.appendingPathComponent("stdin")
        let outURL = dir.appendingPathComponent("stdout")
        let errURL = dir.appendingPathComponent("stderr")
        try (stdin ?? Data()).write(to: inURL)
        FileManager.default.createFile(atPath: outURL.path, contents: nil)
        FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let process = Process()
        process.executableURL = directory.appendingPathComponent("kairos")
        process.arguments = arguments
        process.standardInput = try FileHandle(forReadingFrom: inURL)
        process.standardOutput = try FileHandle(forWritingTo: outURL)
        process.standardError = try FileHandle(forWritingTo: errURL)
        try process.run()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: try Data(contentsOf: outURL),
                      stderr: String(decoding: try Data(contentsOf: errURL), as: UTF8.self))
    }
}
