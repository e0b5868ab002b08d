import Foundation
import KairosTestSupport
import Testing

/// Drives the real `kairos` binary on a pseudo-terminal (tmux): prompt, a multi-line
/// scenario, a run's summary, tab completion of a trace member, Ctrl-C cancelling a 10^7-tick
/// stream with the session still answering, history after a restart, and `:quit`.
@Suite(.serialized, .enabled(if: TmuxSession.available, "needs tmux"))
struct REPLTerminalTests {
    static var kairos: String { TestPaths.kairos.path }

    static func start(historyFile: String, extra: [String: String] = [:],
                      directory: String = FileManager.default.currentDirectoryPath) throws -> TmuxSession {
        try TmuxSession(command: [kairos], environment: ["KAIROS_HISTORY_FILE": historyFile, "TERM": "xterm"].merging(extra) { $1 },
                        directory: directory)
    }

    static func lastPromptReady(_ screen: String) -> Bool {
        screen.split(separator: "\n", omittingEmptySubsequences: false).reversed()
            .first { !$0.trimmingCharacters(in: .whitespaces).isEmpty }?.hasPrefix("krs>") == true
    }

    @Test func interactiveSession() throws {
        let history = NSTemporaryDirectory() + "kairos-history-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: history) }
        var repl = try Self.start(historyFile: history)

        let banner = try repl.waitFor { $0.contains("krs>") }
        #expect(banner.screen.contains("engine 1.1.0 (default; also 1.0.0)"))
        #expect(banner.screen.contains(":help"))

        // A multi-line scenario definition: continuation prompts while the brace is open.
        try repl.type("scenario sweep(cap) {")
        try repl.press("Enter")
        try repl.waitFor { $0.contains("...>") }
        for line in ["  seed cap", "  ticks 500", "  model \"model\" { capability cap; alignment 70; guardrails 60 }",
                     "  at 100 capability_jump \"model\" by 0.3", "}"] {
            try repl.type(line)
            try repl.press("Enter")
        }
        try repl.type("let t = run sweep(748)")
        try repl.press("Enter")
        try repl.type("t")
        try repl.press("Enter")
        let summary = try repl.waitFor { $0.contains("sha256:") && Self.lastPromptReady($0) }
        #expect(summary.screen.contains("500 ticks") || summary.screen.contains("ticks      500") || summary.screen.contains("500"))
        #expect(summary.screen.contains("strained"))
        #expect(summary.screen.contains("▁") || summary.screen.contains("█") || summary.screen.contains("▄"))

        // Tab completes a trace member.
        try repl.type("t.mean_st")
        try repl.press("Tab")
        try repl.waitFor { $0.contains("t.mean_stability") }
        try repl.press("Enter")
        try repl.waitFor { $0.contains("krs> t.mean_stability\n0.4") && Self.lastPromptReady($0) }

        // The summary says which engine ran; `:engine` pins another and says so.
        #expect(summary.screen.contains("engine 1.1.0"))
        try repl.type(":engine 1.0.0")
        try repl.press("Enter")
        try repl.waitFor { $0.contains("engine: 1.0.0 (pinned)") && Self.lastPromptReady($0) }
        try repl.type("run sweep(748) ticks 7")
        try repl.press("Enter")
        try repl.waitFor { $0.contains("7 ticks · seed 748 · engine 1.0.0") && Self.lastPromptReady($0) }

        // Ctrl-C cancels a 10^7-tick stream within a second; the session keeps its bindings.
        try repl.type("for s in stream sweep(900) ticks 10_000_000 { }")
        try repl.press("Enter")
        try repl.waitFor { $0.contains("ticks 10_000_000 { }") }
        usleep(500_000)
        let before = Date()
        try repl.press("C-c")
        let cancelled = try repl.waitFor(timeout: 5) { $0.contains("interrupted") && Self.lastPromptReady($0) }
        let seconds = Date().timeIntervalSince(before)
        #expect(seconds < 1.0, "cancelled after \(seconds) s")
        #expect(!cancelled.screen.contains("error: interrupted"))
        try repl.type("print(\"still here: {t.ticks}\")")
        try repl.press("Enter")
        try repl.waitFor { $0.contains("still here: 500") }

        try repl.type(":quit")
        try repl.press("Enter")
        let deadline = Date().addingTimeInterval(5)
        while repl.isRunning, Date() < deadline { usleep(20_000) }
        #expect(!repl.isRunning)

        // After a restart, the up arrow recalls the last input (":quit"), then the one before.
        repl = try Self.start(historyFile: history)
        try repl.waitFor { $0.contains("krs>") }
        try repl.press("Up")
        try repl.waitFor { $0.contains("krs> :quit") }
        try repl.press("Up")
        try repl.waitFor { $0.contains("krs> print(\"still here: {t.ticks}\")") }
        try repl.press("C-c")
        try repl.type(":quit")
        try repl.press("Enter")
    }

