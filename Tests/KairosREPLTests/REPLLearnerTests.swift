import Foundation
import KairosTestSupport
import Testing

/// The REPL as a learner meets it (issue: Kairos Script for learners): `:compile` shows the
/// typed line, `:load "` completion closes the quote, an unterminated string is reported at
/// once, members after a dot only, `help` and `:help NAME`, Tab after `help(`, `_` and `:save`.
@Suite(.serialized, .enabled(if: TmuxSession.available, "needs tmux"))
struct REPLLearnerTests {
    static func start(directory: String = FileManager.default.currentDirectoryPath) throws -> TmuxSession {
        try REPLTerminalTests.start(historyFile: NSTemporaryDirectory() + "kairos-history-\(UUID().uuidString)", directory: directory)
    }

    static func ready(_ screen: String) -> Bool { REPLTerminalTests.lastPromptReady(screen) }

    static func enter(_ repl: TmuxSession, _ line: String) throws {
        try repl.type(line)
        try repl.press("Enter")
    }

    @Test func compileShowsTheTypedLineAndJSON() throws {
        let repl = try Self.start()
        try repl.waitFor(timeout: 30) { $0.contains("krs>") }
        try Self.enter(repl, "scenario s { model \"m\" { capability 1; alignment 70; guardrails 60 } }")
        try Self.enter(repl, ":compile s")
        let shown = try repl.waitFor { $0.contains("\"domain\": \"ai-safety\"") && Self.ready($0) }.screen
        #expect(!shown.contains("json("))
        try Self.enter(repl, ":compile nope")
        let error = try repl.waitFor { $0.contains("unknown name 'nope'") && Self.ready($0) }.screen
        // The caret sits under `nope` in the line as typed (column 10), not in an internal rewrite.
        #expect(error.contains("<input>:1:10: error: unknown name 'nope'"))
        #expect(error.contains("  :compile nope\n           ^~~~"))
        #expect(!error.contains("json(compile"))
    }

    @Test func unterminatedStringIsReportedNotContinued() throws {
        let repl = try Self.start()
        try repl.waitFor(timeout: 30) { $0.contains("krs>") }
        try Self.enter(repl, "print(\"abc")
        let screen = try repl.waitFor { $0.contains("unterminated string") && Self.ready($0) }.screen
        #expect(!screen.contains("...>"))
        #expect(screen.components(separatedBy: "error:").count == 2, "one mistake, one error")
    }

    @Test func loadCompletionClosesTheQuote() throws {
        let dir = NSTemporaryDirectory() + "kairos-load-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "print(\"loaded ok\")\n".write(toFile: dir + "/lesson_one.krs", atomically: true, encoding: .utf8)
        let repl = try Self.start(directory: dir)
        try repl.waitFor(timeout: 30) { $0.contains("krs>") }
        try repl.type(":load \"less")
        try repl.press("Tab")
        try repl.waitFor { $0.contains(":load \"lesson_one.krs\"") }
        try repl.press("Enter")
        try repl.waitFor { $0.contains("loaded ok") && Self.ready($0) }
    }

    @Test func membersOnlyAfterADotAndHelpCompletion() throws {
        let repl = try Self.start()
        try repl.waitFor(timeout: 30) { $0.contains("krs>") }
        try Self.enter(repl, "let r = {alpha: 1, also: 2}")
        try repl.type("r.al")
        try repl.press("Tab")
        // Two members start with "al"; nothing else (no event kinds such as alignment_breakthrough).
        let listed = try repl.waitFor { $0.contains("alpha") && $0.contains("also") }.screen
        #expect(!listed.contains("alignment_breakthrough"))
        try repl.press("C-u")
        try repl.type("help(sqr")
        try repl.press("Tab")
        try repl.waitFor { $0.contains("help(sqrt") }
        try repl.press("C-u")
        try repl.type("help(\"final_ph")
        try repl.press("Tab")
        try repl.waitFor { $0.contains("help(\"final_phase") }
        try repl.press("C-u")
        try repl.type(":help final_ph")
        try repl.press("Tab")
        try repl.waitFor { $0.contains(":help final_phase") }
        try repl.press("Enter")
        let help = try repl.waitFor { $0.contains("t.final_phase") && $0.contains("example:") && Self.ready($0) }.screen
        #expect(help.contains("the phase at the last tick"))
        try Self.enter(repl, ":help builtins")
        try repl.waitFor { $0.contains("mean(xs)") && $0.contains("sqrt(x)") && Self.ready($0) }
    }

    /// Issue 20: `sim.fo<Tab>` completes `fork`, `:help fork` shows both forms, and a fork prints.
    @Test func forkCompletesAndHasHelp() throws {
        let repl = try Self.start()
        try repl.waitFor(timeout: 30) { $0.contains("krs>") }
        try Self.enter(repl, "scenario s { ticks 50; model \"m\" { capability 800; alignment 60; guardrails 50 } }")
        try Self.enter(repl, "let sim = start s")
        try Self.enter(repl, "sim.step(20)")
        try repl.type("let f = sim.fo")
        try repl.press("Tab")
        try repl.waitFor { $0.contains("let f = sim.fork") }
        try repl.type("(12)")
        try repl.press("Enter")
        try Self.enter(repl, "f")
        try repl.waitFor { $0.contains("<simulation s at tick 12") && Self.ready($0) }
        try Self.enter(repl, ":help fork")
        let help = try repl.waitFor { $0.contains("sim.fork(t)") && $0.contains("fork(trace, t)") && Self.ready($0) }.screen
        #expect(help.contains("example:"))
    }

    @Test func underscoreAndSaveReplayTheSession() throws {
        let file = NSTemporaryDirectory() + "kairos-session-\(UUID().uuidString).krs"
        defer { try? FileManager.default.removeItem(atPath: file) }
        let repl = try Self.start()
        try repl.waitFor(timeout: 30) { $0.contains("krs>") }
        try Self.enter(repl, "let x = 20")
        try Self.enter(repl, "x + 1")
        try repl.waitFor { $0.contains("\n21\n") }
        try Self.enter(repl, "_ * 2")
        try repl.waitFor { $0.contains("\n42\n") }
        try Self.enter(repl, "nope + 1")
        try repl.waitFor { $0.contains("unknown name 'nope'") && Self.ready($0) }
        try Self.enter(repl, "print(\"done {_}\")")
        try repl.waitFor { $0.contains("done 42") }
        try Self.enter(repl, ":save \(file)")
        try repl.waitFor { $0.contains("saved 4 inputs to") }
        let saved = try String(contentsOfFile: file, encoding: .utf8)
        #expect(!saved.contains("nope"))
        // The saved session runs on its own and prints what the session printed.
        let run = try ChildProcess.run(TestPaths.kairos, [file], stdin: Data())
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout == "21\n42\ndone 42\n")
    }
}
