import KairosScript
import Testing

@Suite struct LexerTests {
    func kinds(_ source: String) -> [TokenKind] { Lexer.tokenize(source).tokens.map(\.kind) }

    @Test func keywordsAndNames() {
        #expect(kinds("let x = run sweep") == [.kwLet, .identifier, .equal, .kwRun, .identifier, .eof])
        #expect(TokenKind.keywords.count == 27)
        #expect(TokenKind.keywords["model"] == nil)
    }

    @Test func numbers() {
        let tokens = Lexer.tokenize("42 3.5 1e-3 1_000_000 2E+2").tokens
        #expect(tokens.filter { $0.kind == .number }.map(\.number) == [42, 3.5, 0.001, 1_000_000, 200])
    }

    @Test func rangeIsNotAFraction() {
        #expect(kinds("1..5") == [.number, .dotDot, .number, .eof])
    }

    @Test func operators() {
        #expect(kinds("== != <= >= < > => .. . + - * / %") == [
            .equalEqual, .bangEqual, .lessEqual, .greaterEqual, .less, .greater, .arrow, .dotDot, .dot, .plus, .minus,
            .star, .slash, .percent, .eof,
        ])
    }

    @Test func newlinesAreStatementEndsOutsideBrackets() {
        #expect(kinds("a\nb") == [.identifier, .newline, .identifier, .eof])
        #expect(kinds("(a\nb)") == [.leftParen, .identifier, .identifier, .rightParen, .eof])
        #expect(kinds("[a,\nb]") == [.leftBracket, .identifier, .comma, .identifier, .rightBracket, .eof])
        #expect(kinds("{a\nb}") == [.leftBrace, .identifier, .newline, .identifier, .rightBrace, .eof])
    }

    @Test func continuationAfterOperators() {
        #expect(kinds("a +\nb") == [.identifier, .plus, .identifier, .eof])
        #expect(kinds("a =\nb") == [.identifier, .equal, .identifier, .eof])
        #expect(kinds("a or\n\n\nb") == [.identifier, .kwOr, .identifier, .eof])
        #expect(kinds("a\n\n\nb") == [.identifier, .newline, .identifier, .eof])
    }

    @Test func commentsAndShebang() {
        #expect(kinds("#!/usr/bin/env kairos\nx # note\n# whole line\ny") == [.identifier, .newline, .identifier, .eof])
    }

    @Test func stringInterpolationPieces() {
        let t = Lexer.tokenize("\"a{x + 1}b\\{c\"").tokens[0]
        #expect(t.kind == .string)
        #expect(t.pieces.count == 3)
        #expect(t.pieces[0] == .text("a"))
        if case .code(let code, let location) = t.pieces[1] {
            #expect(code == "x + 1")
            #expect(location.column == 4)
        } else {
            Issue.record("expected an interpolation")
        }
        #expect(t.pieces[2] == .text("b{c"))
    }

    @Test func locationsCountScalarsNotBytes() {
        let tokens = Lexer.tokenize("\"é✓\" x").tokens
        #expect(tokens[1].range.start.column == 6)
        #expect(tokens[1].range.start.offset == 8)
    }

    @Test func errorsAreDiagnosticsNotCrashes() {
        let (tokens, diagnostics) = Lexer.tokenize("\"open\n@ 1__2 12ab \"\\q\"")
        #expect(diagnostics.map(\.message) == [
            "unterminated string", "unexpected character '@'", "malformed number '1__2': '_' goes between digits",
            "malformed number '12ab'", "unknown escape '\\q'",
        ])
        #expect(tokens.last?.kind == .eof)
        #expect(diagnostics.allSatisfy { $0.phase == .lexical })
    }
}
