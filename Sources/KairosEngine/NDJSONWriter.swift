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
            guard let base = raw.baseAddress else { return nil }
            var offset = 0
            while offset < raw.count {
                let n = systemWrite(fd, base + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return WriteError(errno: errno)
                }
                offset += n
            }
            return nil
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

@inline(__always)
private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, buffer, count)
}
