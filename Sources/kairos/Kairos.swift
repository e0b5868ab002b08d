import ArgumentParser
import KairosREPL

#if canImport(Glibc)
import Glibc
#endif

struct Kairos: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kairos",
        abstract: "The Kairos Recursive Causality Simulator.",
        discussion: """
        With no arguments on a terminal, kairos opens the REPL; with standard input not a \
        terminal it runs standard input as a script. `kairos FILE.krs` runs a script, so \
        `#!/usr/bin/env kairos` files run directly.
        """,
        version: KairosVersion.string,
        subcommands: [Simulate.self, Run.self, Check.self, Compile.self]
    )
}

/// The entry point: chooses between the REPL, a script, and the subcommands before argument parsing.
@main
enum KairosMain {
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        switch RootInvocation(arguments) {
        case .repl:
            let environment = TerminalEnvironment.current()
            if environment.stdinIsTerminal, let repl = REPL(environment: environment) {
                Glibc.exit(repl.run())
            }
            await Kairos.main(["run", "-"])
        case .script(let path):
            await Kairos.main(["run", path])
        case .command(let arguments):
            await Kairos.main(arguments)
        }
    }
}

/// What the first arguments ask for.
enum RootInvocation: Equatable {
    case repl
    case script(String)
    case command([String])

    init(_ arguments: [String]) {
        guard let first = arguments.first else {
            self = .repl
            return
        }
        let subcommands = Kairos.configuration.subcommands.map { $0._commandName } + ["help"]
        if arguments.count == 1, !first.hasPrefix("-"), !subcommands.contains(first),
           first.hasSuffix(".krs") || Self.isRegularFile(first)
        {
            self = .script(first)
        } else {
            self = .command(arguments)
        }
    }

    static func isRegularFile(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
    }
}

enum KairosVersion {
    static let string = "0.1.0"
}
