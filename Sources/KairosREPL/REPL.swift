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
    private func evaluate(_ source: String, fileName: String, showValue: Bool = true) {
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
        } else if showValue, let value = evaluation.value, !value.isNull {
            output.write(Self.display(value) + "\n")
        }
        if timing { output.write(output.dim("(\(Self.format(elapsed)))") + "\n") }
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
            evaluate(source, fileName: path, showValue: false)
        case .reset:
            interpreter = Interpreter(output: output, cancellation: cancellation)
            interpreter.remoteBackend = remoteBackend
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
            output.write("target: \(targetText)\n")
        case .targetRemote(let url):
            interpreter.use(.remote(url))
            output.write("target: \(targetText)\n")
        case .engine(let version):
            evaluate("use engine \(Self.quoted(version))", fileName: "<:engine>", showValue: false)
            if let pinned = EngineVersion(version), interpreter.engine == pinned { output.write("engine: \(engineText)\n") }
        case .compile(let expression):
            compile(expression)
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

    /// `:compile EXPR`: the JSON the API takes, pretty-printed.
    private func compile(_ expression: String) {
        let source = "json(compile \(expression))"
        let evaluation = withInterruptWatcher { interpreter.evaluate(source: source, fileName: "<:compile>") }
        if !evaluation.diagnostics.isEmpty {
            output.writeError(DiagnosticRenderer.render(evaluation.diagnostics, source: SourceText(source, fileName: "<:compile>")) + "\n")
            return
        }
        guard case .string(let text)? = evaluation.value, let json = try? JSONParser.parse(text) else { return }
        output.write(json.prettyPrinted() + "\n")
    }

    // MARK: Completion

    func completion(for line: String) -> Completion {
        if let quote = line.firstRange(of: ":load \"") ?? line.firstRange(of: ":load "), line.hasPrefix(":load") {
            let typed = String(line[quote.upperBound...])
            return Completion(prefix: typed, candidates: FileCompletion.candidates(for: typed))
        }
        if line.hasPrefix(":"), !line.contains(" ") {
            let typed = String(line.dropFirst())
            return Completion(prefix: typed, candidates: MetaCommand.names.filter { $0.hasPrefix(typed) })
        }
        let word = String(line.reversed().prefix { $0.isLetter || $0.isNumber || $0 == "_" }.reversed())
        let quotedWord = String(line.reversed().prefix { $0 != "\"" }.reversed())
        if line.filter({ $0 == "\"" }).count % 2 == 1 {
            // Inside a string: catalog ids and file paths.
            let ids = ScenarioCatalog.all.map(\.id).filter { $0.hasPrefix(quotedWord) }
            return Completion(prefix: quotedWord, candidates: ids.isEmpty ? FileCompletion.candidates(for: quotedWord) : ids)
        }
        var candidates = interpreter.completions(for: line)
        if !line.reversed().prefix(while: { $0.isLetter || $0.isNumber || $0 == "_" }).contains(".") {
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
