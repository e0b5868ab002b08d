import Foundation
import KairosScript
import Testing

/// The language reference: `help(x)`, `:help x` and `docs/language.md` come from one catalog,
/// whose every example is a script that must run.
@Suite struct HelpTests {
    /// The built-ins LANGUAGE.md lists (section "Built-ins", and "Analysis (language 1.1)"),
    /// copied here because the project does not read the specification at test time.
    static let specifiedBuiltins = [
        "print", "len", "range", "sum", "mean", "min", "max", "abs", "round", "floor", "ceil", "sqrt", "map", "filter",
        "sort", "keys", "str", "json", "table", "plot", "save", "load", "assert",
        "median", "quantile", "stdev", "variance", "ci", "number", "grid", "type", "help", "pow", "exp", "log", "split",
        "join", "format",
    ]

    static let runnable = HelpCatalog.all.filter { $0.kind != .meta }

    @Test(arguments: runnable.indices)
    func everyExampleRuns(index: Int) {
        let entry = Self.runnable[index]
        let (output, result) = runScript(entry.example, fileName: "help-\(entry.name).krs")
        #expect(result.succeeded, "help(\(entry.name)) example: \(result.diagnostics.map(\.description))")
        #expect(!output.isEmpty || entry.name == "save", "help(\(entry.name)) example prints nothing")
    }

    @Test func everyBuiltinHasAnEntry() {
        for name in Interpreter.builtinNames {
            #expect(HelpCatalog.all.contains { $0.name == name && $0.kind == .builtin }, "no help entry for built-in \(name)")
        }
        for entry in HelpCatalog.all where entry.kind == .builtin {
            #expect(Interpreter.builtinNames.contains(entry.name), "help documents \(entry.name), which is not a built-in")
        }
    }

    @Test func everyKeywordHasAnEntry() {
        for word in ["let", "fn", "return", "if", "else", "for", "in", "while", "break", "continue", "true", "false", "null",
                     "and", "or", "not", "scenario", "run", "stream", "compile", "as", "start", "step", "ticks", "by", "at", "use"] {
            #expect(!HelpCatalog.entries(named: word).isEmpty, "no help entry for keyword \(word)")
        }
    }

    @Test func membersHaveEntries() {
        for name in Interpreter.traceMembers { #expect(HelpCatalog.all.contains { $0.name == name && $0.kind == .traceMember }, "trace.\(name)") }
        for name in Interpreter.stepMembers { #expect(HelpCatalog.all.contains { $0.name == name && $0.kind == .stepMember }, "step.\(name)") }
        for name in Interpreter.simulationMembers {
            #expect(HelpCatalog.all.contains { $0.name == name && $0.kind == .simulationMember }, "sim.\(name)")
        }
    }

    @Test func helpPrintsSignatureMeaningAndExample() {
        let (output, result) = runScript("help(mean)\nhelp(\"stream\")\nhelp(\"final_phase\")")
        #expect(result.succeeded)
        #expect(output.contains("mean(xs)"))
        #expect(output.contains("the arithmetic mean"))
        #expect(output.contains("example:"))
        #expect(output.contains("stream S [ticks N]"))
        #expect(output.contains("t.final_phase"))
    }

    @Test func helpOnAValueListsItsMembers() {
        let (output, result) = runScript(HelpCatalog.allExamplesPrelude + "\nhelp(run s)")
        #expect(result.succeeded, "\(result.diagnostics.map(\.description))")
        #expect(output.hasPrefix("a trace has:"))
        #expect(output.contains("t.mean_stability"))
    }

    @Test func unknownHelpSuggests() {
        let (_, result) = runScript("help(\"final_phse\")")
        #expect(result.diagnostics.first?.message == "no help on \"final_phse\"")
        #expect(result.diagnostics.first?.hint == "did you mean \"final_phase\"?")
    }

    /// docs/language.md's reference agrees with the language: every built-in LANGUAGE.md names
    /// is documented, and every built-in documented exists.
    @Test func languageReferenceAgreesWithTheSpecification() throws {
        let doc = try Repository.text(Repository.root.appendingPathComponent("docs/language.md"))
        for name in Self.specifiedBuiltins {
            #expect(doc.contains("| `\(name)("), "docs/language.md does not document \(name)")
            #expect(Interpreter.builtinNames.contains(name), "LANGUAGE.md's \(name) is not a built-in")
        }
        let documented = doc.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("| `"), let paren = line.dropFirst(3).firstIndex(of: "(") else { return nil }
            let name = line[line.index(line.startIndex, offsetBy: 3) ..< paren]
            return name.allSatisfy { $0.isLetter || $0 == "_" } ? String(name) : nil
        }
        #expect(documented.count >= Self.specifiedBuiltins.count)
        for name in documented {
            #expect(Interpreter.builtinNames.contains(name), "docs/language.md documents \(name)(…), which is not a built-in")
        }
    }

    /// The reference section of docs/language.md is `kairos reference --markdown`, so it cannot drift.
    @Test func languageReferenceIsGeneratedFromTheCatalog() throws {
        let doc = try Repository.text(Repository.root.appendingPathComponent("docs/language.md"))
        #expect(doc.contains(HelpCatalog.markdown), "regenerate: kairos reference --markdown (see docs/language.md)")
    }
}
