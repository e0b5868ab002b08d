import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes canonical steps as NDJSON to a file descriptor through fixed buffers, digesting
/// exactly the bytes written: memory stays flat for any number of steps.
///
/// Encoding and the rest are pipelined (issue 17): a full 64 KiB buffer goes to a serial queue
/// that digests it (SHA-256, ~0.4 µs of a 720-byte step) and writes it, while the caller encodes
/// the next steps into another buffer; at most two buffers are in flight. A failed write is
/// reported by the next `write`, `flush` or `finish`.
public struct NDJSONStepWriter {
    private var writer = CanonicalJSONWriter(capacity: 0)
    private let pipeline: NDJSONPipeline
    private let flushThreshold = 1 << 16
    public private(set) var stepsWritten = 0

    public init(fileDescriptor: Int32) {
        pipeline = NDJSONPipeline(fileDescriptor: fileDescriptor)
        writer.bytes = pipeline.emptyBuffer(capacity: 1 << 17)
    }

    public mutating func write(_ step: TraceStep) throws(WriteError) {
        writer.step(step)
        writer.byte(0x0A)
        stepsWritten += 1
        if writer.bytes.count >= flushThreshold { try flush() }
    }

    /// Hands the buffered lines to the digest and the write; throws the error of an earlier write.
    public mutating func flush() throws(WriteError) {
        if let error = pipeline.failure { throw error }
        guard !writer.bytes.isEmpty else { return }
        let full = writer.bytes
        writer.bytes = []
        pipeline.submit(full)
        writer.bytes = pipeline.emptyBuffer(capacity: 1 << 17)
    }

    /// Flushes, waits for every write, and returns the digest of everything written.
    public mutating func finish() throws(WriteError) -> String {
        try flush()
        let (digest, error) = pipeline.finish()
        if let error { throw error }
        return digest
    }
}

/// The digest-and-write stage of `NDJSONStepWriter`: a serial queue that owns the digest and
/// the file descriptor's writes; a semaphore bounds the buffers in flight; emptied buffers
/// come back through a small pool so no 128 KiB buffer is allocated per flush.
final class NDJSONPipeline: @unchecked Sendable {
    private let fd: Int32
    private let queue = DispatchQueue(label: "kairos.ndjson-writer")
    private let inFlight = DispatchSemaphore(value: 2)
    // Touched only on `queue`.
    private var digest = TraceDigest()
    private var writeError: Int32?
    // Shared between the caller and `queue`.
    private let state = Mutex<(pool: [[UInt8]], failure: WriteError?)>(([], nil))

    init(fileDescriptor: Int32) { fd = fileDescriptor }

    var failure: WriteError? { state.withLock { $0.failure } }

    func emptyBuffer(capacity: Int) -> [UInt8] {
        if let buffer = state.withLock({ $0.pool.popLast() }) { return buffer }
        var buffer: [UInt8] = []
        buffer.reserveCapacity(capacity)
        return buffer
    }

    func submit(_ lines: [UInt8]) {
        inFlight.wait()
        queue.async { [self] in
            var buffer = lines
            buffer.withUnsafeBytes { raw in
                digest.add(lines: raw)
                if writeError == nil, let error = FileDescriptorOutput.writeAll(fd, raw) {
                    writeError = error
                    state.withLock { $0.failure = WriteError(errno: error) }
                }
            }
            buffer.removeAll(keepingCapacity: true)
            state.withLock { if $0.pool.count < 2 { $0.pool.append(buffer) } }
            inFlight.signal()
        }
    }

    /// Waits for the queue to drain: the digest of everything submitted and the first write error.
    func finish() -> (String, WriteError?) {
        queue.sync { (digest.finalize(), writeError.map(WriteError.init(errno:))) }
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
