import ArgumentParser
import KairosREPL
import KairosRemote

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
        subcommands: [Simulate.self, Run.self, Check.self, Compile.self, Reference.self, Serve.self, Keys.self, Token.self]
    )
}

/// The entry point: the REPL for `kairos` alone on a terminal, else scripts and subcommands
/// (`Kairos.dispatch`).
@main
enum KairosMain {
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.isEmpty {
            let environment = TerminalEnvironment.current()
            if environment.stdinIsTerminal, let repl = REPL(environment: environment, remoteBackend: RemoteBackend.factory()) {
                Glibc.exit(repl.run())
            }
        }
        await Kairos.dispatch(arguments)
    }
}

enum KairosVersion {
    static let string = "0.1.0"
}
