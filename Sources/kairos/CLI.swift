import KairosEngine

#if canImport(Glibc)
import Glibc
#endif

/// Process-level helpers for the command line: stderr, exit codes, whole-file reads.
enum CLI {
    static func fail(_ message: String, code: Int32) -> Never {
        writeStderr(message.hasSuffix("\n") ? message : message + "\n")
        exit(code)
    }

    static func writeStderr(_ text: String) {
        FileDescriptorOutput.writeAll(STDERR_FILENO, text)
    }

    static func writeStdout(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { FileDescriptorOutput.writeAll(STDOUT_FILENO, $0) }
    }

    /// Scripts and scenario files larger than this are refused (reading `/dev/zero` or a
    /// binary by mistake must not exhaust memory).
    static let maxInputBytes = 16 << 20

    enum ReadError: Error, CustomStringConvertible {
        case unreadable(String)
        case tooLarge
        case notText

        var description: String {
            switch self {
            case .unreadable(let reason): "cannot read file: \(reason)"
            case .tooLarge: "error: larger than \(CLI.maxInputBytes >> 20) MiB; scripts and scenario files are at most \(CLI.maxInputBytes >> 20) MiB"
            case .notText: "error: not a text file (it holds a NUL byte or is not UTF-8)"
            }
        }
    }

    /// Reads a whole text file, or standard input for "-", of at most `maxInputBytes`.
    static func readText(_ path: String) -> Result<[UInt8], ReadError> {
        let fd = path == "-" ? STDIN_FILENO : open(path, O_RDONLY)
        guard fd >= 0 else { return .failure(.unreadable(String(cString: strerror(errno)))) }
        defer { if path != "-" { close(fd) } }
        var st = stat()
        if fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR { return .failure(.unreadable("it is a directory")) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                return .failure(.unreadable(String(cString: strerror(errno))))
            }
            if n == 0 { break }
            if chunk[0 ..< n].contains(0) { return .failure(.notText) }
            guard result.count + n <= maxInputBytes else { return .failure(.tooLarge) }
            result.append(contentsOf: chunk[0 ..< n])
        }
        guard String(validating: result, as: UTF8.self) != nil else { return .failure(.notText) }
        return .success(result)
    }
}
