extension Parser {
    /// A tree taller than `maxHeight` (`1+1+…` with thousands of terms, a long `.a.a.a` chain):
    /// one diagnostic instead of a stack overflow in a later tree walk.
    mutating func tooTall(_ e: Expr, at range: SourceRange) -> Bool {
        guard e.height > Parser.maxHeight else { return false }
        error("expression too long or too deeply nested (more than \(Parser.maxHeight) levels)", at: range, id: "too-deep",
              hint: "split it into several 'let' statements")
        return true
    }

    /// expr → orExpr
    mutating func expression() -> Expr? {
        nestingDepth += 1
        defer { nestingDepth -= 1 }
        if nestingDepth > Parser.maxNesting {
            error("expression nested too deeply", at: peek().range, id: "too-deep")
            return nil
        }
        return orExpression()
    }

    /// orExpr → andExpr ("or" andExpr)*
    mutating func orExpression() -> Expr? {
        guard var left = andExpression() else { return nil }
        while match(.kwOr) {
            guard let right = andExpression() else { return nil }
            left = Expr(.binary(.or, left, right), left.range.union(right.range))
            if tooTall(left, at: right.range) { return nil }
        }
        return left
    }

    /// andExpr → notExpr ("and" notExpr)*
    mutating func andExpression() -> Expr? {
        guard var left = notExpression() else { return nil }
        while match(.kwAnd) {
            guard let right = notExpression() else { return nil }
            left = Expr(.binary(.and, left, right), left.range.union(right.range))
            if tooTall(left, at: right.range) { return nil }
        }
        return left
    }

    /// notExpr → "not" notExpr | comparison
    mutating func notExpression() -> Expr? {
        if check(.kwNot) {
            let op = advance()
            nestingDepth += 1
            defer { nestingDepth -= 1 }
            guard nestingDepth <= Parser.maxNesting else {
                error("expression nested too deeply", at: op.range, id: "too-deep")
                return nil
            }
            guard let operand = notExpression() else { return nil }
            return Expr(.unary(.not, operand), op.range.union(operand.range))
        }
        return comparison()
    }

    /// comparison → rangeExpr (("==" | "!=" | "<" | "<=" | ">" | ">=") rangeExpr)*
    mutating func comparison() -> Expr? {
        guard var left = rangeExpression() else { return nil }
        while true {
            let op: BinaryOperator
            switch peek().kind {
            case .equalEqual: op = .equal
            case .bangEqual: op = .notEqual
            case .less: op = .less
            case .lessEqual: op = .lessEqual
            case .greater: op = .greater
            case .greaterEqual: op = .greaterEqual
            default: return left
            }
            advance()
            guard let right = rangeExpression() else { return nil }
            left = Expr(.binary(op, left, right), left.range.union(right.range))
            if tooTall(left, at: right.range) { return nil }
        }
    }

    /// rangeExpr → additive (".." additive ("step" additive)?)?
    mutating func rangeExpression() -> Expr? {
        guard let low = additive() else { return nil }
        guard match(.dotDot) else { return low }
        guard let high = additive() else { return nil }
        var step: Expr?
        if match(.kwStep) {
            guard let s = additive() else { return nil }
            step = s
        }
        return Expr(.range(low, high, step: step), low.range.union((step ?? high).range))
    }

    /// additive → term (("+" | "-") term)*
    mutating func additive() -> Expr? {
        guard var left = term() else { return nil }
        while check(.plus) || check(.minus) {
            let op: BinaryOperator = advance().kind == .plus ? .add : .subtract
            guard let right = term() else { return nil }
            left = Expr(.binary(op, left, right), left.range.union(right.range))
            if tooTall(left, at: right.range) { return nil }
        }
        return left
    }