    @Test func errorsKeepTheSessionAndCtrlDLeaves() throws {
        let history = NSTemporaryDirectory() + "kairos-history-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: history) }
        let repl = try Self.start(historyFile: history, extra: ["NO_COLOR": "1"])
        try repl.waitFor { $0.contains("krs>") }
        try repl.type("let x = 41")
        try repl.press("Enter")
        try repl.type("print(y)")
        try repl.press("Enter")
        let error = try repl.waitFor { $0.contains("error:") }
        #expect(error.screen.contains("<input>:1:7: error:"))
        #expect(error.screen.contains("^"))
        #expect(!error.screen.contains("\u{1B}["))
        try repl.type(":tme on")
        try repl.press("Enter")
        try repl.waitFor { $0.contains("did you mean :time?") }
        try repl.type("x + 1")
        try repl.press("Enter")
        try repl.waitFor { $0.contains("\n42") }
        try repl.press("C-d")
        let deadline = Date().addingTimeInterval(5)
        while repl.isRunning, Date() < deadline { usleep(20_000) }
        #expect(!repl.isRunning)
    }

    /// Runs a command to completion; its standard output.
    static func output(_ command: [String]) throws -> String {
        try ChildProcess.run(URL(fileURLWithPath: command[0]), Array(command.dropFirst()), standardError: .discarded).stdout
    }

    /// `:target remote`, a simulation started on a real `kairos serve`, and `watch sim`
    /// printing its live events while the server plays it, until Ctrl-C.
    @Test func watchFollowsARemoteSimulationUntilCtrlC() throws {
        let history = NSTemporaryDirectory() + "kairos-history-\(UUID().uuidString)"
        let database = NSTemporaryDirectory() + "kairos-watch-\(UUID().uuidString).db"
        defer {
            try? FileManager.default.removeItem(atPath: history)
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: database + suffix) }
        }
        let key = try Self.output([Self.kairos, "keys", "create", "--db", database, "--org", "acme", "--tier", "enterprise"])
            .split(separator: "\n").last.map(String.init) ?? ""
        #expect(key.hasPrefix("krs_"))
        let server = try TmuxSession(command: [Self.kairos, "serve", "--db", database, "--port", "0", "--log-level", "warning"],
                                     environment: [:], directory: FileManager.default.currentDirectoryPath)
        let listening = try server.waitFor { $0.contains("listening on http://127.0.0.1:") }.screen
        let port = listening.components(separatedBy: "listening on http://127.0.0.1:")[1].prefix { $0.isNumber }
        let url = "http://127.0.0.1:\(port)"

        let repl = try Self.start(historyFile: history, extra: ["NO_COLOR": "1", "KAIROS_API_KEY": key])
        try repl.waitFor { $0.contains("krs>") }
        try repl.type(":target remote \(url)")
        try repl.press("Enter")
        try repl.waitFor { $0.contains("target: remote \(url)") }
        try repl.type("let sim = start catalog(\"capability-divergence\")")
        try repl.press("Enter")
        try repl.type("sim.step(5).tick")
        try repl.press("Enter")
        try repl.waitFor { $0.contains("\n4\n") }
        try repl.type("watch sim")
        try repl.press("Enter")
        try repl.waitFor { $0.contains("watching sim") }
        let id = try Self.output(["/usr/bin/curl", "-s", "-H", "X-Api-Key: \(key)", "\(url)/v1/simulations?limit=1"])
            .components(separatedBy: "\"id\":\"").dropFirst().first?.prefix { $0 != "\"" } ?? ""
        _ = try Self.output(["/usr/bin/curl", "-s", "-X", "PUT", "-H", "X-Api-Key: \(key)", "-H", "Content-Type: application/json",
                             "-d", #"{"action": "play", "speed": 10}"#, "\(url)/v1/simulations/\(id)/time-control"])
        // Live ticks after the five already computed, as the server plays them.
        let live = try repl.waitFor(timeout: 20) { $0.contains("tick 30  stability") }
        #expect(!live.screen.contains("tick 3  stability"))
        try repl.press("C-c")
        try repl.waitFor { $0.contains("stopped watching") && Self.lastPromptReady($0) }
        try repl.type(":quit")
        try repl.press("Enter")
    }
}
