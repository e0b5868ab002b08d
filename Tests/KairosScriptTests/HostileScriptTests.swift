import Foundation
import KairosTestSupport
import Testing

/// Programs that used to crash the interpreter (issue: hostile input): deep syntax is a
/// diagnostic with a location, deep values a runtime error, and nothing traps.
@Suite struct HostileScriptTests {
    static func chain(_ prefix: String, _ piece: String, _ count: Int, _ suffix: String = "") -> String {
        prefix + String(repeating: piece, count: count) + suffix
    }

    /// Long chains of operators, members, calls and indexes: exit 2 with one diagnostic,
    /// from both `check` and `run`, never a signal.
    /// The programs, by name (test arguments are printed: the sources themselves are 100 KB).
    static func deepSource(_ name: String) -> String {
        switch name {
        case "plus": "let x = 1" + String(repeating: "+1", count: 37_000) + "\n"
        case "and": "let x = true" + String(repeating: " and true", count: 20_000) + "\n"
        case "or": "let x = false" + String(repeating: " or false", count: 20_000) + "\n"
        case "members": "let r = {a: 1}\nlet x = r" + String(repeating: ".a", count: 20_000) + "\n"
        case "calls": "fn f() { return f }\nlet x = f" + String(repeating: "()", count: 20_000) + "\n"
        case "indexes": "let x = [1]\nlet y = x" + String(repeating: "[0]", count: 20_000) + "\n"
        default: "let x = 1" + String(repeating: " < 1", count: 5_000) + "\n"
        }
    }

    @Test(arguments: ["plus", "and", "or", "members", "calls", "indexes", "comparisons"])
    func deepSyntaxIsADiagnostic(name: String) throws {
        let source = Self.deepSource(name)
        for command in ["check", "run"] {
            let r = try KairosBinary.run([command, "-"], stdin: source)
            #expect(r.status == 2, "\(name) \(command): status \(r.status)")
            #expect(r.stderr.contains("error: expression too long or too deeply nested (more than 1000 levels)"), "\(name): \(r.stderr.prefix(300))")
            #expect(r.stderr.components(separatedBy: "error:").count == 2, "\(name): one diagnostic")
            // The excerpt of a 100 000-character line is a window around the caret.
            #expect(r.stderr.count < 1000, "\(name): \(r.stderr.count) bytes of diagnostics")
        }
    }

    @Test(arguments: ["a = [a]", "a = {k: a}", "a[0] = a", "a = map([a], x => [x])"])
    func deepValuesAreARuntimeError(_ statement: String) throws {
        let start = statement.hasPrefix("a[0]") ? "[0]" : "[]"
        let r = try KairosBinary.run(["run", "-"], stdin: "let a = \(start)\nfor i in 1..25000 { \(statement) }\nprint(len(a))\n")
        #expect(r.status == 1, "status \(r.status): \(r.stderr)")
        #expect(r.stderr.contains("error: lists and records nest at most 1000 deep"), "\(r.stderr)")
    }

    /// A value as deep as allowed works everywhere a value is walked, and the script exits.
    @Test func deepestAllowedValueWorks() throws {
        let r = try KairosBinary.run(["run", "-"], stdin: """
        let a = []
        for i in 1..999 { a = [a] }
        let b = []
        for i in 1..999 { b = [b] }
        print(a == b, len(str(a)), len(json(a)))
        save([{deep: str(a)}], "/tmp/kairos-deep-{len(a)}.csv")
        print(a)
        """)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasPrefix("true 2000 2000\n"))
    }

    @Test func hugeNumbersPlot() throws {
        let r = try KairosBinary.run(["run", "-"], stdin: "plot([1e308, -1e308])\nplot([1e308, 1e308, -1e308, 5])\nplot([-1e308, -1e308])\n")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("1e+308") || r.stdout.contains("█"))
    }
}
