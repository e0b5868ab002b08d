import Dispatch
import KairosEngine
import KairosScript
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The interactive front door: `kairos` with no arguments on a terminal.
public final class REPL {
    public static let version = "0.1.0"

    private let environment: TerminalEnvironment
    private let output: TerminalOutput
    private let editor: LineEditor
    private let cancellation = CancellationFlag()
    private var interpreter: Interpreter
    private var timing = false
    private var inputNumber = 0
    /// The inputs that ran without error, as script text, for `:save FILE`.
    private var accepted: [String] = []
    /// Makes the remote backend for `:target remote URL` (`RemoteBackend.factory()` from `kairos`).
    private let remoteBackend: (@Sendable (String) -> (any SimulationBackend)?)?

    /// Nil when line editing cannot start.
    public init?(environment: TerminalEnvironment,
                 remoteBackend: (@Sendable (String) -> (any SimulationBackend)?)? = nil) {
        if let file = environment.historyFile { Self.ensureDirectory(of: file) }
        guard let editor = LineEditor(programName: "kairos", historyFile: environment.historyFile) else { return nil }
        self.environment = environment
        self.editor = editor
        self.remoteBackend = remoteBackend
        output = TerminalOutput(colour: environment.colour)
        interpreter = Interpreter(output: output, cancellation: cancellation)
        interpreter.remoteBackend = remoteBackend
        editor.complete = { [unowned self] line in self.completion(for: line) }
    }

    /// Runs until `:quit` or Ctrl-D on an empty line; returns the exit status.
    public func run() -> Int32 {
        LineEditor.installInterruptHandler()
        output.write(output.dim("Kairos \(Self.version) · engine \(engineText) · target \(targetText) · :help for help, Ctrl-D to leave") + "\n")
        while true {
            guard let input = readInput() else {
                output.write("\n")
                return 0
            }
            if input.allSatisfy(\.isWhitespace) { continue }
            editor.addHistory(input)
            let trimmed = input.drop { $0.isWhitespace }
            if trimmed.hasPrefix(":") {
                if handleMeta(String(trimmed)) == false { return 0 }
            } else if let subject = Self.watchSubject(String(trimmed)) {
                watch(subject)
            } else {
                evaluate(input, fileName: "<input>")
            }
        }
    }

    /// The version runs use: the pinned one, else the newest (the default), with what else is offered.
    private var engineText: String {
        let others = EngineRegistry.available.filter { $0 != EngineRegistry.latest }.map(\.description)
        let also = others.isEmpty ? "" : "; also \(others.joined(separator: ", "))"
        return interpreter.engine.map { "\($0) (pinned)" } ?? "\(EngineRegistry.latest) (default\(also))"
    }

    private var targetText: String {
        switch interpreter.target {
        case .embedded: "embedded"
        case .remote(let url): "remote \(url)"
        }
    }

    /// Reads one whole input (several lines while it is incomplete); nil at end of input.
    private func readInput() -> String? {
        var lines: [String] = []
        while true {
            switch editor.readLine(prompt: lines.isEmpty ? output.prompt("krs> ") : output.prompt("...> ")) {
            case .endOfInput:
                if lines.isEmpty { return nil }
                output.write("\n")
                lines = []
            case .interrupted:
                output.write("^C\n")
                lines = []
            case .line(let line):
                lines.append(line)
                let text = lines.joined(separator: "\n")
                if lines.count == 1, line.drop(while: \.isWhitespace).hasPrefix(":") { return text }
                if !InputCompleteness.needsContinuation(text) { return text }
            }
        }
    }

    // MARK: Evaluation

