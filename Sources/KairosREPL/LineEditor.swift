import CLibEdit

#if canImport(Glibc)
import Glibc
#endif

/// What one call to `LineEditor.readLine` produced.
public enum LineInput: Equatable, Sendable {
    case line(String)
    /// Ctrl-C while editing: the current input is discarded.
    case interrupted
    /// Ctrl-D on an empty line, or the end of input.
    case endOfInput
}

/// Completions for the text before the cursor: the candidates replace `prefix`.
public struct Completion: Equatable, Sendable {
    public var prefix: String
    public var candidates: [String]
    public init(prefix: String, candidates: [String]) {
        self.prefix = prefix
        self.candidates = candidates
    }
}

/// libedit line editing (emacs keys), persistent size-capped history whose multi-line
/// entries stay whole, and tab completion through a closure.
public final class LineEditor {
    private let editLine: OpaquePointer
    private let history: OpaquePointer
    private let historyFile: String?
    private var promptStorage: UnsafeMutablePointer<CChar>
    /// Returns the completions for the text before the cursor.
    public var complete: ((String) -> Completion)?

    /// Nil when libedit cannot start (no terminal).
    public init?(programName: String, historyFile: String?, historySize: Int = 1000) {
        guard let el = kairos_el_init(programName), let h = history_init() else { return nil }
        editLine = el
        history = h
        self.historyFile = historyFile
        promptStorage = strdup("") ?? UnsafeMutablePointer<CChar>.allocate(capacity: 1)
        kairos_history_setsize(h, Int32(historySize))
        kairos_el_set_hist(el, h)
        kairos_el_set_editor(el, "emacs")
        kairos_el_set_signal(el, 1)
        kairos_el_set_clientdata(el, Unmanaged.passUnretained(self).toOpaque())
        kairos_el_set_prompt(el) { el in
            guard let el, let data = kairos_el_get_clientdata(el) else { return nil }
            return Unmanaged<LineEditor>.fromOpaque(data).takeUnretainedValue().promptStorage
        }
        kairos_el_addfn(el, "kairos-complete", "Complete the word before the cursor") { el, _ in
            guard let el, let data = kairos_el_get_clientdata(el) else { return UInt8(CC_ERROR) }
            return Unmanaged<LineEditor>.fromOpaque(data).takeUnretainedValue().completeAtCursor()
        }
        kairos_el_bind(el, "^I", "kairos-complete")
        el_source(el, nil)
        if let historyFile { kairos_history_load(h, historyFile) }
    }

    deinit {
        el_end(editLine)
        history_end(history)
        free(promptStorage)
    }

    /// Reads one line with `prompt`; the newline is not included.
    public func readLine(prompt: String) -> LineInput {
        free(promptStorage)
        promptStorage = strdup(prompt) ?? promptStorage
        kairos_sigint_clear()
        var count: Int32 = 0
        guard let cLine = el_gets(editLine, &count) else {
            if kairos_sigint_pending() != 0 {
                kairos_sigint_clear()
                return .interrupted
            }
            return count < 0 && errno == EINTR ? .interrupted : .endOfInput
        }
        if kairos_sigint_pending() != 0 {
            kairos_sigint_clear()
            return .interrupted
        }
        var line = String(cString: cLine)
        if line.hasSuffix("\n") { line.removeLast() }
        return .line(line)
    }

    /// Adds a whole (possibly multi-line) entry to the history and saves the file.
    public func addHistory(_ entry: String) {
        guard !entry.allSatisfy(\.isWhitespace) else { return }
        kairos_history_enter(history, entry)
        if let historyFile { kairos_history_save(history, historyFile) }
    }

    /// History entries, oldest first.
    public var entries: [String] {
        var result: [String] = []
        var entry = kairos_history_last(history)
        while let e = entry {
            result.append(String(cString: e))
            entry = kairos_history_prev(history)
        }
        return result
    }

    private func completeAtCursor() -> UInt8 {
        guard let info = el_line(editLine)?.pointee, let complete else { return UInt8(CC_ERROR) }
        let length = info.cursor - info.buffer
        let before = String(decoding: UnsafeBufferPointer(start: UnsafeRawPointer(info.buffer).assumingMemoryBound(to: UInt8.self),
                                                          count: length), as: UTF8.self)
        let completion = complete(before)
        let candidates = completion.candidates
        guard !candidates.isEmpty else { return UInt8(CC_REFRESH_BEEP) }
        let common = candidates.dropFirst().reduce(candidates[0]) { commonPrefix($0, $1) }
        if common.count > completion.prefix.count, common.hasPrefix(completion.prefix) {
            el_insertstr(editLine, String(common.dropFirst(completion.prefix.count)))
            return UInt8(CC_REFRESH)
        }
        guard candidates.count > 1 else { return UInt8(CC_REFRESH) }
        var listing = "\n"
        let width = (candidates.map(\.count).max() ?? 0) + 2
        let columns = max(1, 80 / max(1, width))
        for (i, c) in candidates.enumerated() {
            listing += c + String(repeating: " ", count: max(0, width - c.count))
            if (i + 1) % columns == 0 || i == candidates.count - 1 { listing += "\n" }
        }
        fputs(listing, kairos_stdout())
        fflush(kairos_stdout())
        return UInt8(CC_REDISPLAY)
    }

    private func commonPrefix(_ a: String, _ b: String) -> String {
        String(zip(a, b).prefix { $0 == $1 }.map(\.0))
    }

    /// Installs the SIGINT flag handler (no SA_RESTART, so reads return).
    public static func installInterruptHandler() { kairos_install_sigint() }
    public static var interruptPending: Bool { kairos_sigint_pending() != 0 }
    public static func clearInterrupt() { kairos_sigint_clear() }
}
