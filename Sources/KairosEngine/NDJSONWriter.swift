#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes canonical steps as NDJSON to a file descriptor through a fixed buffer, digesting
/// exactly the bytes written: memory stays flat for any number of steps.
public struct NDJSONStepWriter {
    private let fd: Int32
    private var writer = CanonicalJSONWriter(capacity: 1 << 17)
    private var digest = TraceDigest()
    private let flushThreshold = 1 << 16
    public private(set) var stepsWritten = 0

    public init(fileDescriptor: Int32) { fd = fileDescriptor }

    public mutating func write(_ step: TraceStep) throws(WriteError) {
        writer.step(step)
        writer.byte(0x0A)
        stepsWritten += 1
        if writer.bytes.count >= flushThreshold { try flush() }
    }

    public mutating func flush() throws(WriteError) {
        guard !writer.bytes.isEmpty else { return }
        let result: WriteError? = writer.bytes.withUnsafeBytes { raw in
            digest.add(lines: raw)
            return FileDescriptorOutput.writeAll(fd, raw).map(WriteError.init(errno:))
        }
        writer.reset()
        if let result { throw result }
    }

    /// Flushes and returns the digest of everything written.
    public mutating func finish() throws(WriteError) -> String {
        try flush()
        return digest.finalize()
    }
}

/// A failed write(2).
public struct WriteError: Error, Sendable, CustomStringConvertible {
    public let errno: Int32
    public var description: String { String(cString: strerror(errno)) }
}

/// Whole writes to a file descriptor, for every writer in the package.
public enum FileDescriptorOutput {
    /// Writes all of `buffer` to `fd`, retrying after EINTR (the REPL's SIGINT handler is
    /// installed without SA_RESTART). Returns the errno of a failed write, nil on success.
    @discardableResult
    public static func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) -> Int32? {
        guard let base = buffer.baseAddress else { return nil }
        var offset = 0
        while offset < buffer.count {
            let n = write(fd, base + offset, buffer.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                return errno
            }
            offset += n
        }
        return nil
    }

    /// Writes a string's UTF-8 bytes; returns the errno of a failed write, nil on success.
    @discardableResult
    public static func writeAll(_ fd: Int32, _ text: String) -> Int32? {
        var t = text
        return t.withUTF8 { writeAll(fd, UnsafeRawBufferPointer($0)) }
    }
}
