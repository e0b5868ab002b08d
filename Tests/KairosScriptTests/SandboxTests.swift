import KairosScript
import Testing

/// `Interpreter.Limits.sandbox`, what the fuzzer runs programs under: every program ends,
/// small, and touches no file.
@Suite struct SandboxTests {
    static func run(_ source: String) -> Evaluation {
        let interpreter = Interpreter(output: CollectedOutput())
        interpreter.limits = .sandbox
        return interpreter.evaluate(source: source, fileName: "s.krs")
    }

    @Test func loopsEndOnTheBudget() {
        #expect(Self.run("while true { }").diagnostics.first?.id == "budget")
        #expect(Self.run("fn f(n) { return map(1..100, x => x) }\nfor i in 1..1000 { f(i) }").diagnostics.first?.id == "budget")
        #expect(Self.run("let n = 0\nfor i in 1..100 { n = n + i }\nprint(n)").succeeded)
        // Calls are steps: exponential recursion without a loop ends on the budget too.
        #expect(Self.run("fn fib(n) {\n  if n < 2 { return n }\n  return fib(n - 1) + fib(n - 1)\n}\nprint(fib(40))")
            .diagnostics.first?.id == "budget")
        #expect(Self.run("fn fib(n) { if n < 2 { return n }\n return fib(n - 1) + fib(n - 2) }\nprint(fib(10))").succeeded)
    }

    @Test func stringsAndListsStaySmall() {
        let doubling = Self.run("let s = \"x\"\nfor i in 1..40 { s = s + s }")
        #expect(doubling.diagnostics.first?.id == "too-long")
        #expect(Self.run("let l = [0]\nfor i in 1..40 { l = l + l }").diagnostics.first?.id == "too-long")
        #expect(Self.run("let l = map(1..2000000, x => x)").diagnostics.first?.id == "too-long")
    }

    @Test func runsAreShortAndFilesUntouched() {
        let scenario = "scenario s { model \"m\" { capability 100; alignment 70; guardrails 60 } }\n"
        #expect(Self.run(scenario + "let t = run s ticks 5000").diagnostics.first?.message == "runs are limited to 2000 ticks here, not 5000")
        #expect(Self.run(scenario + "let sim = start s\nsim.step(3000)").diagnostics.first?.id == "out-of-range")
        #expect(Self.run(scenario + "save(run s ticks 10, \"/tmp/sandbox.ndjson\")").diagnostics.first?.id == "file-access")
        #expect(Self.run("load(\"/etc/hostname\")").diagnostics.first?.id == "file-access")
        #expect(Self.run(scenario + "print((run s ticks 10).ticks)").succeeded)
    }

    /// Ordinary sessions have no budget.
    @Test func defaultsAreUnlimited() {
        let interpreter = Interpreter(output: CollectedOutput())
        #expect(interpreter.limits.maxSteps == nil)
        #expect(interpreter.limits.fileAccess)
        #expect(interpreter.evaluate(source: "let n = 0\nfor i in 1..50000 { n = n + 1 }\nprint(n)", fileName: "x").succeeded)
    }
}

/// Functions and the scopes holding them form reference cycles; a session that ends frees
/// them (the fuzzer's leak checker found these cycles).
@Suite struct SessionTeardownTests {
    @Test func endedSessionsFreeTheirFunctions() {
        weak var global: FunctionValue?
        weak var inner: FunctionValue?
        do {
            let interpreter = Interpreter(output: CollectedOutput())
            let result = interpreter.evaluate(source: """
            fn f(n) { return n + 1 }
            fn outer() {
              fn helper(x) { return x * 2 }
              return helper
            }
            let h = outer()
            let g = x => f(x)
            """, fileName: "t.krs")
            #expect(result.succeeded)
            if case .function(let f)? = interpreter.value(named: "f") { global = f }
            if case .function(let h)? = interpreter.value(named: "h") { inner = h }
            #expect(global != nil && inner != nil)
        }
        #expect(global == nil, "the global function outlived its session")
        #expect(inner == nil, "a function defined in a function outlived its session")
    }
}
