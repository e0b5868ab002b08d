/// The whole language reference (see `HelpEntry`).
public enum HelpCatalog {
    public static var all: [HelpEntry] { core + analysis }

    /// The core entries: built-ins of language 1.0, keywords, statements, members, REPL commands.
    static let core: [HelpEntry] = []

    public static func entries(named name: String) -> [HelpEntry] {
        all.filter { $0.name == name }
    }
}
