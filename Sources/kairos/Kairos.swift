import ArgumentParser

@main
struct Kairos: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kairos",
        abstract: "The Kairos Recursive Causality Simulator.",
        version: KairosVersion.string,
        subcommands: [Simulate.self, Serve.self, Keys.self, Token.self]
    )
}

enum KairosVersion {
    static let string = "0.1.0"
}
