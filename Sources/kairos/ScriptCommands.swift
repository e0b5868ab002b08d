import ArgumentParser
import Foundation
import Dispatch
import KairosEngine
import KairosRemote
import KairosScript

#if canImport(Glibc)
import Glibc
#endif

/// `kairos run FILE.krs`: run a Kairos Script.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a Kairos Script (.krs) file.",
        discussion: """
        Use - for standard input. A file starting with #!/usr/bin/env kairos runs directly. \
        Exit status: 0 ok, 1 runtime error or failed assert, 2 syntax or semantic errors.
        """)

    @Option(name: .customLong("remote"), help: ArgumentHelp(
        "Run on the Kairos server at URL, as if the script began with `use remote \"URL\"` (key from KAIROS_API_KEY).",
        valueName: "URL"))
    var remote: String?

    @Option(name: .customLong("connect-timeout"), help: ArgumentHelp(
        "Seconds to wait for a remote server's connection before failing (default 5, or KAIROS_CONNECT_TIMEOUT).",
        valueName: "SECONDS"))
    var connectTimeout: Double?

    @Argument(help: "Script file, or - for standard input.")
    var file: String

    @Argument(parsing: .captureForPassthrough, help: "Arguments for the script, as the list `args`.")
    var arguments: [String] = []

    func run() throws {
        let script = ScriptFile.read(file)
        let output = StdoutSink()
        let interpreter = Interpreter(output: output)
        var environment = ProcessInfo.processInfo.environment
        if let connectTimeout {
            guard connectTimeout > 0, connectTimeout <= 3600 else { CLI.fail("--connect-timeout: between 0 and 3600 seconds", code: 2) }
            environment["KAIROS_CONNECT_TIMEOUT"] = String(connectTimeout)
        }
        interpreter.remoteBackend = RemoteBackend.factory(environment: environment)
        interpreter.define("args", .list(arguments.map { .string($0) }))
        if let remote { interpreter.use(.remote(remote)) }
        interpreter.onWarning = { ScriptFile.report([$0], script) }
        let stopOnInterrupt = InterruptHandler(interpreter.cancellation)
        let result = interpreter.evaluate(source: script.text, fileName: script.name)
        output.flush()
        withExtendedLifetime(stopOnInterrupt) {}
        ScriptFile.report(result.diagnostics, script)
        // Stopped by Ctrl-C: the conventional status of a SIGINT.
        if result.diagnostics.contains(where: { $0.id == "interrupted" }) { throw ExitCode(130) }
        if result.exitStatus != 0 { throw ExitCode(result.exitStatus) }
    }
}

/// `kairos check FILE.krs`: syntax and semantic diagnostics only.
struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check Kairos Script files without running them.",
        discussion: "Prints every syntax and semantic error; exit status 2 when there is one, else 0.")

    @Argument(help: "Script files, or - for standard input.")
    var files: [String]

    func run() throws {
        var failed = false
        for file in files {
            let script = ScriptFile.read(file)
            let diagnostics = Interpreter(output: StdoutSink()).check(source: script.text, fileName: script.name)
            ScriptFile.report(diagnostics, script)
            failed = failed || diagnostics.contains { $0.severity == .error }
        }
        if failed { throw ExitCode(2) }
    }
}

/// `kairos compile FILE.krs`: every top-level scenario value as the JSON the API takes.
struct Compile: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print every top-level scenario of a Kairos Script as JSON.",
        discussion: """
        One line per top-level scenario value and per top-level `compile …` statement, in file order, \
        each a run request that `kairos simulate -` and POST /v1/simulations/run accept: \
        {"domain": "ai-safety", "input": …, "ticks": N} for scenarios of models only, else \
        {"scenario": …, "ticks": N}. Runs, streams and prints in the file are not executed, and a \
        `let` that needs a run is skipped. Parameterized scenarios (`scenario sweep(cap) { … }`) are \
        emitted by writing `compile sweep(550)` in the script; a warning names those left out.
        """)

    enum Form: String, ExpressibleByArgument, CaseIterable {
        case scenario, domain
    }

    @Argument(help: "Script file, or - for standard input.")
    var file: String

    @Option(name: .customLong("as"), help: "scenario | domain (default: domain input where possible)")
    var form: Form?

    func run() throws {
        let script = ScriptFile.read(file)
        let interpreter = Interpreter(output: StdoutSink())
        interpreter.remoteBackend = RemoteBackend.factory()
        let compiled = interpreter.compileScenarios(source: script.text, fileName: script.name)
        ScriptFile.report(compiled.diagnostics, script)
        if !compiled.succeeded { throw ExitCode(compiled.diagnostics.contains { $0.phase == .runtime } ? 1 : 2) }
        let compileForm: CompileForm = switch form {
        case .scenario: .scenario
        case .domain: .domain
        case nil: .automatic
        }
        var out = ""
        for item in compiled.items {
            switch item {
            case .scenario(let name, let scenario):
                guard let json = scenario.requestJSON(form: compileForm, engine: interpreter.engine) else {
                    CLI.fail("\(script.name): error: scenario \(name) cannot be compiled as a domain input: \(scenario.domainObstacle ?? "")",
                             code: 1)
                }
                out += CanonicalJSON.string(json) + "\n"
            case .json(let json):
                out += CanonicalJSON.string(json) + "\n"
            }
        }
        if !compiled.parameterized.isEmpty {
            let names = compiled.parameterized.joined(separator: ", ")
            let first = compiled.parameterized[0].prefix { $0 != "(" }
            CLI.writeStderr("\(script.name): warning: not emitted, \(compiled.parameterized.count == 1 ? "it takes" : "they take") parameters: "
                + "\(names); add a statement such as 'compile \(first)(…)' with values to the script to emit one\n")
        } else if compiled.items.isEmpty {
            CLI.writeStderr("\(script.name): warning: no top-level scenario values or compile statements\n")
        }
        CLI.writeStdout(Array(out.utf8))
    }
}

