#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import KairosEngine
import NIOCore

/// Builds trace bodies straight from stored canonical step lines, without re-encoding a step:
/// NDJSON is the lines themselves; JSON is `{"initialState","metadata","steps":[…]}` with the
/// lines joined by commas — canonical too, since its keys are already in sorted order.
enum TraceDocument {
    static func ndjson(_ segments: [TraceSegment]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(segments.reduce(0) { $0 + $1.lines.count })
        for s in segments { out += s.lines }
        return out
    }

    static func digest(_ segments: [TraceSegment]) -> String {
        var digest = TraceDigest()
        for s in segments { s.lines.withUnsafeBytes { digest.add(lines: $0) } }
        return digest.finalize()
    }

    static func metadata(_ record: SimulationRecord, segments: [TraceSegment], digest: String? = nil) -> TraceMetadata {
        TraceMetadata(simulationId: record.id, scenarioId: record.scenarioId, engineVersion: record.engineVersion,
                      seed: record.seed, ticks: segments.reduce(0) { $0 + $1.tickCount },
                      digest: digest ?? Self.digest(segments))
    }

    /// The members of the `steps` array, comma-separated: the NDJSON lines with each line feed
    /// but the last turned into a comma (canonical step lines contain no raw line feed).
    static func jsonSteps(_ segments: [TraceSegment]) -> [UInt8] {
        var out = ndjson(segments)
        out.withUnsafeMutableBufferPointer { buffer in
            guard var cursor = buffer.baseAddress else { return }
            let end = cursor + buffer.count
            // memchr is vectorised: a trace has one line feed per ~700 bytes.
            while cursor < end, let found = memchr(cursor, 0x0A, end - cursor) {
                let lineFeed = found.assumingMemoryBound(to: UInt8.self)
                lineFeed.pointee = UInt8(ascii: ",")
                cursor = lineFeed + 1
            }
        }
        if out.last == UInt8(ascii: ",") { out.removeLast() }
        return out
    }

    /// The trace object `{initialState, metadata, steps}`.
    static func json(_ record: SimulationRecord, segments: [TraceSegment]) -> [UInt8] {
        var w = CanonicalJSONWriter(capacity: segments.reduce(0) { $0 + $1.lines.count } + 2048)
        write(record, segments: segments, rendered: RenderedSteps(segments), into: &w)
        return w.bytes
    }

    static func write(_ record: SimulationRecord, segments: [TraceSegment], rendered: RenderedSteps,
                      into w: inout CanonicalJSONWriter) {
        w.bytes += #"{"initialState":"#.utf8
        w.bytes += record.initialState
        w.bytes += #","metadata":"#.utf8
        w.value(metadata(record, segments: segments, digest: rendered.digest).jsonValue)
        w.bytes += #","steps":["#.utf8
        w.bytes += rendered.jsonSteps
        w.bytes += "]}".utf8
    }

    /// The answer to `POST /simulations/run` (`runResult`'s bytes) laid out once in the buffer
    /// the response is sent from: the stored lines are copied a single time, each line feed
    /// but the last turned into a comma on the way; `digest` is the lines' digest.
    static func runAnswer(_ record: SimulationRecord, segments: [TraceSegment], digest: String) -> ByteBuffer {
        var head = CanonicalJSONWriter(capacity: record.initialState.count + 512)
        head.bytes += #"{"engineVersion":"#.utf8
        head.string(record.engineVersion.description)
        head.bytes += #","simulationId":"#.utf8
        head.string(record.id)
        head.bytes += #","trace":{"initialState":"#.utf8
        head.bytes += record.initialState
        head.bytes += #","metadata":"#.utf8
        head.value(metadata(record, segments: segments, digest: digest).jsonValue)
        head.bytes += #","steps":["#.utf8
        let lineBytes = segments.reduce(0) { $0 + $1.lines.count }
        var buffer = ByteBufferAllocator().buffer(capacity: head.bytes.count + lineBytes + 3)
        buffer.writeBytes(head.bytes)
        var pending = false  // a line feed held back: a comma unless it ends the last line
        for s in segments where !s.lines.isEmpty {
            if pending { buffer.writeInteger(UInt8(ascii: ",")) }
            pending = s.lines.last == 0x0A
            let count = pending ? s.lines.count - 1 : s.lines.count
            s.lines.withUnsafeBytes { source in
                _ = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { target in
                    commaSeparated(UnsafeRawBufferPointer(rebasing: source[..<count]), into: target)
                    return count
                }
            }
        }
        buffer.writeBytes("]}}".utf8)
        return buffer
    }

    /// Copies `source` into `target` (at least as long) with every line feed turned into a
    /// comma, a span between line feeds at a time (memchr is vectorised; a step is ~700 bytes).
    private static func commaSeparated(_ source: UnsafeRawBufferPointer, into target: UnsafeMutableRawBufferPointer) {
        guard var from = source.baseAddress, var to = target.baseAddress else { return }
        let end = from + source.count
        while from < end {
            guard let found = memchr(from, 0x0A, end - from) else {
                to.copyMemory(from: from, byteCount: end - from)
                return
            }
            let lineFeed = UnsafeRawPointer(found)
            let span = lineFeed - from
            to.copyMemory(from: from, byteCount: span)
            to.storeBytes(of: UInt8(ascii: ","), toByteOffset: span, as: UInt8.self)
            to += span + 1
            from = lineFeed + 1
        }
    }

    /// The NDJSON answer (the stored lines) in the buffer the response is sent from.
    static func ndjsonBuffer(_ segments: [TraceSegment]) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: segments.reduce(0) { $0 + $1.lines.count })
        for s in segments { buffer.writeBytes(s.lines) }
        return buffer
    }

    /// The answer to `POST /simulations/run`, `{engineVersion, simulationId, trace}`, built the
    /// long way (rendered steps, then the document): the reference `runAnswer` is tested against.
    static func runResult(_ record: SimulationRecord, segments: [TraceSegment], rendered: RenderedSteps? = nil) -> [UInt8] {
        let rendered = rendered ?? RenderedSteps(segments)
        var w = CanonicalJSONWriter(capacity: rendered.jsonSteps.count + record.initialState.count + 1024)
        w.bytes += #"{"engineVersion":"#.utf8
        w.string(record.engineVersion.description)
        w.bytes += #","simulationId":"#.utf8
        w.string(record.id)
        w.bytes += #","trace":"#.utf8
        write(record, segments: segments, rendered: rendered, into: &w)
        w.byte(UInt8(ascii: "}"))
        return w.bytes
    }
}
