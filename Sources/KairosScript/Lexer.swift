/// Token kinds: literals, names, the keywords of LANGUAGE.md, punctuation, and layout.
public enum TokenKind: String, Sendable, Equatable, Hashable, CaseIterable {
    case number, string, identifier, newline, eof, error
    // Keywords (LANGUAGE.md "Lexical structure"); the raw value is the spelling.
    case kwLet = "let", kwFn = "fn", kwReturn = "return", kwIf = "if", kwElse = "else", kwFor = "for"
    case kwIn = "in", kwWhile = "while", kwBreak = "break", kwContinue = "continue", kwTrue = "true"
    case kwFalse = "false", kwNull = "null", kwAnd = "and", kwOr = "or", kwNot = "not"
    case kwScenario = "scenario", kwRun = "run", kwStream = "stream", kwCompile = "compile", kwAs = "as"
    case kwStart = "start", kwStep = "step", kwTicks = "ticks", kwBy = "by", kwAt = "at", kwUse = "use"
    // Punctuation.
    case leftParen = "(", rightParen = ")", leftBracket = "[", rightBracket = "]", leftBrace = "{", rightBrace = "}"
    case comma = ",", dot = ".", dotDot = "..", colon = ":", semicolon = ";", arrow = "=>"
    case plus = "+", minus = "-", star = "*", slash = "/", percent = "%"
    case equal = "=", equalEqual = "==", bangEqual = "!=", less = "<", lessEqual = "<=", greater = ">", greaterEqual = ">="

    /// Every keyword, by spelling.
    public static let keywords: [String: TokenKind] = {
        var table: [String: TokenKind] = [:]
        for kind in allCases where kind.isKeyword { table[kind.rawValue] = kind }
        return table
    }()

    public var isKeyword: Bool { String(describing: self).hasPrefix("kw") }

    /// Whether an expression can begin with this token (after an item, it means a comma is missing).
    var startsExpression: Bool {
        switch self {
        case .number, .string, .identifier, .leftBracket, .kwTrue, .kwFalse, .kwNull, .kwRun, .kwStream, .kwStart, .kwCompile:
            true
        default: false
        }
    }

    /// A line ending in one of these continues on the next line.
    var continuesLine: Bool {
        switch self {
        case .plus, .minus, .star, .slash, .percent, .equalEqual, .bangEqual, .less, .lessEqual, .greater,
             .greaterEqual, .kwAnd, .kwOr, .comma, .equal, .arrow, .dotDot:
            true
        default: false
        }
    }

    /// How the token is named in messages: `'}'`, `keyword 'let'`, `a number`.
    var displayName: String {
        switch self {
        case .number: "a number"
        case .string: "a string"
        case .identifier: "a name"
        case .newline: "end of line"
        case .eof: "end of file"
        case .error: "an invalid token"
        default: isKeyword ? "'\(rawValue)'" : "'\(rawValue)'"
        }
    }
}

/// A piece of a string literal: literal text, or the source of an interpolated `{expr}`.
public enum StringPiece: Sendable, Equatable {
    case text(String)
    case code(String, SourceLocation)
}

public struct Token: Sendable, Equatable {
    public var kind: TokenKind
    public var range: SourceRange
    /// The identifier's name or the source text of the token.
    public var text: String
    public var number: Double = 0
    public var pieces: [StringPiece] = []
}

/// The hand-written lexer: UTF-8 bytes in, tokens and lexical diagnostics out. Newlines are
/// tokens except inside `( )` and `[ ]` and after a token that continues the line.
public struct Lexer {
    private let bytes: [UInt8]
    private var index = 0
    private var line: Int
    private var column: Int
    private let baseOffset: Int
    /// Open brackets, innermost last; newlines count only when the innermost is `{` or none.
    private var nesting: [UInt8] = []
    public internal(set) var diagnostics: [Diagnostic] = []