    /// term → unary (("*" | "/" | "%") unary)*
    mutating func term() -> Expr? {
        guard var left = unary() else { return nil }
        while check(.star) || check(.slash) || check(.percent) {
            let kind = advance().kind
            let op: BinaryOperator = kind == .star ? .multiply : kind == .slash ? .divide : .remainder
            guard let right = unary() else { return nil }
            left = Expr(.binary(op, left, right), left.range.union(right.range))
            if tooTall(left, at: right.range) { return nil }
        }
        return left
    }

    /// unary → "-" unary | runExpr | postfix
    mutating func unary() -> Expr? {
        let t = peek()
        switch t.kind {
        case .minus:
            advance()
            nestingDepth += 1
            defer { nestingDepth -= 1 }
            guard nestingDepth <= Parser.maxNesting else {
                error("expression nested too deeply", at: t.range, id: "too-deep")
                return nil
            }
            guard let operand = unary() else { return nil }
            return Expr(.unary(.negate, operand), t.range.union(operand.range))
        case .kwRun, .kwStream, .kwStart, .kwCompile:
            return runExpression()
        default:
            return postfix()
        }
    }

    /// runExpr → runVerb "(" expr runSuffix? ")" runSuffix? postfixOps
    ///         | runVerb postfix runSuffix?
    /// runVerb → "run" | "stream" | "start" | "compile"
    ///
    /// With parentheses the verb reads like a call, and member access applies to the
    /// result: `run(calm).digest`, `compile(s).input`; the suffix (`ticks N`, `as …`) may
    /// go inside or after them.
    mutating func runExpression() -> Expr? {
        let verb = advance()
        var subject: Expr
        var suffix: Expr?
        var form = CompileForm.automatic
        var end = verb.range
        var parenthesized = false
        if check(.leftParen), !lambdaAhead() {
            let open = advance()
            guard let inner = expression() else { return nil }
            subject = inner
            guard runSuffix(verb, &suffix, &form, &end) else { return nil }
            guard let close = expectCloser(.rightParen, opener: open) else { return nil }
            end = close.range
            parenthesized = true
        } else {
            guard let operand = postfix() else { return nil }
            subject = operand
            end = operand.range
        }
        if suffix == nil, form == .automatic {
            guard runSuffix(verb, &suffix, &form, &end) else { return nil }
        }
        let range = verb.range.union(end)
        let expr: Expr = switch verb.kind {
        case .kwRun: Expr(.run(subject, ticks: suffix), range)
        case .kwStream: Expr(.stream(subject, ticks: suffix), range)
        case .kwStart: Expr(.start(subject), range)
        default: Expr(.compile(subject, as: form), range)
        }
        return parenthesized ? postfixOperators(expr) : expr
    }

    /// runSuffix → "ticks" unary (run, stream) | "as" ("scenario" | "domain") (compile)
    mutating func runSuffix(_ verb: Token, _ ticks: inout Expr?, _ form: inout CompileForm, _ end: inout SourceRange) -> Bool {
        if verb.kind == .kwRun || verb.kind == .kwStream, match(.kwTicks) {
            guard let n = unary() else { return false }
            ticks = n
            end = n.range
        } else if verb.kind == .kwCompile, match(.kwAs) {
            let word = advance()
            switch word.kind == .kwScenario ? "scenario" : word.text {
            case "scenario": form = .scenario
            case "domain": form = .domain
            default:
                error("expected 'scenario' or 'domain' after 'as', got \(describe(word))", at: word.range,
                      hint: word.kind == .identifier ? didYouMean(word.text, in: ["scenario", "domain"]) : nil)
                return false
            }
            end = word.range
        }
        return true
    }

    /// postfix → primary postfixOps
    mutating func postfix() -> Expr? {
        guard let expr = primary() else { return nil }
        return postfixOperators(expr)
    }

