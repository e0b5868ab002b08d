import Dispatch
import KairosEngine
import KairosScript
import Testing

@Suite struct InterpreterTests {
    static let sweep = """
    scenario sweep(cap) {
      seed cap
      ticks 500
      model "model" { capability cap; alignment 70; guardrails 60 }
      at 100 capability_jump "model" by 0.3
    }
    """

    @Test func sessionKeepsBindingsAcrossInputs() {
        let out = CollectedOutput()
        let session = Interpreter(output: out)
        #expect(session.evaluate(source: "let x = 40", fileName: "<repl>").succeeded)
        #expect(session.evaluate(source: "fn add(a, b) { return a + b }", fileName: "<repl>").succeeded)
        let r = session.evaluate(source: "add(x, 2)", fileName: "<repl>")
        #expect(r.value?.repr == "42")
        #expect(session.evaluate(source: "print(x)", fileName: "<repl>").value?.repr == "null")
        #expect(out.text == "40\n")
    }

    @Test func trailingExpressionValueOnlyForExpressionStatements() {
        let session = Interpreter(output: CollectedOutput())
        #expect(session.evaluate(source: "let y = 1", fileName: "").value == nil)
        #expect(session.evaluate(source: "y + 1", fileName: "").value?.repr == "2")
        #expect(session.evaluate(source: "\"s\"", fileName: "").value?.repr == "\"s\"")
    }

    @Test func errorsDoNotEndTheSession() {
        let session = Interpreter(output: CollectedOutput())
        let bad = session.evaluate(source: "let a = 1\nlet b = a / 0\nlet c = 3", fileName: "<repl>")
        #expect(bad.exitStatus == 1)
        #expect(bad.diagnostics.first?.description == "<repl>:2:9: error: division by zero")
        #expect(session.evaluate(source: "a", fileName: "").value?.repr == "1")
        let syntax = session.evaluate(source: "let = ", fileName: "<repl>")
        #expect(syntax.exitStatus == 2)
        #expect(session.evaluate(source: "c", fileName: "").exitStatus == 2)
    }

    @Test func namesAndCompletions() {
        let session = Interpreter(output: CollectedOutput())
        _ = session.evaluate(source: Self.sweep + "\nlet trace = run sweep(550) ticks 5\nlet sim = start sweep(500)", fileName: "")
        #expect(session.namesInScope.contains("sweep"))
        #expect(session.namesInScope.contains("print"))
        #expect(session.completions(for: "let x = trace.fin") == ["final_phase", "final_stability"])
        #expect(session.completions(for: "sim.st") == ["step", "state"])
        #expect(session.completions(for: "swe") == ["sweep"])
        #expect(session.completions(for: "scen") == ["scenario"])
        if let t = session.value(named: "trace") {
            #expect(Interpreter.members(of: t).contains("mean_stability"))
        }
    }

    @Test func outputGoesOnlyToTheSink() {
        let out = CollectedOutput()
        _ = Interpreter(output: out).evaluate(source: "print(1, \"two\", [3])\ntable([{a: 1}])", fileName: "")
        #expect(out.text == "1 two [3]\na\n-\n1\n")
    }

