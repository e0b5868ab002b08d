#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import KairosEngine
import Synchronization

/// The progress line of a long sweep on a terminal: `run 812/2000 · 1450 runs/s · 0:01 left`
/// on standard error, rewritten in place and erased when the sweep ends. It appears only
/// after half a second (a quick sweep shows nothing), only when standard error is a
/// terminal, and never with `NO_COLOR` set or `TERM=dumb` (where `\r` and the erase
/// sequence would garble the text). The clock it reads never reaches a script's results.
public final class SweepProgress: Sendable {
    /// Whether this process may draw progress lines: stderr is a terminal that understands
    /// `\r` and `ESC[K`.
    public static func enabled(environment: [String: String] = currentEnvironment()) -> Bool {
        guard isatty(STDERR_FILENO) != 0 else { return false }
        if let v = environment["NO_COLOR"], !v.isEmpty { return false }
        return environment["TERM"] != "dumb"
    }

    public static func currentEnvironment() -> [String: String] {
        var out: [String: String] = [:]
        for key in ["NO_COLOR", "TERM"] {
            if let v = getenv(key) { out[key] = String(cString: v) }
        }
        return out
    }

    private struct State {
        var done = 0
        var shown = false
        var lastDraw: UInt64 = 0
    }

    public let total: Int
    let verb: String
    private let started: UInt64
    private let state = Mutex(State())
    /// Where lines go (standard error; tests pass a collector).
    private let write: @Sendable (String) -> Void
    let delay: UInt64

    public init(total: Int, verb: String = "running", delayNanoseconds: UInt64 = 500_000_000,
                write: @escaping @Sendable (String) -> Void = SweepProgress.standardError) {
        self.total = total
        self.verb = verb
        self.write = write
        delay = delayNanoseconds
        started = Self.now()
    }

    public static let standardError: @Sendable (String) -> Void = { FileDescriptorOutput.writeAll(STDERR_FILENO, $0) }

    static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// One more run finished.
    public func advance() {
        let t = Self.now()
        let line: String? = state.withLock { s in
            s.done += 1
            let elapsed = t - started
            // At most ten redraws a second, and none in the first `delay`.
            guard elapsed >= delay, s.done == total || t - s.lastDraw >= 100_000_000 else { return nil }
            s.lastDraw = t
            s.shown = true
            return Self.line(verb: verb, done: s.done, total: total, elapsedNanoseconds: elapsed)
        }
        if let line { write("\r\u{1B}[K" + line) }
    }

    /// Erases the line (if it was drawn).
    public func finish() {
        let shown = state.withLock { $0.shown }
        if shown { write("\r\u{1B}[K") }
    }

    /// `running 812/2000 · 1450 runs/s · 0:01 left`.
    public static func line(verb: String, done: Int, total: Int, elapsedNanoseconds: UInt64) -> String {
        let seconds = Double(elapsedNanoseconds) / 1e9
        let rate = seconds > 0 ? Double(done) / seconds : 0
        var text = "\(verb) \(done)/\(total)"
        guard rate > 0 else { return text }
        text += " · " + (rate >= 10 ? String(Int(rate.rounded())) : formatFixedRate(rate)) + " runs/s"
        let left = Int((Double(total - done) / rate).rounded(.up))
        text += " · \(left / 60):" + (left % 60 < 10 ? "0" : "") + "\(left % 60) left"
        return text
    }

    static func formatFixedRate(_ r: Double) -> String {
        let tenths = Int((r * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }
}
