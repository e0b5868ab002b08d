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

    /// Runs tmux; returns its standard output, or nil when it exits non-zero.
    @discardableResult
    static func tmux(_ arguments: [String]) throws -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/tmux")
        process.arguments = arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = Pipe()
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return process.terminationStatus == 0 ? String(decoding: data, as: UTF8.self) : nil
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
