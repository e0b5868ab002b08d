import KairosEngine

/// A position in a source file: 1-based line and column (in Unicode scalars) and a 0-based
/// UTF-8 byte offset.
public struct SourceLocation: Sendable, Equatable, Hashable, Comparable, CustomStringConvertible {
    public var line: Int
    public var column: Int
    public var offset: Int

    public init(line: Int, column: Int, offset: Int) {
        self.line = line
        self.column = column
        self.offset = offset
    }

    public static let start = SourceLocation(line: 1, column: 1, offset: 0)

    public var description: String { "\(line):\(column)" }

    public static func < (a: SourceLocation, b: SourceLocation) -> Bool { a.offset < b.offset }
}

/// A half-open span of source text.
public struct SourceRange: Sendable, Equatable, Hashable {
    public var start: SourceLocation
    public var end: SourceLocation

    public init(_ start: SourceLocation, _ end: SourceLocation) {
        self.start = start
        self.end = end
    }

    public init(at location: SourceLocation) { self.init(location, location) }

    /// The smallest range covering both.
    public func union(_ other: SourceRange) -> SourceRange {
        SourceRange(min(start, other.start), max(end, other.end))
    }
}

/// How bad a diagnostic is.
public enum Severity: String, Sendable, Equatable {
    case error, warning, note
}

/// Which phase found a problem; the CLI maps it to an exit status (syntax and semantic
/// problems are 2, runtime problems 1).
public enum DiagnosticPhase: String, Sendable, Equatable {
    case lexical, syntax, semantic, runtime
}

/// One problem, as plain data. Rendering (source line, caret) happens in `DiagnosticRenderer`.
public struct Diagnostic: Sendable, Equatable, CustomStringConvertible {
    /// A stable identifier such as `unknown-name`, for tests and tools.
    public var id: String
    public var severity: Severity
    public var phase: DiagnosticPhase
    public var message: String
    public var range: SourceRange
    /// One suggestion, shown as `hint: …` (`did you mean "model"?`).
    public var hint: String?
    /// The file the location refers to.
    public var fileName: String
    /// For a runtime error inside a function: the calls that led there, innermost first
    /// (the same call repeated is one frame with a count; past 40 frames the middle is
    /// elided, see `framesElided`).
    public var frames: [StackFrame] = []
    /// How many frames were left out after the first `keptInnerFrames`.
    public var framesElided = 0
    static let keptInnerFrames = 20

    /// Adds the next outer call.
    mutating func addFrame(_ frame: StackFrame) {
        if let last = frames.last, last.function == frame.function, last.callSite == frame.callSite, last.fileName == frame.fileName {
            frames[frames.count - 1].count += 1
            return
        }
        if frames.count >= 2 * Self.keptInnerFrames {
            frames.remove(at: Self.keptInnerFrames)
            framesElided += 1
        }
        frames.append(frame)
    }
    /// The source line of the location when it lies in another text than the one being
    /// rendered (a function defined by an earlier REPL input).
    public var excerpt: String?

    public init(_ id: String, _ message: String, at range: SourceRange, phase: DiagnosticPhase, hint: String? = nil,
                severity: Severity = .error, fileName: String = "") {
        self.id = id
        self.severity = severity
        self.phase = phase
        self.message = message
        self.range = range
        self.hint = hint
        self.fileName = fileName
    }

    public var location: SourceLocation { range.start }

    /// `file:line:col: error: message` without the source excerpt.
    public var description: String {
        "\(fileName.isEmpty ? "<input>" : fileName):\(range.start.line):\(range.start.column): \(severity.rawValue): \(message)"
    }
}

/// One call on the way to a runtime error: the function that was running and where it was
/// called from (`in sweep(cap), called at sweep.krs:12:20`).
public struct StackFrame: Sendable, Equatable, CustomStringConvertible {
    /// `sweep(cap)`, `lambda(c)`.
    public var function: String
    /// Where the call is written.
    public var callSite: SourceRange
    public var fileName: String
    /// How many times in a row this same call happened (recursion).
    public var count = 1

    public init(function: String, callSite: SourceRange, fileName: String) {
        self.function = function
        self.callSite = callSite
        self.fileName = fileName
    }

    public var description: String {
        "in \(function), called at \(fileName.isEmpty ? "<input>" : fileName):\(callSite.start.line):\(callSite.start.column)"
            + (count > 1 ? " (\(count) times)" : "")
    }
}

/// `did you mean "x"?` for the closest of `candidates`, when one is close enough.
func didYouMean(_ name: String, in candidates: some Sequence<String>) -> String? {
    closestName(to: name, in: candidates).map { "did you mean \"\($0)\"?" }
}

/// Source text split into lines for excerpts.
public struct SourceText: Sendable {
    public let fileName: String
    public let text: String
    private let lines: [Substring]

    public init(_ text: String, fileName: String) {
        self.text = text
        self.fileName = fileName
        // "\r\n" is one Character in Swift; split on both line endings.
        lines = text.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" }
    }

    /// Line `n` (1-based) without its newline, or nil past the end.
    public func line(_ n: Int) -> Substring? {
        guard n >= 1, n <= lines.count else { return nil }
        return lines[n - 1]
    }
}

/// Renders diagnostics the way a compiler does:
///
///     sweep.krs:9:16: error: unknown model "modle"
///       at 100 capability_jump "modle" by 0.3
///                              ^~~~~~~
///     hint: did you mean "model"?
public enum DiagnosticRenderer {
    public static func render(_ d: Diagnostic, source: SourceText?) -> String {
        var out = d.description
        if let line = d.excerpt.map({ Substring($0) }) ?? source?.line(d.range.start.line) {
            var text = Array(line.replacingTabs())
            var column = max(1, d.range.start.column)
            var width: Int
            if d.range.end.line == d.range.start.line, d.range.end.column > column {
                width = d.range.end.column - column
            } else {
                width = 1
            }
            // A very long line (generated code): a window around the caret, elided with '…'.
            let window = 120
            if text.count > window {
                let start = max(0, min(column - 1 - window / 3, text.count - window))
                let end = min(text.count, start + window)
                text = (start > 0 ? ["…"] : []) + Array(text[start ..< end]) + (end < text.count ? ["…"] : [])
                column = column - start + (start > 0 ? 1 : 0)
                width = max(1, min(width, window - (column - 1)))
            }
            out += "\n  " + String(text)
            out += "\n  " + String(repeating: " ", count: max(0, column - 1)) + "^" + String(repeating: "~", count: max(0, width - 1))
        }
        if let hint = d.hint { out += "\nhint: " + hint }
        for (i, frame) in d.frames.enumerated() {
            if i == Diagnostic.keptInnerFrames, d.framesElided > 0 { out += "\n  … \(d.framesElided) more calls" }
            out += "\n  " + frame.description
        }
        return out
    }

    public static func render(_ ds: [Diagnostic], source: SourceText?) -> String {
        ds.map { render($0, source: source) }.joined(separator: "\n")
    }
}

extension Substring {
    /// Tabs become single spaces so the caret lines up with the column count.
    fileprivate func replacingTabs() -> String {
        String(map { $0 == "\t" ? " " : $0 })
    }
}
