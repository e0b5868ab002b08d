import Foundation
import KairosTestSupport
import Testing

/// The two end-to-end scripts, run against a real `kairos serve` (heavy: `KAIROS_HEAVY_TESTS=1`).
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["KAIROS_HEAVY_TESTS"] == "1"))
struct ScriptTests {
    static func run(_ script: String) async throws -> (Int32, String) {
        let result = try await ChildProcess.runOffPool(TestPaths.root.appendingPathComponent("scripts/\(script)"),
                                                       environment: ["KAIROS_BINARY": LiveServerTests.binary],
                                                       standardError: .mergedIntoOutput)
        return (result.status, result.stdout)
    }

    @Test func openAPIDocumentIsValidAndTrue() async throws {
        let (status, output) = try await Self.run("openapi-check")
        print(output)
        #expect(status == 0, "\(output)")
    }

    /// Schemathesis (`--checks all`, bounded examples, SSE/WebSocket excluded) against a real
    /// `kairos serve`: zero failures, so any new one fails the suite (issue 16).
    @Test func schemathesisFindsNothing() async throws {
        let (status, output) = try await Self.run("schemathesis")
        print(output.split(separator: "\n").suffix(40).joined(separator: "\n"))
        #expect(status == 0, "\(output.suffix(20_000))")
    }

    /// The seeds' curl examples, read from the project's copy in `docs/seeds`.
    @Test func seedCurlExamplesSucceed() async throws {
        let (status, output) = try await Self.run("api-smoke")
        print(output)
        #expect(status == 0, "\(output)")
    }
}
