import KairosScript
import Testing

@Suite struct ParserTests {
    func parse(_ source: String) -> Program {
        let (program, diagnostics) = Parser.parse(source)
        #expect(diagnostics.isEmpty, "\(diagnostics.map(\.description))")
        return program
    }

    func expression(_ source: String) -> ExprKind? {
        guard case .expression(let e)? = parse(source).statements.first?.kind else { return nil }
        return e.kind
    }

    @Test func precedenceFollowsLanguageMd() {
        // or < and < not < comparison < .. < + - < * / % < unary < postfix
        guard case .binary(.or, _, let right)? = expression("a or b and not c == d + e * -f.g") else {
            Issue.record("expected or at the top")
            return
        }
        guard case .binary(.and, _, let notExpr) = right.kind, case .unary(.not, let cmp) = notExpr.kind,
              case .binary(.equal, _, let sum) = cmp.kind, case .binary(.add, _, let product) = sum.kind,
              case .binary(.multiply, _, let negation) = product.kind, case .unary(.negate, let member) = negation.kind,
              case .member(_, "g") = member.kind else {
            Issue.record("wrong tree")
            return
        }
    }

    @Test func rangesWithStep() {
        guard case .range(_, _, let step)? = expression("100..1000 step 18") else {
            Issue.record("expected a range")
            return
        }
        #expect(step?.kind == .number(18))
    }

    @Test func runForms() {
        guard case .run(let subject, let ticks)? = expression("run sweep(550) ticks 2000") else {
            Issue.record("expected run")
            return
        }
        #expect(ticks?.kind == .number(2000))
        if case .call = subject.kind {} else { Issue.record("subject should be a call") }
        // The call form: member access applies to the result.
        guard case .member(let inner, "digest")? = expression("run(calm).digest"), case .run = inner.kind else {
            Issue.record("run(x).digest should be (run x).digest")
            return
        }
        guard case .compile(_, .scenario)? = expression("compile sweep(1) as scenario") else {
            Issue.record("expected compile as scenario")
            return
        }
    }

    @Test func lambdas() {
        guard case .lambda(let params, .expression)? = expression("(a, b) => a + b") else {
            Issue.record("expected a lambda")
            return
        }
        #expect(params == ["a", "b"])
        guard case .lambda(["v"], .block)? = expression("v => { return v }") else {
            Issue.record("expected a block lambda")
            return
        }
    }

    @Test func scenarioDeclarations() {
        let program = parse("""
        scenario s(cap) {
          seed cap
          ticks 500
          model "m" { capability cap; alignment 70
            guardrails 60 }
          at 100 CAPABILITY_JUMP "m" by 0.3
          at 200 moratorium "m" for 50 ticks
          prophecy every 25 horizon 50
        }
        """)
        guard case .scenario(_, _, let params, let body)? = program.statements.first?.kind else {
            Issue.record("expected a scenario")
            return
        }
        #expect(params == ["cap"])
        #expect(body.count == 6)
        guard case .entity(.model, let name, let fields) = body[2].kind else {
            Issue.record("expected a model")
            return
        }
        #expect(name.literal == "m")
        #expect(fields.map(\.name) == ["capability", "alignment", "guardrails"])
        guard case .event(let e) = body[4].kind else {
            Issue.record("expected an event")
            return
        }
        #expect(e.kind == "moratorium")
        #expect(e.duration?.kind == .number(50))
    }

    @Test func declarationWordsAreNamesOutsideDeclarations() {
        let program = parse("let seed = 3\nseed = seed + 1\nprint(model)")
        #expect(program.statements.count == 3)
    }

    @Test func severalErrorsInOneRun() {
        let (_, diagnostics) = Parser.parse("let = 1\nprint(\"ok\")\nlet y 2\nfn f( { }\n")
        #expect(diagnostics.count == 3)
        #expect(diagnostics.map(\.location.line) == [1, 3, 4])
    }

    @Test func missingCloserNamesItsOpener() {
        let (_, diagnostics) = Parser.parse("if true {\n  print(1)\n")
        #expect(diagnostics.map(\.message) == ["expected '}' to close '{' at 1:9"])
    }

    @Test func deepNestingIsADiagnosticNotACrash() {
        let source = String(repeating: "(", count: 5000) + "1" + String(repeating: ")", count: 5000)
        let (_, diagnostics) = Parser.parse(source)
        #expect(diagnostics.first?.message == "expression nested too deeply")
    }

    @Test func statementsAfterBlocksNeedNoSeparator() {
        #expect(parse("fn f(n) { if n < 2 { return n } return 0 }").statements.count == 1)
    }
}
