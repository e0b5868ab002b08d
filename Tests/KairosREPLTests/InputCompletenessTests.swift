import KairosREPL
import Testing

@Suite struct InputCompletenessTests {
    @Test(arguments: [
        "let x = 3", "print(\"a {x} b\")", "scenario s { seed 1 }", "x = [1, 2]", "# just a comment (", "print(\"(\")",
        "let s = \"}\"", "t.mean_stability", "let f = (a, b) => a + b", "run s ticks 10", "print(\"{ {1: 2} }\")",
        // A string ends on its line: an unterminated one is an error to report now, not a continuation.
        "let s = \"abc", "print(\"{x\"", "print(\"abc\nprint(1)", "let m = map([1], i => {n: i})",
    ])
    func complete(_ text: String) {
        #expect(!InputCompleteness.needsContinuation(text), "\(text)")
    }

    @Test(arguments: [
        "scenario s {", "scenario s {\n  seed 1", "let x = [1,", "print(", "let x = 3 +", "let y =", "let f = v =>",
        "for c in 1..", "if x > 3 and", "let z = 1 ..",
    ])
    func needsMore(_ text: String) {
        #expect(InputCompleteness.needsContinuation(text), "\(text)")
    }
}

@Suite struct MetaCommandTests {
    @Test func parsesEveryCommand() throws {
        #expect(try MetaCommand.parse(":help") == .help(topic: nil))
        #expect(try MetaCommand.parse(":help run") == .help(topic: "run"))
        #expect(try MetaCommand.parse(":quit") == .quit)
        #expect(try MetaCommand.parse(":load examples/a.krs") == .load(path: "examples/a.krs"))
        #expect(try MetaCommand.parse(":load \"my file.krs\"") == .load(path: "my file.krs"))
        #expect(try MetaCommand.parse(":reset") == .reset)
        #expect(try MetaCommand.parse(":vars") == .vars)
        #expect(try MetaCommand.parse(":target embedded") == .targetEmbedded)
        #expect(try MetaCommand.parse(":target remote http://127.0.0.1:8080") == .targetRemote(url: "http://127.0.0.1:8080"))
        #expect(try MetaCommand.parse(":engine 1.0.0") == .engine(version: "1.0.0"))
        #expect(try MetaCommand.parse(":compile sweep(550)") == .compile(expression: "sweep(550)"))
        #expect(try MetaCommand.parse(":time on") == .time(on: true))
        #expect(try MetaCommand.parse(":time off") == .time(on: false))
        #expect(try MetaCommand.parse(":history") == .history)
        #expect(try MetaCommand.parse(":save session.krs") == .save(path: "session.krs"))
        #expect(try MetaCommand.parse(":save \"my session.krs\"") == .save(path: "my session.krs"))
    }

    @Test func unknownCommandsSuggest() {
        #expect(throws: MetaCommand.ParseError.unknown("hlep", suggestion: "help")) { try MetaCommand.parse(":hlep") }
        #expect(throws: MetaCommand.ParseError.unknown("zzz", suggestion: nil)) { try MetaCommand.parse(":zzz") }
        #expect(MetaCommand.ParseError.unknown("hlep", suggestion: "help").description == "unknown command :hlep (did you mean :help?)")
        #expect(throws: MetaCommand.ParseError.self) { try MetaCommand.parse(":time maybe") }
        #expect(throws: MetaCommand.ParseError.self) { try MetaCommand.parse(":target remote") }
    }
}

@Suite struct WatchCommandTests {
    @Test func watchTakesTheRestOfTheLine() {
        #expect(REPL.watchSubject("watch sim") == "sim")
        #expect(REPL.watchSubject("watch  sims[0]  ") == "sims[0]")
        #expect(REPL.watchSubject("watch") == nil)
        #expect(REPL.watchSubject("watcher = 3") == nil)
        #expect(REPL.watchSubject("watch(sim)") == nil)
    }
}
