import Foundation
import Testing

/// The two end-to-end scripts, run against a real `kairos serve` (heavy: `KAIROS_HEAVY_TESTS=1`).
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["KAIROS_HEAVY_TESTS"] == "1"))
struct ScriptTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func run(_ script: String) async throws -> (Int32, String) {
        try await offCooperativePool { try runBlocking(script) }
    }

    private static func runBlocking(_ script: String) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = root.appendingPathComponent("scripts/\(script)")
        process.environment = ProcessInfo.processInfo.environment.merging(["KAIROS_BINARY": LiveServerTests.binary]) { _, new in new }
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test func openAPIDocumentIsValidAndTrue() async throws {
        let (status, output) = try await Self.run("openapi-check")
        print(output)
        #expect(status == 0, "\(output)")
    }

    /// The seeds' curl examples, read from the project's copy in `docs/seeds`.
    @Test func seedCurlExamplesSucceed() async throws {
        let (status, output) = try await Self.run("api-smoke")
        print(output)
        #expect(status == 0, "\(output)")
    }
}