    /// Evaluates with Ctrl-C wired to cooperative cancellation; the session survives.
    @discardableResult
    private func evaluate(_ source: String, fileName: String, showValue: Bool = true, saveAs script: String? = nil) -> Bool {
        inputNumber += 1
        let clock = ContinuousClock()
        let started = clock.now
        let evaluation = withInterruptWatcher { interpreter.evaluate(source: source, fileName: fileName) }
        let elapsed = clock.now - started
        let text = SourceText(source, fileName: fileName)
        if evaluation.diagnostics.first?.id == "interrupted" {
            output.write(output.dim("interrupted") + "\n")
        } else if !evaluation.diagnostics.isEmpty {
            output.writeError(DiagnosticRenderer.render(evaluation.diagnostics, source: text) + "\n")
        }
        let succeeded = evaluation.succeeded
        if succeeded {
            if showValue, let value = evaluation.value, !value.isNull {
                output.write(Self.display(value) + "\n")
                // `_` is the last value printed.
                interpreter.define("_", value)
                accepted.append(Self.scriptText(forShown: source))
            } else {
                accepted.append(script ?? source)
            }
        }
        if timing { output.write(output.dim("(\(Self.format(elapsed)))") + "\n") }
        return succeeded
    }

    /// An input whose value the REPL printed, as script text that does the same: a single
    /// expression becomes `let _ = EXPR` and `print(_)`, so later inputs that use `_` still run.
    static func scriptText(forShown source: String) -> String {
        let trimmed = Substring(source).trimmingSpaces()
        let program = Parser.parse(trimmed).program
        guard program.statements.count == 1, case .expression = program.statements[0].kind else { return source }
        return "let _ = \(trimmed)\nprint(_)"
    }

