import Foundation
import KairosScript
import Testing

/// Every `.krs` file under `Conformance/` is a runnable spec: `# expect: TEXT` lines give
/// its standard output line by line, `# expect error L:C: MESSAGE` its diagnostics in order
/// (`# expect hint: TEXT` the hint of the error before it, `# expect warning L:C: MESSAGE` a
/// warning, `# expect frame: in f(x), called at L:C` the next frame of the error's call stack).
@Suite struct ConformanceTests {
    static let files = Repository.files(in: "Tests/KairosScriptTests/Conformance", withExtension: "krs")

    struct Expectation {
        var output: [String] = []
        var errors: [(location: String, message: String, hint: String?, severity: Severity, frames: [String])] = []
    }

    static func expectations(_ source: String) -> Expectation {
        var e = Expectation()
        for rawLine in source.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            guard let range = rawLine.range(of: "# expect") else { continue }
            let rest = rawLine[range.upperBound...]
            if rest.hasPrefix(": ") || rest == ":" {
                e.output.append(String(rest.dropFirst(rest.hasPrefix(": ") ? 2 : 1)))
            } else if rest.hasPrefix(" error ") || rest.hasPrefix(" warning ") {
                let severity: Severity = rest.hasPrefix(" error ") ? .error : .warning
                let body = rest.dropFirst(severity == .error ? " error ".count : " warning ".count)
                guard let colon = body.range(of: ": ") else { continue }
                e.errors.append((String(body[..<colon.lowerBound]), String(body[colon.upperBound...]), nil, severity, []))
            } else if rest.hasPrefix(" hint: "), !e.errors.isEmpty {
                e.errors[e.errors.count - 1].hint = String(rest.dropFirst(" hint: ".count))
            } else if rest.hasPrefix(" frame: "), !e.errors.isEmpty {
                e.errors[e.errors.count - 1].frames.append(String(rest.dropFirst(" frame: ".count)))
            }
        }
        return e
    }

    @Test func thereAreEnoughConformanceFiles() {
        #expect(Self.files.count >= 250)
    }

    @Test(arguments: files.map(\.lastPathComponent))
    func conformance(file: String) throws {
        let url = Repository.root.appendingPathComponent("Tests/KairosScriptTests/Conformance/\(file)")
        let source = try Repository.text(url)
        let expected = Self.expectations(source)
        #expect(!expected.output.isEmpty || !expected.errors.isEmpty, "\(file) has no expectations")
        let (output, result) = runScript(source, fileName: file)
        var lines = output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        #expect(lines == expected.output, "\(file): output")
        let actual = result.diagnostics.map {
            ("\($0.location.line):\($0.location.column)", $0.message, $0.hint, $0.severity,
             $0.frames.map { "in \($0.function), called at \($0.callSite.start)" + ($0.count > 1 ? " (\($0.count) times)" : "") })
        }
        #expect(actual.count == expected.errors.count,
                "\(file): diagnostics \(result.diagnostics.map(\.description))")
        for (a, e) in zip(actual, expected.errors) {
            #expect(a.0 == e.location && a.1 == e.message && a.3 == e.severity, "\(file): got \(a.3) \(a.0): \(a.1)")
            if let hint = e.hint { #expect(a.2 == hint, "\(file): hint") }
            #expect(a.4 == e.frames, "\(file): call stack")
        }
    }
}