    public init(_ source: String, start: SourceLocation = .start) {
        bytes = Array(source.utf8)
        line = start.line
        column = start.column
        baseOffset = start.offset
        // A byte-order mark some editors write is not part of the program.
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { index = 3 }
    }

    /// Every token, ending with `.eof`.
    public static func tokenize(_ source: String, start: SourceLocation = .start) -> (tokens: [Token], diagnostics: [Diagnostic]) {
        var lexer = Lexer(source, start: start)
        let tokens = lexer.tokenize()
        return (tokens, lexer.diagnostics)
    }

    public mutating func tokenize() -> [Token] {
        var tokens: [Token] = []
        while true {
            let before = index
            let token = next()
            if token.kind == .newline {
                // Collapse blank lines and drop newlines that cannot end a statement.
                if let last = tokens.last, last.kind == .newline || last.kind.continuesLine { continue }
                if tokens.isEmpty { continue }
            }
            tokens.append(token)
            if token.kind == .eof { return tokens }
            assert(index > before, "lexer made no progress")
        }
    }

    private var location: SourceLocation { SourceLocation(line: line, column: column, offset: baseOffset + index) }

    private func peek(_ ahead: Int = 0) -> UInt8? {
        index + ahead < bytes.count ? bytes[index + ahead] : nil
    }

    @discardableResult
    private mutating func advance() -> UInt8 {
        let b = bytes[index]
        index += 1
        if b == 0x0A {
            line += 1
            column = 1
        } else if b & 0xC0 != 0x80 {
            column += 1
        }
        return b
    }

    private mutating func match(_ b: UInt8) -> Bool {
        guard peek() == b else { return false }
        advance()
        return true
    }

    private mutating func error(_ message: String, from start: SourceLocation, id: String = "lexical-error") -> Token {
        let range = SourceRange(start, location)
        diagnostics.append(Diagnostic(id, message, at: range, phase: .lexical))
        return Token(kind: .error, range: range, text: "")
    }

    /// A slip from another language (`&&`, `||`, `!x`): reported once with the right spelling,
    /// then read as that keyword so the parser carries on without a second error.
    private mutating func substitute(_ kind: TokenKind, for written: String, from start: SourceLocation) -> Token {
        let range = SourceRange(start, location)
        diagnostics.append(Diagnostic("wrong-operator", "'\(written)' is not an operator in Kairos Script", at: range, phase: .lexical,
                                      hint: "write '\(kind.rawValue)'"))
        return Token(kind: kind, range: range, text: kind.rawValue)
    }

    private mutating func make(_ kind: TokenKind, from start: SourceLocation, startIndex: Int) -> Token {
        Token(kind: kind, range: SourceRange(start, location), text: String(decoding: bytes[startIndex ..< index], as: UTF8.self))
    }

