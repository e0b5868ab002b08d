import Foundation
import Hummingbird
import KairosAPI
import KairosEngine
import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import KairosServer
import KairosTestSupport

/// Issue 6's proofs against a real `kairos serve` (KAIROS_HEAVY_TESTS=1): seed 003's httpx
/// example as written, WebSocket streaming in flat memory, many SSE clients on one playing
/// simulation. They run the scripts in `scripts/dev`.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["KAIROS_HEAVY_TESTS"] == "1"))
struct LiveStreamingHeavyTests {
    static var root: URL { TestPaths.root }

    /// Runs a program to completion; its exit status and standard output.
    static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) async throws -> (Int32, String) {
        let result = try await ChildProcess.runOffPool(URL(fileURLWithPath: executable), arguments, environment: environment,
                                                       standardError: .discarded)
        return (result.status, result.stdout)
    }

    static var python: String? {
        for path in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map({ "\($0)/python3" })
            + ["/usr/bin/python3", "/usr/local/bin/python3"] where FileManager.default.isExecutableFile(atPath: path) {
            return path
        }
        return nil
    }

    static var hasHttpx: Bool {
        guard let python else { return false }
        return (try? ChildProcess.run(URL(fileURLWithPath: python), ["-c", "import httpx"], standardError: .discarded))?.status == 0
    }

    /// Seed 003's Python example (httpx), URL and key swapped, prints tick events of a playing
    /// simulation. Runs only where python3 has httpx (`pip install httpx`).
    @Test(.enabled(if: LiveStreamingHeavyTests.hasHttpx)) func seedHttpxExamplePrintsTicks() async throws {
        let python = try #require(Self.python)
        let db = LiveServerTests.temporaryDatabase()
        defer { LiveServerTests.removeDatabase(db) }
        let key = try LiveServerTests.createKey(database: db)
        let server = try await LiveServerTests.ServerProcess.start(database: db)
        defer { server.stop() }
        let auth = LiveServerTests.keyed(key)
        let created = try await LiveServerTests.request(server.port, .post, "/v1/simulations", headers: auth,
                                                        body: #"{"scenarioId": "capability-divergence"}"#)
        let sim = "/v1/simulations/" + (try #require(try created.json["id"]?.stringValue))
        _ = try await LiveServerTests.request(server.port, .put, "\(sim)/time-control", headers: auth, body: #"{"action": "play", "speed": 10}"#)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-u", Self.root.appendingPathComponent("scripts/dev/sse-httpx-example.py").path]
        process.environment = ProcessInfo.processInfo.environment.merging(
            ["KAIROS_EVENTS_URL": "http://127.0.0.1:\(server.port)\(sim)/events", "KAIROS_API_KEY": key]) { _, new in new }
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let received = NSLockedText()
        out.fileHandleForReading.readabilityHandler = { handle in received.append(handle.availableData) }
        let deadline = ContinuousClock.now + .seconds(120)  // generous: the loop ends at the 21st tick
        while received.text.components(separatedBy: "'lastMove'").count <= 20, ContinuousClock.now < deadline, process.isRunning {
            try await Task.sleep(for: .milliseconds(100))
        }
        out.fileHandleForReading.readabilityHandler = nil
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        ChildProcess.waitForExit(process)
        let text = received.text
        let ticks = text.split(separator: "\n").filter { $0.hasPrefix("{'t': ") && $0.contains("'lastMove'") }
        #expect(ticks.count >= 20, "the example printed tick events: \(text.prefix(300))")
        #expect(ticks.first.map { $0.contains("'state': {") && $0.contains("'agents': [") } == true)
    }

    /// The WebSocket run stream at 10^4 and 10^5 ticks (debug build): one frame per step, the
    /// digest of `kairos simulate`, and the server's peak RSS no more than a few MiB apart. The
    /// pure-Python reader is slower than the server here; without `FrameWindow` the server
    /// queued ~0.9 KB a tick on its event loop (+26 to +76 MiB at 10^5).
    /// `scripts/dev/ws-stream-memory` with a release build does 10^5 vs 10^6.
    @Test func webSocketStreamingKeepsMemoryFlat() async throws {
        let python = try #require(Self.python)
        let (status, output) = try await Self.run(python, [Self.root.appendingPathComponent("scripts/dev/ws-stream-memory").path,
                                                     "--binary", LiveServerTests.binary, "--ticks", "10000,100000",
                                                     "--max-growth-mib", "16"])
        #expect(status == 0, "\(output)")
        #expect(output.contains("ticks 100000: steps 100000, digest = kairos simulate"), "\(output)")
    }

    /// The same with binary frames of 256 steps and a reader capped at 8 MiB/s, slower than a
    /// debug server (~20 MiB/s): the server's frames wait on the reader, and its memory stays flat.
    @Test func webSocketStreamingOfManyStepsAFrameKeepsMemoryFlatWithASlowReader() async throws {
        let python = try #require(Self.python)
        let (status, output) = try await Self.run(python, [Self.root.appendingPathComponent("scripts/dev/ws-stream-memory").path,
                                                     "--binary", LiveServerTests.binary, "--ticks", "10000,100000",
                                                     "--steps-per-frame", "256", "--read-rate", "8", "--max-growth-mib", "16"])
        #expect(status == 0, "\(output)")
        #expect(output.contains("ticks 100000: steps 100000, digest = kairos simulate"), "\(output)")
    }

    /// 300 SSE clients on one playing simulation all receive every tick exactly once
    /// (`scripts/dev/sse-load.py`; 1 000 clients with a release build in the report).
    @Test func manySSEClientsReceiveEveryTick() async throws {
        let python = try #require(Self.python)
        let (status, output) = try await Self.run(python, [Self.root.appendingPathComponent("scripts/dev/sse-load.py").path,
                                                     "--binary", LiveServerTests.binary, "--clients", "300", "--seconds", "3"])
        #expect(status == 0, "\(output)")
        #expect(output.contains("missing 0, duplicated 0"), "\(output)")
    }
}

final class NSLockedText: @unchecked Sendable {
    private let lock = NSLock()
    private var bytes = Data()
    func append(_ data: Data) { lock.withLock { bytes.append(data) } }
    var text: String { lock.withLock { String(decoding: bytes, as: UTF8.self) } }
}
