#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import KairosEngine

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

    /// The answer to `POST /simulations/run`: `{engineVersion, simulationId, trace}`.
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
