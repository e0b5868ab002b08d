#if canImport(Glibc)
import Glibc
#endif

/// Facts about where the REPL runs, read once at start-up from the process environment.
public struct TerminalEnvironment: Sendable {
    public var stdinIsTerminal: Bool
    public var stdoutIsTerminal: Bool
    public var colour: Bool
    public var historyFile: String?

    public init(environment: [String: String], stdinIsTerminal: Bool, stdoutIsTerminal: Bool) {
        self.stdinIsTerminal = stdinIsTerminal
        self.stdoutIsTerminal = stdoutIsTerminal
        colour = stdoutIsTerminal && environment["NO_COLOR"] == nil && environment["TERM"] != "dumb"
        historyFile = Self.historyPath(environment)
    }

    /// `KAIROS_HISTORY_FILE`, else `$XDG_STATE_HOME/kairos/history`, else `~/.kairos_history`.
    static func historyPath(_ env: [String: String]) -> String? {
        if let explicit = env["KAIROS_HISTORY_FILE"], !explicit.isEmpty { return explicit }
        if let state = env["XDG_STATE_HOME"], !state.isEmpty { return state + "/kairos/history" }
        if let home = env["HOME"], !home.isEmpty { return home + "/.kairos_history" }
        return nil
    }

    /// The current process's environment.
    public static func current() -> TerminalEnvironment {
        var env: [String: String] = [:]
        var p = environ
        while let entry = p.pointee {
            let text = String(cString: entry)
            if let eq = text.firstIndex(of: "=") {
                env[String(text[..<eq])] = String(text[text.index(after: eq)...])
            }
            p += 1
        }
        return TerminalEnvironment(environment: env, stdinIsTerminal: isatty(STDIN_FILENO) == 1,
                                   stdoutIsTerminal: isatty(STDOUT_FILENO) == 1)
    }
}
