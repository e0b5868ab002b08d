import KairosEngine
import KairosScript

#if canImport(Glibc)
import Glibc
#endif

/// Standard output for the REPL: unbuffered writes that survive EINTR (SIGINT is installed
/// without SA_RESTART), and colour only when the environment allows it.
final class TerminalOutput: OutputSink {
    let colour: Bool

    init(colour: Bool) { self.colour = colour }

    func write(_ text: String) { Self.write(text, to: STDOUT_FILENO) }
    func writeError(_ text: String) { Self.write(colour ? colourDiagnostics(text) : text, to: STDERR_FILENO) }

    static func write(_ text: String, to fd: Int32) {
        FileDescriptorOutput.writeAll(fd, text)
    }

    func prompt(_ text: String) -> String { text }
    func dim(_ text: String) -> String { colour ? "\u{1B}[2m\(text)\u{1B}[0m" : text }
    func red(_ text: String) -> String { colour ? "\u{1B}[1;31m\(text)\u{1B}[0m" : text }

    private func colourDiagnostics(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            if let r = line.firstRange(of: ": error: ") {
                return "\u{1B}[1m" + line[..<r.lowerBound] + "\u{1B}[0m: " + red("error: ") + line[r.upperBound...]
            }
            if line.hasPrefix("hint: ") { return "\u{1B}[36mhint:\u{1B}[0m " + line.dropFirst(6) }
            if line.trimmingPrefix(while: { $0 == " " }).hasPrefix("^") { return "\u{1B}[32m" + line + "\u{1B}[0m" }
            return String(line)
        }.joined(separator: "\n")
    }
}

extension Substring {
    func trimmingPrefix(while predicate: (Character) -> Bool) -> Substring { drop(while: predicate) }
}