    @Test func cancellationStopsALongStream() {
        let session = Interpreter(output: CollectedOutput())
        let flag = session.cancellation
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(200)) { flag.cancel() }
        let start = DispatchTime.now()
        let r = session.evaluate(source: Self.sweep + "\nfor s in stream sweep(300) ticks 10_000_000 { }", fileName: "x.krs")
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        #expect(r.diagnostics.first?.message == "interrupted")
        #expect(seconds < 5)
    }

    @Test func cancellationStopsAnEndlessLoop() {
        let session = Interpreter(output: CollectedOutput())
        let flag = session.cancellation
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(100)) { flag.cancel() }
        let r = session.evaluate(source: "while true { }", fileName: "x.krs")
        #expect(r.diagnostics.first?.id == "interrupted")
    }

    struct CountingBackend: SimulationBackend {
        let inner = EmbeddedBackend()
        func run(_ requests: [RunRequest], cancellation: CancellationFlag) -> [Result<TraceValue, BackendError>] {
            requests.map { _ in .failure(BackendError("counted \(requests.count)")) }
        }
        func stream(_ request: RunRequest) throws(BackendError) -> any StepStream { try inner.stream(request) }
        func start(_ request: RunRequest) throws(BackendError) -> any LiveSimulation { try inner.start(request) }
    }

    @Test func remoteTargetsUseTheInjectedBackend() {
        let session = Interpreter(output: CollectedOutput())
        let unavailable = session.evaluate(source: Self.sweep + "\nuse remote \"http://x\"\nrun sweep(1)", fileName: "r.krs")
        #expect(unavailable.diagnostics.first?.message == "remote target not available yet")
        #expect(session.target == .remote("http://x"))
        session.remoteBackend = { url in url == "http://x" ? CountingBackend() : nil }
        let counted = session.evaluate(source: "run [sweep(1), sweep(2)]", fileName: "r.krs")
        #expect(counted.diagnostics.first?.message == "counted 2")
    }

    @Test func runOfAListMatchesSingleRunsInOrder() {
        let session = Interpreter(output: CollectedOutput())
        let r = session.evaluate(source: Self.sweep + """

        let many = run map([900, 100, 550], c => sweep(c))
        let one = [run sweep(900), run sweep(100), run sweep(550)]
        map(many, t => t.digest) == map(one, t => t.digest)
        """, fileName: "")
        #expect(r.value?.repr == "true")
    }

    @Test func incompleteInputIsRecognised() {
        #expect(Interpreter.needsMoreInput("scenario s {\n  seed 1"))
        #expect(Interpreter.needsMoreInput("let x = 1 +"))
        #expect(Interpreter.needsMoreInput("print(1,"))
        #expect(Interpreter.needsMoreInput("if x > 1 {"))
        #expect(!Interpreter.needsMoreInput("let x = 1"))
        #expect(!Interpreter.needsMoreInput("let = 1"))
        #expect(!Interpreter.needsMoreInput("print(\"open"))
    }

    @Test func replTextShowsTracesAsSummaries() {
        let session = Interpreter(output: CollectedOutput())
        let r = session.evaluate(source: Self.sweep + "\nrun sweep(550) ticks 10", fileName: "")
        #expect(r.value?.replText.hasPrefix("trace sweep · 10 ticks · seed 550 · engine 1.1.0") == true)
        _ = session.evaluate(source: "use engine \"1.0.0\"", fileName: "")
        let pinned = session.evaluate(source: "run sweep(550) ticks 10", fileName: "")
        #expect(pinned.value?.replText.hasPrefix("trace sweep · 10 ticks · seed 550 · engine 1.0.0") == true)
        #expect(session.evaluate(source: "sweep", fileName: "").value?.replText == "<scenario sweep(cap)>")
        #expect(session.evaluate(source: "\"a\"", fileName: "").value?.replText == "\"a\"")
    }

    @Test func numbersPrintWithoutNeedlessFractions() {
        #expect(formatNumber(3) == "3")
        #expect(formatNumber(-0.0) == "0")
        #expect(formatNumber(0.5) == "0.5")
        #expect(formatNumber(1e21) == "1e+21")
        #expect(formatNumber(.infinity) == "inf")
    }

    @Test func checkReportsWithoutRunning() {
        let out = CollectedOutput()
        let session = Interpreter(output: out)
        let diagnostics = session.check(source: "print(1)\nprint(undefined_thing)", fileName: "c.krs")
        #expect(diagnostics.map(\.description) == ["c.krs:2:7: error: unknown name 'undefined_thing'"])
        #expect(out.text.isEmpty)
    }

    @Test func excerptsOfCRLFSources() {
        let source = "let a = 1\r\nprint(b)\r\n"
        let d = Interpreter(output: CollectedOutput()).check(source: source, fileName: "w.krs")
        #expect(DiagnosticRenderer.render(d, source: SourceText(source, fileName: "w.krs")) == """
        w.krs:2:7: error: unknown name 'b'
          print(b)
                ^
        """)
    }

    @Test func renderedDiagnosticHasLineCaretAndHint() {
        let source = "scenario s {\n  model \"model\" { capability 1; alignment 2; guardrails 3 }\n  at 10 capability_jump \"modle\" by 0.3\n}"
        let d = Interpreter(output: CollectedOutput()).check(source: source, fileName: "s.krs")
        let text = DiagnosticRenderer.render(d, source: SourceText(source, fileName: "s.krs"))
        #expect(text == """
        s.krs:3:25: error: unknown target "modle"
            at 10 capability_jump "modle" by 0.3
                                  ^~~~~~~
        hint: did you mean "model"?
        """)
    }
}
