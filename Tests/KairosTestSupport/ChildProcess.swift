import Foundation

/// Where the tests find the repository and the built `kairos`.
public enum TestPaths {
    /// The repository's root, found from this file (`Tests/KairosTestSupport/…`).
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The built `kairos` executable: `KAIROS_BINARY` if set, else the one next to the test
    /// bundle (the build the tests came from), else `.build/debug/kairos`.
    public static var kairos: URL {
        if let path = ProcessInfo.processInfo.environment["KAIROS_BINARY"] { return URL(fileURLWithPath: path) }
        var bundle = Bundle.main.bundleURL
        if bundle.pathExtension == "xctest" { bundle = bundle.deletingLastPathComponent() }
        let candidates = [bundle, Bundle.main.bundleURL.deletingLastPathComponent(),
                          URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(),
                          root.appendingPathComponent(".build/debug")]
        for directory in candidates {
            let url = directory.appendingPathComponent("kairos")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return root.appendingPathComponent(".build/debug/kairos")
    }
}

/// What a child process left when it ended.
public struct ChildProcessResult: Sendable {
    public var status: Int32
    /// Standard output, as bytes (standard error too with `.mergedIntoOutput`).
    public var output: Data
    /// Standard error (empty unless `.captured`).
    public var stderr: String

    /// Standard output as text.
    public var stdout: String { String(decoding: output, as: UTF8.self) }
}

/// Runs programs to completion for the tests. Output goes through temporary files, so a large
/// output can never dead-lock on a full pipe.
public enum ChildProcess {
    public enum StandardError: Sendable {
        case captured, discarded, mergedIntoOutput
    }

    /// Runs `executable` with `arguments`, `stdin` as its standard input, the test's environment
    /// with `environment` over it, in `directory` (the test's own when nil).
    public static func run(_ executable: URL, _ arguments: [String] = [], stdin: Data = Data(),
                           environment: [String: String] = [:], directory: URL? = nil,
                           standardError: StandardError = .captured) throws -> ChildProcessResult {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kairos-child-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let inURL = dir.appendingPathComponent("in"), outURL = dir.appendingPathComponent("out"),
            errURL = dir.appendingPathComponent("err")
        try stdin.write(to: inURL)
        FileManager.default.createFile(atPath: outURL.path, contents: nil)
        FileManager.default.createFile(atPath: errURL.path, contents: nil)

        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        if let directory { process.currentDirectoryURL = directory }
        let input = try FileHandle(forReadingFrom: inURL), output = try FileHandle(forWritingTo: outURL)
        let errors = try FileHandle(forWritingTo: errURL)
        defer { try? input.close(); try? output.close(); try? errors.close() }
        process.standardInput = input
        process.standardOutput = output
        switch standardError {
        case .captured: process.standardError = errors
        case .discarded: process.standardError = FileHandle.nullDevice
        case .mergedIntoOutput: process.standardError = output
        }
        try process.run()
        waitForExit(process)
        return ChildProcessResult(status: process.terminationStatus, output: try Data(contentsOf: outURL),
                                  stderr: String(decoding: try Data(contentsOf: errURL), as: UTF8.self))
    }

    /// Waits for `process` to end without spinning. Foundation's `waitUntilExit` runs the current
    /// run loop for 50 ms at a time, and on a thread with no run-loop source (every cooperative
    /// thread, and `offCooperativePool`'s) that returns at once: a busy loop that burned a whole
    /// core for as long as the child ran (seconds for `scripts/cluster up`, minutes once
    /// when the child's exit went unnoticed), on a 2-core machine where the tests' servers,
    /// pongs and lease renewals need it. `isRunning` is kept by Foundation's own monitor.
    public static func waitForExit(_ process: Process) {
        while process.isRunning { usleep(5_000) }
    }

    /// `run` from async code, waiting off the cooperative pool.
    public static func runOffPool(_ executable: URL, _ arguments: [String] = [], stdin: Data = Data(),
                           environment: [String: String] = [:], directory: URL? = nil,
                           standardError: StandardError = .captured) async throws -> ChildProcessResult {
        try await offCooperativePool {
            try run(executable, arguments, stdin: stdin, environment: environment, directory: directory, standardError: standardError)
        }
    }
}

/// Runs blocking work (a child process to completion) on a thread of its own: a long wait
/// must never hold one of the cooperative pool's few threads (two on a 2-core machine), which
/// every other test and the in-process servers' playback need meanwhile.
public func offCooperativePool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try work() }) }
    }
}