    private mutating func next() -> Token {
        skipSpaceAndComments()
        let start = location
        let startIndex = index
        guard let c = peek() else {
            return Token(kind: .eof, range: SourceRange(at: start), text: "")
        }
        if c == 0x0A {
            advance()
            if let top = nesting.last, top != UInt8(ascii: "{") { return next() }
            return Token(kind: .newline, range: SourceRange(start, start), text: "\n")
        }
        if isDigit(c) { return number(start: start, startIndex: startIndex) }
        if isIdentifierStart(c) {
            while let d = peek(), isIdentifierStart(d) || isDigit(d) { advance() }
            let text = String(decoding: bytes[startIndex ..< index], as: UTF8.self)
            return Token(kind: TokenKind.keywords[text] ?? .identifier, range: SourceRange(start, location), text: text)
        }
        if c == UInt8(ascii: "\"") { return string(start: start) }
        advance()
        let kind: TokenKind
        switch c {
        case UInt8(ascii: "("): kind = .leftParen; nesting.append(c)
        case UInt8(ascii: "["): kind = .leftBracket; nesting.append(c)
        case UInt8(ascii: "{"): kind = .leftBrace; nesting.append(c)
        case UInt8(ascii: ")"), UInt8(ascii: "]"), UInt8(ascii: "}"):
            kind = c == UInt8(ascii: ")") ? .rightParen : c == UInt8(ascii: "]") ? .rightBracket : .rightBrace
            if !nesting.isEmpty { nesting.removeLast() }
        case UInt8(ascii: ","): kind = .comma
        case UInt8(ascii: "."): kind = match(UInt8(ascii: ".")) ? .dotDot : .dot
        case UInt8(ascii: ":"): kind = .colon
        case UInt8(ascii: ";"): kind = .semicolon
        case UInt8(ascii: "+"): kind = .plus
        case UInt8(ascii: "-"): kind = .minus
        case UInt8(ascii: "*"): kind = .star
        case UInt8(ascii: "/"): kind = .slash
        case UInt8(ascii: "%"): kind = .percent
        case UInt8(ascii: "="): kind = match(UInt8(ascii: "=")) ? .equalEqual : match(UInt8(ascii: ">")) ? .arrow : .equal
        case UInt8(ascii: "!"):
            guard match(UInt8(ascii: "=")) else { return substitute(.kwNot, for: "!", from: start) }
            kind = .bangEqual
        case UInt8(ascii: "&"):
            return substitute(.kwAnd, for: match(UInt8(ascii: "&")) ? "&&" : "&", from: start)
        case UInt8(ascii: "|"):
            return substitute(.kwOr, for: match(UInt8(ascii: "|")) ? "||" : "|", from: start)
        case UInt8(ascii: "<"): kind = match(UInt8(ascii: "=")) ? .lessEqual : .less
        case UInt8(ascii: ">"): kind = match(UInt8(ascii: "=")) ? .greaterEqual : .greater
        default:
            // Swallow the rest of a multi-byte character so the error covers it once.
            while let d = peek(), d & 0xC0 == 0x80 { advance() }
            let text = String(decoding: bytes[startIndex ..< index], as: UTF8.self)
            return error("unexpected character '\(text)'", from: start)
        }
        return make(kind, from: start, startIndex: startIndex)
    }

    private mutating func skipSpaceAndComments() {
        while let c = peek() {
            if c == 0x20 || c == 0x09 || c == 0x0D {
                advance()
            } else if c == UInt8(ascii: "#") {
                while let d = peek(), d != 0x0A { advance() }
            } else {
                return
            }
        }
    }

    private func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
    private func isIdentifierStart(_ c: UInt8) -> Bool {
        (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F
    }

    /// number → digits ("." digits)? (("e"|"E") ("+"|"-")? digits)?, with `_` between digits.
    private mutating func number(start: SourceLocation, startIndex: Int) -> Token {
        var digits: [UInt8] = []
        var malformed = false
        func digitRun(_ lexer: inout Lexer, into digits: inout [UInt8], malformed: inout Bool) {
            var lastUnderscore = false
            while let d = lexer.peek(), lexer.isDigit(d) || d == UInt8(ascii: "_") {
                lexer.advance()
                if d == UInt8(ascii: "_") {
                    if lastUnderscore { malformed = true }
                    lastUnderscore = true
                } else {
                    digits.append(d)
                    lastUnderscore = false
                }
            }
            if lastUnderscore { malformed = true }
        }
        digitRun(&self, into: &digits, malformed: &malformed)
        // `1..5` is a range: only take '.' when a digit follows.
        if peek() == UInt8(ascii: "."), let d = peek(1), isDigit(d) {
            advance()
            digits.append(UInt8(ascii: "."))
            digitRun(&self, into: &digits, malformed: &malformed)
        }
        if let e = peek(), e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
            var ahead = 1
            if let s = peek(1), s == UInt8(ascii: "+") || s == UInt8(ascii: "-") { ahead = 2 }
            if let d = peek(ahead), isDigit(d) {
                for _ in 0 ..< ahead { digits.append(advance()) }
                digitRun(&self, into: &digits, malformed: &malformed)
            }
        }
        if let d = peek(), isIdentifierStart(d) {
            while let d = peek(), isIdentifierStart(d) || isDigit(d) { advance() }
            return error("malformed number '\(String(decoding: bytes[startIndex ..< index], as: UTF8.self))'", from: start)
        }
        if malformed {
            return error("malformed number '\(String(decoding: bytes[startIndex ..< index], as: UTF8.self))': '_' goes between digits", from: start)
        }
        guard let value = Double(String(decoding: digits, as: UTF8.self)), value.isFinite else {
            return error("number out of range", from: start)
        }
        var token = make(.number, from: start, startIndex: startIndex)
        token.number = value
        return token
    }

