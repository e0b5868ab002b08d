import KairosEngine

/// The REPL's `:` commands.
public enum MetaCommand: Equatable, Sendable {
    case help(topic: String?)
    case quit
    case load(path: String)
    case reset
    case vars
    case targetEmbedded
    case targetRemote(url: String)
    case engine(version: String)
    case compile(expression: String)
    case time(on: Bool)
    case history
    case save(path: String)

    public static let names = ["help", "quit", "load", "reset", "vars", "target", "engine", "compile", "time", "history", "save"]

    /// One line of help per command, in a fixed order.
    public static let summaries: [(String, String)] = [
        (":help [NAME]", "this list, help on a built-in, keyword or member (:help quantile), or a topic"),
        (":quit", "leave (Ctrl-D on an empty line does too)"),
        (":load FILE", "run a .krs file in this session"),
        (":reset", "forget every binding and start a fresh session"),
        (":vars", "list the bindings of this session"),
        (":target embedded | remote URL", "run on the in-process engine or on a Kairos server"),
        (":engine VERSION", "pin the engine version (e.g. 1.0.0)"),
        (":compile EXPR", "show the JSON a scenario compiles to"),
        (":time on|off", "print the wall time of each input"),
        (":history", "list the input history"),
        (":save FILE", "write this session's accepted inputs as a runnable .krs script"),
    ]

    public enum ParseError: Error, Equatable, Sendable, CustomStringConvertible {
        case unknown(String, suggestion: String?)
        case usage(String)

        public var description: String {
            switch self {
            case .unknown(let name, let suggestion):
                "unknown command :\(name)" + (suggestion.map { " (did you mean :\($0)?)" } ?? "; :help lists the commands")
            case .usage(let text): "usage: \(text)"
            }
        }
    }

    /// Parses a line that starts with `:`.
    public static func parse(_ line: String) throws(ParseError) -> MetaCommand {
        var body = line.drop { $0.isWhitespace }
        if body.first == ":" { body = body.dropFirst() }
        let name = String(body.prefix { !$0.isWhitespace })
        let argument = body.dropFirst(name.count).trimmingSpaces()
        switch name {
        case "help", "h", "?": return .help(topic: argument.isEmpty ? nil : argument)
        case "quit", "q", "exit": return .quit
        case "load":
            let path = argument.hasPrefix("\"") && argument.hasSuffix("\"") && argument.count >= 2
                ? String(argument.dropFirst().dropLast()) : argument
            guard !path.isEmpty else { throw .usage(":load FILE") }
            return .load(path: path)
        case "reset": return .reset
        case "vars": return .vars
        case "target":
            let parts = argument.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            if parts == ["embedded"] { return .targetEmbedded }
            if parts.count == 2, parts[0] == "remote" { return .targetRemote(url: parts[1]) }
            throw .usage(":target embedded | :target remote URL")
        case "engine":
            guard !argument.isEmpty else { throw .usage(":engine VERSION (offered: \(EngineRegistry.available.map(\.description).joined(separator: ", ")))") }
            return .engine(version: argument)
        case "compile":
            guard !argument.isEmpty else { throw .usage(":compile EXPR") }
            return .compile(expression: argument)
        case "time":
            switch argument {
            case "on": return .time(on: true)
            case "off": return .time(on: false)
            default: throw .usage(":time on|off")
            }
        case "history": return .history
        case "save":
            let path = argument.hasPrefix("\"") && argument.hasSuffix("\"") && argument.count >= 2
                ? String(argument.dropFirst().dropLast()) : argument
            guard !path.isEmpty else { throw .usage(":save FILE") }
            return .save(path: path)
        default:
            throw .unknown(name, suggestion: closestName(to: name, in: names))
        }
    }
}

extension Substring {
    func trimmingSpaces() -> String {
        String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}
