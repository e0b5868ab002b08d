import Foundation
import KairosScript
import Testing

/// `grammar/kairos.ebnf` and the implementation must agree.
@Suite struct GrammarTests {
    static func grammar() throws -> String {
        try Repository.text(Repository.root.appendingPathComponent("grammar/kairos.ebnf"))
    }

    /// The quoted words of one rule (`keyword = "let" | … ;`).
    static func words(inRule name: String, of grammar: String) -> Set<String> {
        guard let start = grammar.range(of: "\n\(name) ") ?? grammar.range(of: "\n\(name)="),
              let end = grammar[start.upperBound...].range(of: ";") else { return [] }
        return quotedWords(String(grammar[start.upperBound ..< end.lowerBound]))
    }

    static func quotedWords(_ text: String) -> Set<String> {
        var words = Set<String>()
        var rest = Substring(text)
        while let open = rest.firstIndex(of: "\"") {
            let after = rest.index(after: open)
            guard let close = rest[after...].firstIndex(of: "\"") else { break }
            let word = rest[after ..< close]
            if let first = word.first, first.isLetter, word.allSatisfy({ $0.isLetter || $0 == "_" }) { words.insert(String(word)) }
            rest = rest[rest.index(after: close)...]
        }
        return words
    }

    /// The grammar without its comments.
    static func rules(_ grammar: String) -> String {
        var out = ""
        var rest = Substring(grammar)
        while let open = rest.range(of: "(*") {
            out += rest[..<open.lowerBound]
            guard let close = rest[open.upperBound...].range(of: "*)") else { return out }
            rest = rest[close.upperBound...]
        }
        return out + rest
    }

    @Test func keywordsAgreeWithTheLexer() throws {
        let g = try Self.grammar()
        let listed = Self.words(inRule: "keyword", of: g)
        let lexer = Set(TokenKind.keywords.keys)
        #expect(listed.subtracting(lexer).isEmpty, "in the grammar, not the lexer: \(listed.subtracting(lexer).sorted())")
        #expect(lexer.subtracting(listed).isEmpty, "in the lexer, not the grammar: \(lexer.subtracting(listed).sorted())")
    }

    @Test func contextualWordsAgreeWithTheParser() throws {
        let g = try Self.grammar()
        #expect(Self.words(inRule: "contextual", of: g) == Parser.contextualWords)
    }

    @Test func everyWordTheGrammarUsesIsAKeywordOrContextual() throws {
        let used = Self.quotedWords(Self.rules(try Self.grammar()))
        let known = Set(TokenKind.keywords.keys).union(Parser.contextualWords)
        // Letters inside the lexical rules (exponent marker, escapes) are not words.
        let lexical: Set<String> = ["e", "E", "n", "t"]
        #expect(used.subtracting(known).subtracting(lexical).isEmpty, "\(used.subtracting(known).subtracting(lexical).sorted())")
    }

    @Test func everyExampleAndConformanceFileParses() throws {
        var files = Repository.files(in: "examples", withExtension: "krs")
        #expect(files.count >= 6)
        // Conformance files that expect no error at all must parse cleanly.
        files += ConformanceTests.files.filter { (try? Repository.text($0).contains("# expect error")) == false }
        for url in files {
            let (_, diagnostics) = Parser.parse(try Repository.text(url))
            #expect(diagnostics.isEmpty, "\(url.lastPathComponent): \(diagnostics.map(\.description))")
        }
    }
}