/// `kairos reference [NAME]`: the language reference (what `help(NAME)` prints).
struct Reference: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the Kairos Script reference: every built-in, keyword, member and REPL command.",
        discussion: """
        With a NAME, its signature, meaning and a runnable example (as help(NAME) and :help NAME \
        print them); without, the table of built-ins. --markdown prints the whole reference as \
        docs/language.md carries it.
        """)

    @Argument(help: "A built-in, keyword or member (quantile, stream, final_phase, :load).")
    var name: String?

    @Flag(help: "Print the whole reference as Markdown.")
    var markdown = false

    func run() throws {
        if markdown {
            CLI.writeStdout(Array(HelpCatalog.markdown.utf8))
            return
        }
        guard let name else {
            CLI.writeStdout(Array(("Built-ins (kairos reference NAME for one):\n" + HelpCatalog.builtinTable + "\n").utf8))
            return
        }
        let entries = HelpCatalog.entries(named: name)
        guard !entries.isEmpty else {
            let hint = closestName(to: name, in: HelpCatalog.names).map { "; did you mean \"\($0)\"?" } ?? ""
            CLI.fail("no reference entry for \"\(name)\"\(hint)", code: 2)
        }
        CLI.writeStdout(Array((HelpCatalog.render(entries) + "\n").utf8))
    }
}

/// A script's text and the name diagnostics use.
struct ScriptFile {
    var name: String
    var text: String

    static func read(_ path: String) -> ScriptFile {
        let name = path == "-" ? "<stdin>" : path
        let bytes: [UInt8]
        switch CLI.readText(path) {
        case .success(let b): bytes = b
        case .failure(let error): CLI.fail("\(name): \(error)", code: 2)
        }
        return ScriptFile(name: name, text: String(decoding: bytes, as: UTF8.self))
    }

    /// At most this many diagnostics are printed (a binary file read as a script would give
    /// thousands); the rest are counted.
    static let maxReported = 50

    static func report(_ diagnostics: [Diagnostic], _ script: ScriptFile) {
        guard !diagnostics.isEmpty else { return }
        let source = SourceText(script.text, fileName: script.name)
        CLI.writeStderr(DiagnosticRenderer.render(Array(diagnostics.prefix(maxReported)), source: source) + "\n")
        if diagnostics.count > maxReported {
            CLI.writeStderr("\(script.name): and \(diagnostics.count - maxReported) more diagnostics\n")
        }
    }
}

/// Standard output through a buffer, flushed at every newline when it is a terminal (so
/// progress prints show up) and in 64 KiB blocks otherwise.
final class StdoutSink: OutputSink {
    private var buffer: [UInt8] = []
    private let interactive = isatty(STDOUT_FILENO) != 0

    func write(_ text: String) {
        buffer.append(contentsOf: text.utf8)
        if interactive || buffer.count >= 1 << 16 { flush() }
    }

    func flush() {
        CLI.writeStdout(buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    deinit { flush() }
}

/// Turns Ctrl-C into a cooperative stop of the running script.
final class InterruptHandler {
    private let source: any DispatchSourceSignal

    init(_ flag: CancellationFlag) {
        signal(SIGINT, SIG_IGN)
        source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler { flag.cancel() }
        source.resume()
    }

    deinit {
        source.cancel()
        signal(SIGINT, SIG_DFL)
    }
}

extension Kairos {
    /// `kairos FILE.krs [args]` runs the file (so `#!/usr/bin/env kairos` scripts work);
    /// `kairos` with no arguments and standard input not a terminal runs standard input.
    static func dispatch(_ commandLine: [String]) async {
        var arguments = commandLine
        let subcommands = Set(configuration.subcommands.map { $0._commandName })
        // Only what looks like a script: a misspelt subcommand still gets its "did you mean".
        if let first = arguments.first, !subcommands.contains(first), first != "help",
           first == "-" || (!first.hasPrefix("-") && (first.hasSuffix(".krs") || first.contains("/") || access(first, F_OK) == 0)) {
            arguments.insert("run", at: 0)
        } else if arguments.isEmpty, isatty(STDIN_FILENO) == 0 {
            arguments = ["run", "-"]
        }
        do {
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}
