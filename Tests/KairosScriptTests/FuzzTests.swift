import Dispatch
import Foundation
import KairosScript
import Testing

/// Random and mutated inputs through lexer, parser and checker: nothing crashes or hangs,
/// every failure comes with a diagnostic, and every diagnostic points into the input.
@Suite struct FuzzTests {
    /// SplitMix64: deterministic, so a failure reproduces from its iteration number.
    struct Generator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(1, n))) }
        mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }
    }

    static let vocabulary: [String] = Array(TokenKind.keywords.keys).sorted() + [
        "x", "sweep", "model", "agent", "seed", "prophecy", "every", "horizon", "depth", "stability", "basin",
        "\"model\"", "\"a{x}b\"", "\"{", "\"", "\\", "capability", "alignment", "guardrails", "CAPABILITY_JUMP", "shock",
        "0", "1.5", "1e3", "1_000", "12ab", "(", ")", "[", "]", "{", "}", ",", ".", "..", ":", ";", "=>", "+", "-",
        "*", "/", "%", "=", "==", "!=", "<", "<=", ">", ">=", "!", "@", "#", "\n", "\n", " ", " ", "é", "✓", "\t",
    ]

    static var corpus: [String] {
        let files = Repository.files(in: "examples", withExtension: "krs")
            + Repository.files(in: "Tests/KairosScriptTests/Conformance", withExtension: "krs")
        return files.compactMap { try? Repository.text($0) }
    }

    static func mutate(_ source: String, _ g: inout Generator) -> String {
        var chars = Array(source)
        for _ in 0 ... g.below(4) {
            let at = g.below(chars.count + 1)
            switch g.below(6) {
            case 0 where !chars.isEmpty: // delete a span
                let end = min(chars.count, at + 1 + g.below(12))
                if at < end { chars.removeSubrange(at ..< end) }
            case 1: // insert a token
                chars.insert(contentsOf: " " + g.pick(vocabulary) + " ", at: at)
            case 2 where !chars.isEmpty: // duplicate a span
                let end = min(chars.count, at + 1 + g.below(20))
                if at < end { chars.insert(contentsOf: chars[at ..< end], at: at) }
            case 3: // truncate
                chars = Array(chars.prefix(at))
            case 4 where !chars.isEmpty: // replace one character
                chars[min(at, chars.count - 1)] = g.pick(["{", "}", "(", ")", "\"", "\n", "x", "0", "."])
            default: // swap two lines
                var lines = String(chars).split(separator: "\n", omittingEmptySubsequences: false)
                if lines.count > 1 { lines.swapAt(g.below(lines.count), g.below(lines.count)) }
                chars = Array(lines.joined(separator: "\n"))
            }
        }
        return String(chars)
    }

    func checkOne(_ source: String, _ label: String) {
        let (tokens, lexical) = Lexer.tokenize(source)
        // A bad token is always reported.
        if tokens.contains(where: { $0.kind == .error }) { #expect(!lexical.isEmpty, "\(label): an error token without a diagnostic") }
        let (program, syntax) = Parser.parse(source)
        let lineCount = source.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).count
        let diagnostics = syntax.isEmpty ? Checker.check(program, knownNames: []) : syntax
        if !lexical.isEmpty { #expect(!syntax.isEmpty, "\(label): lexical errors must fail the parse") }
        for d in diagnostics {
            #expect(!d.message.isEmpty)
            #expect(d.location.line >= 1 && d.location.line <= lineCount + 1, "\(label): \(d)")
            #expect(d.location.column >= 1)
        }
    }

    @Test func randomTokenSoup() {
        var g = Generator(state: 0x4B41_4952_4F53)
        for i in 0 ..< 5000 {
            var text = ""
            for _ in 0 ..< g.below(40) { text += g.pick(Self.vocabulary) + (g.below(3) == 0 ? "" : " ") }
            checkOne(text, "soup \(i)")
        }
    }

    @Test func mutatedScripts() {
        let corpus = Self.corpus
        #expect(corpus.count > 100)
        var g = Generator(state: 0x5345_4544)
        for i in 0 ..< 6000 {
            let source = Self.mutate(g.pick(corpus), &g)
            checkOne(source, "mutation \(i)")
        }
    }

    @Test func mutatedScriptsThroughTheSession() {
        // The public entry point too (its own thread, checker with session names), without running.
        let corpus = Self.corpus
        var g = Generator(state: 0x5245_504C)
        let session = Interpreter(output: CollectedOutput())
        for _ in 0 ..< 500 {
            let diagnostics = session.check(source: Self.mutate(g.pick(corpus), &g), fileName: "f.krs")
            #expect(diagnostics.allSatisfy { $0.fileName == "f.krs" && $0.severity != .note })
        }
    }
}

/// Heavy: runs mutated scripts (not only checks them), each stopped after two seconds.
/// `KAIROS_HEAVY_TESTS=1 swift test --filter ExecutionFuzzTests`.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["KAIROS_HEAVY_TESTS"] == "1"))
struct ExecutionFuzzTests {
    @Test func mutatedScriptsRunWithoutCrashing() {
        let corpus = FuzzTests.corpus
        var g = FuzzTests.Generator(state: 0x4558_4543)
        for i in 0 ..< 10_000 {
            let source = FuzzTests.mutate(g.pick(corpus), &g)
            let session = Interpreter(output: CollectedOutput())
            let flag = session.cancellation
            let timer = DispatchWorkItem { flag.cancel() }
            DispatchQueue.global().asyncAfter(deadline: .now() + 2, execute: timer)
            let result = session.evaluate(source: source, fileName: "m\(i).krs")
            timer.cancel()
            #expect(result.diagnostics.allSatisfy { !$0.message.isEmpty })
        }
    }
}