    /// string → '"' (char | escape | "{" expr "}")* '"'
    private mutating func string(start: SourceLocation) -> Token {
        advance()
        var pieces: [StringPiece] = []
        var text: [UInt8] = []
        var failed = false
        while true {
            guard let c = peek(), c != 0x0A else {
                return error("unterminated string", from: start, id: "unterminated-string")
            }
            if c == UInt8(ascii: "\"") {
                advance()
                break
            }
            if c == UInt8(ascii: "\\") {
                let escapeStart = location
                advance()
                guard let e = peek(), e != 0x0A else {
                    return error("unterminated string", from: start, id: "unterminated-string")
                }
                advance()
                switch e {
                case UInt8(ascii: "n"): text.append(0x0A)
                case UInt8(ascii: "t"): text.append(0x09)
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "{"), UInt8(ascii: "}"): text.append(e)
                default:
                    failed = true
                    diagnostics.append(Diagnostic("bad-escape", "unknown escape '\\\(Character(Unicode.Scalar(e)))'",
                                                  at: SourceRange(escapeStart, location), phase: .lexical,
                                                  hint: "escapes are \\n \\t \\\" \\\\ \\{"))
                }
                continue
            }
            if c == UInt8(ascii: "{") {
                let braceStart = location
                advance()
                let codeStart = location
                let codeIndex = index
                var depth = 0
                var inString = false
                while let d = peek(), d != 0x0A {
                    if inString {
                        if d == UInt8(ascii: "\\") { advance(); if peek() != nil, peek() != 0x0A { advance() }; continue }
                        if d == UInt8(ascii: "\"") { inString = false }
                    } else if d == UInt8(ascii: "\"") {
                        inString = true
                    } else if d == UInt8(ascii: "{") {
                        depth += 1
                    } else if d == UInt8(ascii: "}") {
                        if depth == 0 { break }
                        depth -= 1
                    }
                    advance()
                }
                guard peek() == UInt8(ascii: "}") else {
                    diagnostics.append(Diagnostic("unterminated-interpolation",
                                                  "expected '}' to close '{' at \(braceStart)", at: SourceRange(at: location),
                                                  phase: .lexical))
                    return Token(kind: .error, range: SourceRange(start, location), text: "")
                }
                let code = String(decoding: bytes[codeIndex ..< index], as: UTF8.self)
                advance()
                if !text.isEmpty { pieces.append(.text(String(decoding: text, as: UTF8.self))) }
                text.removeAll()
                if code.allSatisfy({ $0 == " " }) {
                    failed = true
                    diagnostics.append(Diagnostic("empty-interpolation", "empty interpolation '{}'",
                                                  at: SourceRange(braceStart, location), phase: .lexical,
                                                  hint: "write \\{ for a literal brace"))
                } else {
                    pieces.append(.code(code, codeStart))
                }
                continue
            }
            text.append(advance())
        }
        if !text.isEmpty || pieces.isEmpty { pieces.append(.text(String(decoding: text, as: UTF8.self))) }
        if failed { return Token(kind: .error, range: SourceRange(start, location), text: "") }
        var token = Token(kind: .string, range: SourceRange(start, location), text: "")
        token.pieces = pieces
        return token
    }
}
