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

    /// Reads a whole file, or standard input for "-"; nil when it cannot be read.
    static func readAll(_ path: String) -> [UInt8]? {
        let fd = path == "-" ? STDIN_FILENO : open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { if path != "-" { close(fd) } }
        var st = stat()
        if fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR { return nil }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if n == 0 { break }
            result.append(contentsOf: chunk[0 ..< n])
        }
        return result
    }
}
