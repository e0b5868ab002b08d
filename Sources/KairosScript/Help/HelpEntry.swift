/// One entry of the language reference that `help(x)`, `:help x`, Tab completion after
/// `help(` and `docs/language.md` are built from. Every `example` is a runnable script
/// (the tests run each one), so the reference cannot drift from the language.
public struct HelpEntry: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case builtin, keyword, statement, traceMember = "trace member", stepMember = "step member",
             simulationMember = "simulation member", scenarioMember = "scenario member", meta = "REPL command"
    }

    public let name: String
    public let kind: Kind
    /// `quantile(xs, q)`, `for NAME in EXPR { … }`, `t.final_phase`, `:load "FILE"`.
    public let signature: String
    /// One line: what it does.
    public let summary: String
    /// A runnable snippet; for meta commands, what to type at the prompt.
    public let example: String

    public init(_ name: String, _ kind: Kind, _ signature: String, _ summary: String, example: String) {
        self.name = name
        self.kind = kind
        self.signature = signature
        self.summary = summary
        self.example = example
    }
}