    /// postfixOps → ("(" args? ")" | "[" expr "]" | "." memberName)*
    /// args → expr ("," expr)* ","?
    mutating func postfixOperators(_ start: Expr) -> Expr? {
        var expr = start
        while true {
            if tooTall(expr, at: peek().range) { return nil }
            switch peek().kind {
            case .leftParen:
                let open = advance()
                guard let args = list(closing: .rightParen, opener: open) else { return nil }
                expr = Expr(.call(expr, args.items), expr.range.union(args.end))
            case .leftBracket:
                let open = advance()
                guard let index = expression() else { return nil }
                guard let close = expectCloser(.rightBracket, opener: open) else { return nil }
                expr = Expr(.index(expr, index), expr.range.union(close.range))
            case .dot:
                advance()
                // Any word may follow a dot: `t.ticks`, `sim.step(10)`, `t.at(5)`.
                let name = peek()
                guard name.kind == .identifier || name.kind.isKeyword else {
                    error("expected a member name after '.', got \(describe(name))", at: name.range)
                    return nil
                }
                advance()
                expr = Expr(.member(expr, name.kind == .identifier ? name.text : name.kind.rawValue),
                            expr.range.union(name.range))
            default:
                return expr
            }
        }
    }

    /// Comma-separated expressions up to `closing` (a trailing comma is allowed).
    mutating func list(closing: TokenKind, opener: Token) -> (items: [Expr], end: SourceRange)? {
        var items: [Expr] = []
        while !check(closing) {
            let before = index
            guard let e = expression() else { return nil }
            items.append(e)
            if !match(.comma) {
                if peek().kind.startsExpression, !check(closing) {
                    error("expected ',' or '\(closing.rawValue)' after the item, got \(describe(peek()))", at: peek().range,
                          id: "missing-comma", hint: "items are separated by commas: [1, 2, 3]")
                    return nil
                }
                break
            }
            guard madeProgress(since: before) else { return nil }
        }
        guard let close = expectCloser(closing, opener: opener) else { return nil }
        return (items, close.range)
    }

    /// primary → NUMBER | STRING | "true" | "false" | "null" | IDENT | lambda | "(" expr ")"
    ///         | "[" args? "]" | record
    mutating func primary() -> Expr? {
        let t = peek()
        switch t.kind {
        case .number:
            advance()
            return Expr(.number(t.number), t.range)
        case .string:
            advance()
            return stringLiteral(t)
        case .kwTrue, .kwFalse:
            advance()
            return Expr(.bool(t.kind == .kwTrue), t.range)
        case .kwNull:
            advance()
            return Expr(.null, t.range)
        case .identifier:
            if peek(1).kind == .arrow { return lambda() }
            advance()
            return Expr(.name(t.text), t.range)
        case .leftParen:
            if lambdaAhead() { return lambda() }
            let open = advance()
            guard let inner = expression() else { return nil }
            guard let close = expectCloser(.rightParen, opener: open) else { return nil }
            return Expr(inner.kind, open.range.union(close.range))
        case .leftBracket:
            let open = advance()
            guard let items = list(closing: .rightBracket, opener: open) else { return nil }
            return Expr(.list(items.items), open.range.union(items.end))
        case .leftBrace:
            return record()
        default:
            let hint: String? = t.kind == .kwFn ? "an anonymous function is written x => x * 2 or (a, b) => a + b" : nil
            error("expected an expression, got \(describe(t))", at: t.range, hint: hint)
            return nil
        }
    }

