import Foundation

/// Drives a real program on a pseudo-terminal through tmux: send keys, read the screen.
final class TmuxSession {
    let name: String
    let socket: String

    static var available: Bool {
        FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux")
    }

    /// Starts `command` in a detached 120×40 session with `environment` set.
    init(command: [String], environment: [String: String], directory: String) throws {
        name = "kairos-\(UUID().uuidString.prefix(8))"
        socket = NSTemporaryDirectory() + "tmux-\(name)"
        let exports = environment.sorted { $0.key < $1.key }.map { "\($0.key)=\(Self.quote($0.value))" }.joined(separator: " ")
        let shellCommand = "cd \(Self.quote(directory)) && env \(exports) \(command.map(Self.quote).joined(separator: " "))"
        try Self.tmux(["-S", socket, "new-session", "-d", "-s", name, "-x", "120", "-y", "40", shellCommand])
    }

    deinit {
        _ = try? Self.tmux(["-S", socket, "kill-server"])
        try? FileManager.default.removeItem(atPath: socket)
    }

    static func quote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    /// Runs tmux; returns its standard output, or nil when it exits non-zero. Uses
    /// posix_spawn + waitpid: `new-session` daemonises a server, which Foundation's Process
    /// mistakes for the child still running.
    @discardableResult
    static func tmux(_ arguments: [String]) throws -> String? {
        let outPath = NSTemporaryDirectory() + "tmux-out-\(UUID().uuidString)"
        defer { unlink(outPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let argv = (["tmux"] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        // Test threads may block signals; the program under test must start with none blocked.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGINT)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        guard posix_spawn(&pid, "/usr/bin/tmux", &actions, &attributes, argv, environ) == 0 else { return nil }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0, errno == EINTR {}
        let data = (try? Data(contentsOf: URL(fileURLWithPath: outPath))) ?? Data()
        let exitedCleanly = (status & 0x7F) == 0 && ((status >> 8) & 0xFF) == 0
        return exitedCleanly ? String(decoding: data, as: UTF8.self) : nil
    }

    /// Types text literally (no key-name interpretation).
    func type(_ text: String) throws {
        try Self.tmux(["-S", socket, "send-keys", "-t", name, "-l", text])
    }

    /// Sends named keys: "Enter", "Up", "Tab", "C-c", "C-d".
    func press(_ keys: String...) throws {
        try Self.tmux(["-S", socket, "send-keys", "-t", name] + keys)
    }

    /// The visible screen plus scroll-back.
    func screen() throws -> String {
        try Self.tmux(["-S", socket, "capture-pane", "-p", "-t", name, "-S", "-200"]) ?? ""
    }

    /// Whether the program is still running (the session ends when it exits).
    var isRunning: Bool {
        ((try? Self.tmux(["-S", socket, "has-session", "-t", name])) ?? nil) != nil
    }

    /// Waits until `predicate` holds for the screen; returns the screen and the seconds waited.
    @discardableResult
    func waitFor(timeout: Double = 10, _ predicate: (String) -> Bool) throws -> (screen: String, seconds: Double) {
        let start = Date()
        while true {
            let text = try screen()
            if predicate(text) { return (text, Date().timeIntervalSince(start)) }
            if Date().timeIntervalSince(start) > timeout {
                throw WaitTimeout(screen: text)
            }
            usleep(20_000)
        }
    }

    struct WaitTimeout: Error, CustomStringConvertible {
        let screen: String
        var description: String { "timed out; screen was:\n\(screen)" }
    }
}
