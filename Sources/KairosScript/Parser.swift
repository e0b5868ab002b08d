/// The recursive-descent parser. Each parse function carries its grammar rule (the same rule
/// as in `grammar/kairos.ebnf`) in its doc comment. Errors are recorded, never thrown: a
/// failed statement recovers at the next statement so one run reports several problems.
public struct Parser {
    var tokens: [Token]
    var index = 0
    public internal(set) var diagnostics: [Diagnostic] = []
    /// Set after an error until the parser resynchronises, so one mistake is reported once.
    var panicking = false
    /// Scenario declarations are allowed only directly in a scenario body (not in a nested fn).
    var inScenario = false
    var loopDepth = 0
    var functionDepth = 0
    var nestingDepth = 0
    /// Parsing the code of a string interpolation, whose end is the closing `}`.
    var inInterpolation = false

    /// How deep expressions and blocks may nest before the parser gives up (protects the stack).
    static let maxNesting = 160
    /// How tall an expression tree may grow (operators in a row, postfix chains).
    static let maxHeight = 1000

    /// Words with a meaning only in one place (scenario declarations, `use`, `compile … as`,
    /// `prophecy …`). They are ordinary names everywhere else.
    public static let contextualWords: Set<String> = [
        "seed", "stability", "basin", "model", "agent", "prophecy", "every", "horizon", "depth",
        "embedded", "remote", "engine", "domain",
    ]

    public init(_ source: String, start: SourceLocation = .start) {
        let (tokens, lexical) = Lexer.tokenize(source, start: start)
        self.tokens = tokens
        diagnostics = lexical
    }

    /// Parses a whole file or REPL input.
    public static func parse(_ source: String) -> (program: Program, diagnostics: [Diagnostic]) {
        var parser = Parser(source)
        let program = parser.parseProgram()
        return (program, parser.diagnostics)
    }

    /// program → separator* (statement (separator+ statement)*)? separator* EOF
    public mutating func parseProgram() -> Program {
        var statements: [Stmt] = []
        skipSeparators()
        while !check(.eof) {
            let before = index
            if check(.rightBrace) {
                error("unexpected '}' with no '{' open", at: advance().range)
                panicking = false
                skipSeparators()
                continue
            }
            let s = statement()
            if let s { statements.append(s) }
            endStatement(s, startedAt: before)
            guard madeProgress(since: before) else { break }
        }
        return Program(statements: statements)
    }

    // MARK: Cursor

    func peek(_ ahead: Int = 0) -> Token {
        let i = min(index + ahead, tokens.count - 1)
        return tokens[i]
    }

    var previous: Token { tokens[max(0, index - 1)] }

    func check(_ kind: TokenKind) -> Bool { peek().kind == kind }

    @discardableResult
    mutating func advance() -> Token {
        let t = peek()
        if index < tokens.count - 1 { index += 1 }
        return t
    }

    mutating func match(_ kinds: TokenKind...) -> Bool {
        guard kinds.contains(peek().kind) else { return false }
        advance()
        return true
    }

    /// Consumes a token of `kind`, or reports `expected <what>` and returns nil.
    mutating func expect(_ kind: TokenKind, _ what: String) -> Token? {
        if check(kind) { return advance() }
        error("expected \(what), got \(describe(peek()))", at: peek().range)
        return nil
    }

    /// Consumes the closer of `opener`, or reports which opener is left open.
    mutating func expectCloser(_ kind: TokenKind, opener: Token) -> Token? {
        if check(kind) { return advance() }
        error("expected '\(kind.rawValue)' to close '\(opener.kind.rawValue)' at \(opener.range.start)", at: peek().range,
              id: "unclosed")
        return nil
    }

    func describe(_ t: Token) -> String {
        if t.kind == .eof, inInterpolation { return "'}'" }
        return switch t.kind {
        case .identifier: "'\(t.text)'"
        case .number: "number \(t.text)"
        default: t.kind.displayName
        }
    }

    /// Every parser loop calls this: it asserts progress in debug builds and stops the loop
    /// (instead of spinning) if a bug ever breaks that promise in release builds.
    func madeProgress(since before: Int) -> Bool {
        assert(index > before || check(.eof), "parser made no progress at \(peek().range.start)")
        return index > before
    }

    mutating func error(_ message: String, at range: SourceRange, id: String = "syntax-error", hint: String? = nil) {
        defer { panicking = true }
        guard !panicking else { return }
        // The lexer already reported the bad token itself.
        if peek().kind == .error, range == peek().range { return }
        diagnostics.append(Diagnostic(id, message, at: range, phase: .syntax, hint: hint))
    }

    /// Records an error that leaves the parse on track (no resynchronising needed).
    mutating func report(_ message: String, at range: SourceRange, id: String = "syntax-error") {
        guard !panicking else { return }
        diagnostics.append(Diagnostic(id, message, at: range, phase: .syntax))
    }

    // MARK: Statement boundaries

    mutating func skipSeparators() {
        while match(.newline, .semicolon) {}
    }

    /// After a statement: a newline or `;`, or the `}`/end that closes the enclosing block.
    /// A statement that ends in a block (`if … { … }`) may be followed directly by another.
    mutating func endStatement(_ statement: Stmt?, startedAt start: Int) {
        if panicking {
            synchronize(from: start)
        } else if check(.newline) || check(.semicolon) {
            skipSeparators()
        } else if !check(.rightBrace), !check(.eof), !(statement?.kind.endsInBlock ?? false) {
            error("expected a newline or ';' after the statement, got \(describe(peek()))", at: peek().range)
            synchronize(from: start)
        }
    }

    /// Skips to the start of the next statement: past a newline or `;` at the nesting level
    /// of the statement that began at token `start`, or up to the `}` that closes the block
    /// around it.
    mutating func synchronize(from start: Int) {
        // Braces the failed statement opened and did not close are still open.
        var depth = 0
        for t in tokens[min(start, index) ..< index] {
            if t.kind == .leftBrace { depth += 1 } else if t.kind == .rightBrace, depth > 0 { depth -= 1 }
        }
        while !check(.eof) {
            let before = index
            switch peek().kind {
            case .leftBrace:
                depth += 1
            case .rightBrace:
                if depth == 0 {
                    panicking = false
                    return
                }
                depth -= 1
            case .newline, .semicolon:
                if depth == 0 {
                    skipSeparators()
                    panicking = false
                    return
                }
            default: break
            }
            advance()
            guard madeProgress(since: before) else { break }
        }
        panicking = false
    }
}

extension StmtKind {
    /// Statements whose last token is the `}` of their own block.
    var endsInBlock: Bool {
        switch self {
        case .ifElse, .forIn, .whileLoop, .function, .scenario, .entity: true
        default: false
        }
    }
}