    /// record → "{" (recordField ("," recordField)* ","?)? "}"
    /// recordField → (IDENT | keyword | STRING) ":" expr
    mutating func record() -> Expr? {
        let open = advance()
        var fields: [RecordField] = []
        var keys = Set<String>()
        skipNewlines()
        while !check(.rightBrace) {
            let before = index
            let key = peek()
            let name: String
            switch key.kind {
            case .identifier: name = key.text
            case .string:
                guard key.pieces.count == 1, case .text(let text) = key.pieces[0] else {
                    error("a record key cannot be interpolated", at: key.range)
                    return nil
                }
                name = text
            default:
                guard key.kind.isKeyword else {
                    error("expected a record key, got \(describe(key))", at: key.range)
                    return nil
                }
                name = key.kind.rawValue
            }
            advance()
            guard expect(.colon, "':' after the record key") != nil, let value = expression() else { return nil }
            if !keys.insert(name).inserted {
                report("duplicate record key '\(name)'", at: key.range)
            }
            fields.append(RecordField(key: name, value: value, range: key.range.union(value.range)))
            skipNewlines()
            if !match(.comma) { break }
            skipNewlines()
            guard madeProgress(since: before) else { return nil }
        }
        skipNewlines()
        guard let close = expectCloser(.rightBrace, opener: open) else { return nil }
        return Expr(.record(fields), open.range.union(close.range))
    }

    mutating func skipNewlines() {
        while match(.newline) {}
    }

    /// Whether `(` starts a lambda's parameter list: `(` IDENT ("," IDENT)* `)` `=>`.
    func lambdaAhead() -> Bool {
        var i = 1
        while true {
            let t = peek(i)
            if t.kind == .rightParen { return peek(i + 1).kind == .arrow }
            guard t.kind == .identifier else { return false }
            i += 1
            if peek(i).kind == .comma {
                i += 1
            } else if peek(i).kind != .rightParen {
                return false
            }
        }
    }

    /// Whether the `{` at the cursor opens a record literal rather than a block: `{}` or
    /// `{ KEY :` (a key is a name, a keyword or a plain string). After `=>` this decides
    /// between `i => {n: i}` (a record) and `i => { return i }` (a block).
    func recordAhead() -> Bool {
        var i = 1
        while peek(i).kind == .newline { i += 1 }
        let key = peek(i)
        if key.kind == .rightBrace { return true }
        guard key.kind == .identifier || key.kind == .string || key.kind.isKeyword else { return false }
        return peek(i + 1).kind == .colon
    }

    /// lambda → (IDENT | "(" params? ")") "=>" (record | block | expr)
    mutating func lambda() -> Expr? {
        let start = peek()
        var params: [String] = []
        if check(.identifier) {
            params = [advance().text]
        } else {
            let open = advance()
            guard let p = parameters(closing: open) else { return nil }
            params = p
        }
        guard expect(.arrow, "'=>'") != nil else { return nil }
        if check(.leftBrace), !recordAhead() {
            guard let body = functionBlock() else { return nil }
            return Expr(.lambda(params: params, body: .block(body.statements)), start.range.union(body.range))
        }
        let saved = (inScenario, loopDepth)
        inScenario = false
        loopDepth = 0
        defer { (inScenario, loopDepth) = saved }
        guard let body = expression() else { return nil }
        return Expr(.lambda(params: params, body: .expression(body)), start.range.union(body.range))
    }

    /// string → '"' (character | escape | "{" expr "}")* '"'  (the lexer splits the pieces;
    /// each interpolation is parsed here as an expression at its own source location)
    mutating func stringLiteral(_ t: Token) -> Expr? {
        var segments: [StringSegment] = []
        for piece in t.pieces {
            switch piece {
            case .text(let text):
                segments.append(.text(text))
            case .code(let code, let location):
                var inner = Parser(code, start: location)
                inner.nestingDepth = nestingDepth
                inner.inScenario = false
                inner.inInterpolation = true
                let e = inner.expression()
                if e != nil, !inner.check(.eof), !inner.panicking {
                    inner.error("expected '}' to end the interpolation, got \(inner.describe(inner.peek()))", at: inner.peek().range)
                }
                if inner.diagnostics.isEmpty, let e {
                    segments.append(.expr(e))
                } else {
                    if inner.diagnostics.isEmpty {
                        error("bad interpolation", at: t.range)
                    } else if !panicking {
                        diagnostics += inner.diagnostics
                        panicking = true
                    }
                    return nil
                }
            }
        }
        return Expr(.string(segments), t.range)
    }
}