    /// `:save FILE`: the accepted inputs of this session as a runnable script.
    private func saveSession(to path: String) {
        var text = "#!/usr/bin/env kairos\n# Saved from a kairos REPL session (\(accepted.count) input\(accepted.count == 1 ? "" : "s")).\n"
        for input in accepted { text += input.hasSuffix("\n") ? input : input + "\n" }
        guard let file = fopen(path, "w") else {
            output.writeError(output.red("error: ") + "cannot write \(path): \(String(cString: strerror(errno)))\n")
            return
        }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count, file) }
        let closed = fclose(file)
        guard written == bytes.count, closed == 0 else {
            output.writeError(output.red("error: ") + "cannot write \(path)\n")
            return
        }
        output.write("saved \(accepted.count) input\(accepted.count == 1 ? "" : "s") to \(path)\n")
    }

    /// `watch EXPR`: the expression after the word, or nil when the input is not a watch.
    public static func watchSubject(_ input: String) -> String? {
        guard input.hasPrefix("watch"), let next = input.dropFirst(5).first, next == " " || next == "\t" else { return nil }
        let rest = input.dropFirst(5).trimmingPrefix { $0 == " " || $0 == "\t" }
        let subject = String(rest.reversed().drop { $0.isWhitespace }.reversed())
        return subject.isEmpty ? nil : subject
    }

    /// Prints a remote simulation's live events until Ctrl-C.
    private func watch(_ subject: String) {
        let evaluation = interpreter.evaluate(source: subject, fileName: "<watch>")
        if !evaluation.diagnostics.isEmpty {
            output.writeError(DiagnosticRenderer.render(evaluation.diagnostics, source: SourceText(subject, fileName: "<watch>")) + "\n")
            return
        }
        guard case .simulation(let handle)? = evaluation.value else {
            output.writeError("error: watch takes a simulation (let sim = start …), got \(evaluation.value?.typeName ?? "nothing")\n")
            return
        }
        guard let watchable = handle.watchable else {
            output.writeError("error: watch follows simulations on a server; \(subject) runs on the embedded engine\n"
                + "hint: :target remote URL, then start the simulation there\n")
            return
        }
        output.write(output.dim("watching \(subject) · Ctrl-C to stop") + "\n")
        let failure: BackendError? = withInterruptWatcher { () -> BackendError? in
            do throws(BackendError) {
                try watchable.watch(cancellation: cancellation) { line in TerminalOutput.write(line + "\n", to: STDOUT_FILENO) }
                return nil
            } catch {
                return error
            }
        }
        if let failure {
            output.writeError("error: \(failure.message)\n" + (failure.hint.map { "hint: \($0)\n" } ?? ""))
        } else {
            output.write(output.dim("stopped watching") + "\n")
        }
    }

    /// Runs `body` while a watcher turns SIGINT into a cancellation request.
    private func withInterruptWatcher<T>(_ body: () -> T) -> T {
        cancellation.reset()
        LineEditor.clearInterrupt()
        let state = WatcherState()
        let flag = cancellation
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            while state.active.load(ordering: .relaxed) {
                if LineEditor.interruptPending { flag.cancel() }
                usleep(10_000)
            }
            done.signal()
        }
        let result = body()
        state.active.store(false, ordering: .relaxed)
        done.wait()
        LineEditor.clearInterrupt()
        cancellation.reset()
        return result
    }

    // MARK: Meta commands

    /// Handles a `:` command; false means leave.
    private func handleMeta(_ line: String) -> Bool {
        let command: MetaCommand
        do {
            command = try MetaCommand.parse(line)
        } catch {
            output.writeError(output.red("error: ") + error.description + "\n")
            return true
        }
        switch command {
        case .quit:
            return false
        case .help(let topic):
            output.write(Help.text(topic: topic) + "\n")
        case .load(let path):
            guard let source = Self.readFile(path) else {
                output.writeError(output.red("error: ") + "cannot read \(path)\n")
                return true
            }
            evaluate(source, fileName: path, showValue: false, saveAs: "# :load \(path)\n" + source)
        case .reset:
            interpreter = Interpreter(output: output, cancellation: cancellation)
            interpreter.remoteBackend = remoteBackend
            accepted = []
            output.write("session reset\n")
        case .vars:
            let names = interpreter.namesInScope.filter { interpreter.value(named: $0) != nil && !Help.builtinNames.contains($0) }
            if names.isEmpty { output.write(output.dim("(no bindings)") + "\n") }
            for name in names {
                guard let value = interpreter.value(named: name) else { continue }
                output.write("\(name): \(value.typeName) = \(Self.oneLine(value.repr))\n")
            }
        case .targetEmbedded:
            interpreter.use(.embedded)
            accepted.append("use embedded")
            output.write("target: \(targetText)\n")
        case .targetRemote(let url):
            interpreter.use(.remote(url))
            accepted.append("use remote \(Self.quoted(url))")
            output.write("target: \(targetText)\n")
        case .engine(let version):
            evaluate("use engine \(Self.quoted(version))", fileName: "<:engine>", showValue: false)
            if let pinned = EngineVersion(version), interpreter.engine == pinned { output.write("engine: \(engineText)\n") }
        case .compile(let expression):
            compile(line, expression: expression)
        case .save(let path):
            saveSession(to: path)
        case .time(let on):
            timing = on
            output.write("timing \(on ? "on" : "off")\n")
        case .history:
            for (i, entry) in editor.entries.enumerated() {
                let lines = entry.split(separator: "\n", omittingEmptySubsequences: false)
                let number = String(i + 1)
                output.write(String(repeating: " ", count: max(0, 4 - number.count)) + number + "  "
                    + lines.joined(separator: "\n      ") + "\n")
            }
        }
        return true
    }

    /// `:compile EXPR`: the JSON the API takes, pretty-printed. Diagnostics point into the
    /// line as typed (`:compile EXPR`), never into an internal rewrite.
    private func compile(_ line: String, expression: String) {
        // `compile EXPR` is padded so that EXPR's columns are those of the typed line.
        let exprColumn = line.distance(from: line.startIndex, to: line.firstRange(of: expression)?.lowerBound ?? line.endIndex)
        let source = String(repeating: " ", count: max(0, exprColumn - "compile ".count)) + "compile " + expression
        let evaluation = withInterruptWatcher { interpreter.evaluate(source: source, fileName: "<input>") }
        if !evaluation.diagnostics.isEmpty {
            output.writeError(DiagnosticRenderer.render(evaluation.diagnostics, source: SourceText(line, fileName: "<input>")) + "\n")
            return
        }
        guard let value = evaluation.value, let json = interpreter.json(of: value) else { return }
        output.write(json.prettyPrinted() + "\n")
    }

    // MARK: Completion

    func completion(for line: String) -> Completion {
        if let quote = line.firstRange(of: ":load \"") ?? line.firstRange(of: ":load "), line.hasPrefix(":load") {
            let typed = String(line[quote.upperBound...])
            var candidates = FileCompletion.candidates(for: typed)
            // One file left: close the quote the user opened.
            if candidates.count == 1, !candidates[0].hasSuffix("/"), line.hasPrefix(":load \"") { candidates[0] += "\"" }
            return Completion(prefix: typed, candidates: candidates)
        }
        if line.hasPrefix(":help ") || line.hasPrefix(":h ") {
            let typed = String(line.drop { $0 != " " }.dropFirst())
            let topics = HelpCatalog.names + Help.topics.keys.sorted() + ["builtins"]
            var seen = Set<String>()
            return Completion(prefix: typed, candidates: topics.filter { $0.hasPrefix(typed) && seen.insert($0).inserted }.sorted())
        }
        if line.hasPrefix(":"), !line.contains(" ") {
            let typed = String(line.dropFirst())
            return Completion(prefix: typed, candidates: MetaCommand.names.filter { $0.hasPrefix(typed) })
        }
        let word = String(line.reversed().prefix { $0.isLetter || $0.isNumber || $0 == "_" }.reversed())
        let quotedWord = String(line.reversed().prefix { $0 != "\"" }.reversed())
        if line.filter({ $0 == "\"" }).count % 2 == 1 {
            // `help("fin` completes any name the reference knows (keywords, members).
            if line.dropLast(quotedWord.count).hasSuffix("help(\"") {
                return Completion(prefix: quotedWord, candidates: HelpCatalog.names.filter { $0.hasPrefix(quotedWord) })
            }
            // Inside a string: catalog ids and file paths.
            let ids = ScenarioCatalog.all.map(\.id).filter { $0.hasPrefix(quotedWord) }
            return Completion(prefix: quotedWord, candidates: ids.isEmpty ? FileCompletion.candidates(for: quotedWord) : ids)
        }
        var candidates = interpreter.completions(for: line)
        let dotted = line.reversed().prefix { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." }
        if !dotted.contains(".") {
            candidates += EventKind.allCases.map(\.rawValue).filter { $0.hasPrefix(word) && !word.isEmpty }
            candidates += AISafetyInput.EventType.allCases.map(\.rawValue).filter { $0.hasPrefix(word) && !word.isEmpty }
        }
        var seen = Set<String>()
        return Completion(prefix: word, candidates: candidates.filter { seen.insert($0).inserted }.sorted())
    }

    // MARK: Helpers

    /// How the REPL shows an expression's value: traces as their summary with a sparkline.
    static func display(_ value: Value) -> String {
        if case .trace(let trace) = value { return trace.summaryText }
        return value.repr
    }

    static func quoted(_ s: String) -> String {
        "\"" + s.replacingAll("\\", with: "\\\\").replacingAll("\"", with: "\\\"").replacingAll("{", with: "\\{") + "\""
    }

    static func oneLine(_ s: String) -> String {
        let first = s.split(separator: "\n").first.map(String.init) ?? ""
        return first.count > 70 ? String(first.prefix(67)) + "…" : first
    }

    static func format(_ d: Duration) -> String {
        let ms = Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
        return ms < 1000 ? formatFixed(ms, 1) + " ms" : formatFixed(ms / 1000, 2) + " s"
    }

    static func readFile(_ path: String) -> String? {
        guard let f = fopen(path, "r") else { return nil }
        defer { fclose(f) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&buffer, 1, buffer.count, f)
            if n <= 0 { break }
            bytes.append(contentsOf: buffer[0 ..< n])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func ensureDirectory(of file: String) {
        guard let slash = file.lastIndex(of: "/") else { return }
        let dir = String(file[..<slash])
        var path = ""
        for part in dir.split(separator: "/") {
            path += "/" + part
            mkdir(path, 0o755)
        }
    }
}

private final class WatcherState: Sendable {
    let active = Atomic<Bool>(true)
}

extension String {
    func replacingAll(_ target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}

extension Value {
    var isNull: Bool {
        if case .null = self { return true }
        return false
    }
}
