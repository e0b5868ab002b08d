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

    static func metadata(_ record: SimulationRecord, segments: [TraceSegment]) -> TraceMetadata {
        TraceMetadata(simulationId: record.id, scenarioId: record.scenarioId, engineVersion: record.engineVersion,
                      seed: record.seed, ticks: segments.reduce(0) { $0 + $1.tickCount }, digest: digest(segments))
    }

    /// The trace object `{initialState, metadata, steps}`.
    static func json(_ record: SimulationRecord, segments: [TraceSegment]) -> [UInt8] {
        var w = CanonicalJSONWriter(capacity: segments.reduce(0) { $0 + $1.lines.count } + 2048)
        write(record, segments: segments, into: &w)
        return w.bytes
    }

    static func write(_ record: SimulationRecord, segments: [TraceSegment], into w: inout CanonicalJSONWriter) {
        w.bytes += Array(#"{"initialState":"#.utf8)
        w.bytes += record.initialState
        w.bytes += Array(#","metadata":"#.utf8)
        w.value(metadata(record, segments: segments).jsonValue)
        w.bytes += Array(#","steps":["#.utf8)
        var first = true
        for s in segments {
            var start = 0
            for i in s.lines.indices where s.lines[i] == 0x0A {
                if !first { w.byte(UInt8(ascii: ",")) }
                first = false
                w.bytes += s.lines[start ..< i]
                start = i + 1
            }
        }
        w.bytes += Array("]}".utf8)
    }

    /// The answer to `POST /simulations/run`: `{engineVersion, simulationId, trace}`.
    static func runResult(_ record: SimulationRecord, segments: [TraceSegment]) -> [UInt8] {
        var w = CanonicalJSONWriter(capacity: segments.reduce(0) { $0 + $1.lines.count } + 2048)
        w.bytes += Array(#"{"engineVersion":"#.utf8)
        w.string(record.engineVersion.description)
        w.bytes += Array(#","simulationId":"#.utf8)
        w.string(record.id)
        w.bytes += Array(#","trace":"#.utf8)
        write(record, segments: segments, into: &w)
        w.byte(UInt8(ascii: "}"))
        return w.bytes
    }
}
