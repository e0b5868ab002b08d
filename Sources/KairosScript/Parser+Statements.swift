extension Parser {
    /// statement → letStmt | fnStmt | scenarioStmt | ifStmt | forStmt | whileStmt | returnStmt
    ///           | "break" | "continue" | useStmt | declaration | exprStmt
    mutating func statement() -> Stmt? {
        let start = peek()
        switch start.kind {
        case .kwLet: return letStatement()
        case .kwFn: return functionStatement()
        case .kwScenario: return scenarioStatement()
        case .kwIf: return ifStatement()
        case .kwFor: return forStatement()
        case .kwWhile: return whileStatement()
        case .kwReturn: return returnStatement()
        case .kwBreak, .kwContinue:
            advance()
            if loopDepth == 0 {
                error("'\(start.kind.rawValue)' outside a loop", at: start.range, id: "outside-loop")
                return nil
            }
            return Stmt(start.kind == .kwBreak ? .breakLoop : .continueLoop, start.range)
        case .kwUse: return useStatement()
        case .identifier where Parser.foreignFunctionWords.contains(start.text) && peek(1).kind == .identifier:
            error("'\(start.text)' is not a keyword; functions are declared with 'fn'", at: start.range, id: "unknown-statement",
                  hint: "write 'fn \(peek(1).text)(…) { … }'")
            return nil
        case .kwTicks, .kwAt: return declaration()
        case .identifier where Parser.declarationWords.contains(start.text) && startsDeclaration(start.text):
            return declaration()
        default: return expressionStatement()
        }
    }

    /// How other languages declare functions.
    static let foreignFunctionWords: Set<String> = ["function", "def", "func", "fun", "sub", "proc"]

    static let declarationWords: Set<String> = ["seed", "stability", "basin", "model", "agent", "prophecy"]

    /// A declaration word followed by something that cannot continue an expression.
    func startsDeclaration(_ word: String) -> Bool {
        if word == "prophecy" {
            return [.identifier, .newline, .semicolon, .rightBrace, .eof].contains(peek(1).kind)
        }
        return switch peek(1).kind {
        case .equal, .leftParen, .dot, .leftBracket, .newline, .semicolon, .rightBrace, .eof, .plus, .star, .slash,
             .percent, .equalEqual, .bangEqual, .less, .lessEqual, .greater, .greaterEqual, .kwAnd, .kwOr, .dotDot,
             .arrow, .rightParen, .rightBracket, .comma:
            false
        default: true
        }
    }

    /// letStmt → "let" IDENT "=" expr
    mutating func letStatement() -> Stmt? {
        let start = advance()
        if keywordAsName("a variable") { return nil }
        guard let name = expect(.identifier, "a name after 'let'") else { return nil }
        guard expect(.equal, "'=' after 'let \(name.text)'") != nil, let value = expression() else { return nil }
        return Stmt(.letBinding(name: name.text, nameRange: name.range, value: value), start.range.union(value.range))
    }

    /// `let step = 10`: a keyword where a new name goes. Reports it (with a name to use instead)
    /// and returns true.
    mutating func keywordAsName(_ what: String) -> Bool {
        let t = peek()
        guard t.kind.isKeyword else { return false }
        error("'\(t.kind.rawValue)' is a keyword and cannot name \(what)", at: t.range, id: "keyword-as-name",
              hint: "choose another name, such as '\(t.kind.rawValue)_'")
        return true
    }

    /// params → IDENT ("," IDENT)*
    mutating func parameters(closing opener: Token) -> [String]? {
        var params: [String] = []
        if !check(.rightParen) {
            repeat {
                let before = index
                if keywordAsName("a parameter") { return nil }
                guard let p = expect(.identifier, "a parameter name") else { return nil }
                if params.contains(p.text) {
                    error("duplicate parameter '\(p.text)'", at: p.range)
                    return nil
                }
                params.append(p.text)
                guard madeProgress(since: before) else { return nil }
            } while match(.comma)
        }
        guard expectCloser(.rightParen, opener: opener) != nil else { return nil }
        return params
    }

    /// fnStmt → "fn" IDENT "(" params? ")" block
    mutating func functionStatement() -> Stmt? {
        let start = advance()
        if keywordAsName("a function") { return nil }
        guard let name = expect(.identifier, "a function name after 'fn'"),
              let open = expect(.leftParen, "'(' after the function name"),
              let params = parameters(closing: open) else { return nil }
        guard let body = functionBlock() else { return nil }
        return Stmt(.function(name: name.text, nameRange: name.range, params: params, body: body.statements),
                    start.range.union(body.range))
    }

    /// A block that is a function body: `return` is allowed, loops and scenario declarations
    /// of the enclosing code are not.
    mutating func functionBlock() -> (statements: [Stmt], range: SourceRange)? {
        let saved = (inScenario, loopDepth)
        inScenario = false
        loopDepth = 0
        functionDepth += 1
        defer {
            (inScenario, loopDepth) = saved
            functionDepth -= 1
        }
        return block()
    }

    /// scenarioStmt → "scenario" IDENT ("(" params? ")")? block
    mutating func scenarioStatement() -> Stmt? {
        let start = advance()
        if keywordAsName("a scenario") { return nil }
        guard let name = expect(.identifier, "a scenario name after 'scenario'") else { return nil }
        var params: [String]?
        if check(.leftParen) {
            let open = advance()
            guard let p = parameters(closing: open) else { return nil }
            params = p
        }
        let saved = (inScenario, loopDepth)
        inScenario = true
        loopDepth = 0
        functionDepth += 1
        defer {
            (inScenario, loopDepth) = saved
            functionDepth -= 1
        }
        guard let body = block() else { return nil }
        return Stmt(.scenario(name: name.text, nameRange: name.range, params: params, body: body.statements),
                    start.range.union(body.range))
    }

    /// block → "{" separator* (statement (separator+ statement)*)? separator* "}"
    mutating func block() -> (statements: [Stmt], range: SourceRange)? {
        if check(.equal) {
            error("expected '{', got '='", at: peek().range, hint: "compare with '==' (a condition cannot assign)")
            return nil
        }
        guard let open = expect(.leftBrace, "'{'") else { return nil }
        nestingDepth += 1
        defer { nestingDepth -= 1 }
        if nestingDepth > Parser.maxNesting {
            error("blocks nested too deeply", at: open.range, id: "too-deep")
            return nil
        }
        var statements: [Stmt] = []
        skipSeparators()
        while !check(.rightBrace), !check(.eof) {
            let before = index
            let s = statement()
            if let s { statements.append(s) }
            endStatement(s, startedAt: before)
            guard madeProgress(since: before) else { break }
        }
        guard let close = expectCloser(.rightBrace, opener: open) else { return nil }
        return (statements, open.range.union(close.range))
    }

    /// ifStmt → "if" expr block ("else" (ifStmt | block))?
    mutating func ifStatement() -> Stmt? {
        let start = advance()
        guard let condition = expression(), let then = block() else { return nil }
        var otherwise: [Stmt]?
        var end = then.range
        // `}` and `else` may stand on different lines.
        if check(.newline), peek(1).kind == .kwElse { advance() }
        if match(.kwElse) {
            if check(.kwIf) {
                guard let nested = ifStatement() else { return nil }
                otherwise = [nested]
                end = nested.range
            } else {
                guard let b = block() else { return nil }
                otherwise = b.statements
                end = b.range
            }
        }
        return Stmt(.ifElse(condition: condition, then: then.statements, otherwise: otherwise), start.range.union(end))
    }

    /// forStmt → "for" IDENT "in" expr block
    mutating func forStatement() -> Stmt? {
        let start = advance()
        if keywordAsName("a loop variable") { return nil }
        guard let name = expect(.identifier, "a loop variable after 'for'"),
              expect(.kwIn, "'in' after 'for \(name.text)'") != nil,
              let sequence = expression() else { return nil }
        loopDepth += 1
        defer { loopDepth -= 1 }
        guard let body = block() else { return nil }
        return Stmt(.forIn(name: name.text, nameRange: name.range, sequence: sequence, body: body.statements),
                    start.range.union(body.range))
    }

    /// whileStmt → "while" expr block
    mutating func whileStatement() -> Stmt? {
        let start = advance()
        guard let condition = expression() else { return nil }
        loopDepth += 1
        defer { loopDepth -= 1 }
        guard let body = block() else { return nil }
        return Stmt(.whileLoop(condition: condition, body: body.statements), start.range.union(body.range))
    }

    /// returnStmt → "return" expr?
    mutating func returnStatement() -> Stmt? {
        let start = advance()
        if functionDepth == 0 || inScenario {
            error("'return' outside a function", at: start.range, id: "outside-function")
            return nil
        }
        if check(.newline) || check(.semicolon) || check(.rightBrace) || check(.eof) {
            return Stmt(.returnValue(nil), start.range)
        }
        guard let value = expression() else { return nil }
        return Stmt(.returnValue(value), start.range.union(value.range))
    }

    /// useStmt → "use" ("embedded" | "remote" expr | "engine" expr)
    mutating func useStatement() -> Stmt? {
        let start = advance()
        let word = peek()
        guard word.kind == .identifier else {
            error("expected 'embedded', 'remote' or 'engine' after 'use', got \(describe(word))", at: word.range)
            return nil
        }
        switch word.text {
        case "embedded":
            advance()
            return Stmt(.use(.embedded), start.range.union(word.range))
        case "remote", "engine":
            advance()
            guard let value = expression() else { return nil }
            return Stmt(.use(word.text == "remote" ? .remote(value) : .engine(value)), start.range.union(value.range))
        default:
            error("expected 'embedded', 'remote' or 'engine' after 'use', got '\(word.text)'", at: word.range,
                  hint: didYouMean(word.text, in: ["embedded", "remote", "engine"]))
            return nil
        }
    }

    /// exprStmt → expr ("=" expr)?
    mutating func expressionStatement() -> Stmt? {
        guard let expr = expression() else { return nil }
        // `modle "m" { … }`, `fnc f() { … }`: a misspelt keyword or declaration word.
        if case .name(let word) = expr.kind, [.identifier, .string, .leftBrace, .number].contains(peek().kind) {
            let words = TokenKind.keywords.keys.sorted() + (inScenario ? Parser.declarationWords.sorted() : [])
            if let hint = didYouMean(word, in: words) {
                error("unknown statement '\(word)'", at: expr.range, id: "unknown-statement", hint: hint)
                return nil
            }
        }
        if check(.equal) {
            let equal = advance()
            switch expr.kind {
            case .name, .index, .member: break
            default:
                error("cannot assign to this expression", at: expr.range, id: "bad-assignment")
                _ = equal
                return nil
            }
            guard let value = expression() else { return nil }
            return Stmt(.assign(target: expr, value: value), expr.range.union(value.range))
        }
        return Stmt(.expression(expr), expr.range)
    }

    // MARK: Scenario declarations

    /// declaration → seedDecl | ticksDecl | stabilityDecl | basinDecl | entityDecl | eventDecl | prophecyDecl
    mutating func declaration() -> Stmt? {
        let word = peek()
        let spelling = word.kind == .identifier ? word.text : word.kind.rawValue
        guard inScenario else {
            error("'\(spelling)' declarations belong inside a scenario block", at: word.range, id: "declaration-outside-scenario")
            return nil
        }
        switch spelling {
        case "at": return eventDeclaration()
        case "model", "agent": return entityDeclaration()
        case "prophecy": return prophecyDeclaration()
        default:
            // seedDecl → "seed" expr ; ticksDecl → "ticks" expr ; stabilityDecl → "stability" expr ; basinDecl → "basin" expr
            advance()
            guard let value = expression() else { return nil }
            let kind: StmtKind = switch spelling {
            case "seed": .seed(value)
            case "ticks": .ticks(value)
            case "stability": .stability(value)
            default: .basin(value)
            }
            return Stmt(kind, word.range.union(value.range))
        }
    }

    /// entityName → STRING | IDENT   (an identifier names a variable holding the name)
    mutating func entityName(_ what: String) -> EntityName? {
        let t = peek()
        switch t.kind {
        case .string:
            guard let e = primary() else { return nil }
            return EntityName(expr: e)
        case .identifier:
            advance()
            return EntityName(expr: Expr(.name(t.text), t.range))
        default:
            error("expected \(what), got \(describe(t))", at: t.range)
            return nil
        }
    }

    /// entityDecl → ("model" | "agent") entityName "{" (field separator*)* "}"
    /// field → IDENT expr
    mutating func entityDeclaration() -> Stmt? {
        let word = advance()
        let kind: EntityKind = word.text == "model" ? .model : .agent
        guard let name = entityName("a \(kind.rawValue) name"),
              let open = expect(.leftBrace, "'{' after the \(kind.rawValue) name") else { return nil }
        var fields: [EntityField] = []
        skipSeparators()
        while !check(.rightBrace), !check(.eof) {
            let before = index
            guard let field = expect(.identifier, "a \(kind.rawValue) field (\(kind.fields.joined(separator: ", ")))") else {
                return nil
            }
            guard let value = expression() else { return nil }
            fields.append(EntityField(name: field.text, nameRange: field.range, value: value))
            if !check(.rightBrace) {
                guard check(.newline) || check(.semicolon) else {
                    error("expected a newline or ';' after the field, got \(describe(peek()))", at: peek().range)
                    return nil
                }
                skipSeparators()
            }
            guard madeProgress(since: before) else { return nil }
        }
        guard let close = expectCloser(.rightBrace, opener: open) else { return nil }
        return Stmt(.entity(kind, name: name, fields: fields), word.range.union(close.range))
    }

    /// eventDecl → "at" expr IDENT entityName? ("by" expr)? ("for" expr "ticks")?
    mutating func eventDeclaration() -> Stmt? {
        let start = advance()
        guard let tick = expression() else { return nil }
        guard let kind = expect(.identifier, "an event kind such as capability_jump or CAPABILITY_JUMP") else { return nil }
        var event = EventDecl(tick: tick, kind: kind.text, kindRange: kind.range)
        var end = kind.range
        if check(.string) || check(.identifier) {
            guard let target = entityName("a target") else { return nil }
            event.target = target
            end = target.expr.range
        }
        if check(.number) || (check(.minus) && peek(1).kind == .number) {
            let written = "at \(tick.literalText ?? "T") \(kind.text)\(event.target?.literal.map { " " + quote($0) } ?? "")"
            error("expected 'by' before the magnitude, got \(describe(peek()))", at: peek().range, id: "missing-by",
                  hint: "write '\(written) by \(peek().text)'")
            return nil
        }
        if match(.kwBy) {
            guard let m = expression() else { return nil }
            event.magnitude = m
            end = m.range
        }
        if match(.kwFor) {
            guard let n = expression() else { return nil }
            event.duration = n
            guard let t = expect(.kwTicks, "'ticks' after the duration") else { return nil }
            end = t.range
        }
        return Stmt(.event(event), start.range.union(end))
    }

    /// prophecyDecl → "prophecy" ("every" expr)? ("horizon" expr)? ("depth" expr)?
    mutating func prophecyDeclaration() -> Stmt? {
        let start = advance()
        var decl = ProphecyDecl()
        var end = start.range
        for word in ["every", "horizon", "depth"] where peek().kind == .identifier && peek().text == word {
            advance()
            guard let e = expression() else { return nil }
            switch word {
            case "every": decl.every = e
            case "horizon": decl.horizon = e
            default: decl.depth = e
            }
            end = e.range
        }
        if decl.every == nil, decl.horizon == nil, decl.depth == nil {
            error("expected 'every', 'horizon' or 'depth' after 'prophecy', got \(describe(peek()))", at: peek().range)
            return nil
        }
        if peek().kind == .identifier, ["every", "horizon", "depth"].contains(peek().text) {
            error("prophecy settings go in the order every, horizon, depth", at: peek().range)
            return nil
        }
        return Stmt(.prophecy(decl), start.range.union(end))
    }
}
