#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import KairosEngine

/// `save` and `load`: traces as canonical NDJSON (one step a line, so `sha256sum` equals the
/// digest), CSV (one row a step, or one row a record), or JSON (`{metadata, initialState,
/// steps}`, or any value), chosen by the file's extension.
enum TraceFiles {
    enum Format: String { case ndjson, csv, json }

    static func format(_ path: String, at range: SourceRange) throws(RuntimeError) -> Format {
        let ext = path.split(separator: ".").last.map { String($0).lowercased() } ?? ""
        guard path.contains("."), let f = Format(rawValue: ext) else {
            throw RuntimeError("cannot tell the format of \(quote(path))", at: range, id: "file-format",
                               hint: "use a .ndjson, .csv or .json file name")
        }
        return f
    }

    static func save(_ v: Value, to path: String, interpreter: Interpreter, at site: CallSite) throws(RuntimeError) {
        let format = try format(path, at: site.arg(1))
        var trace: TraceValue?
        switch v {
        case .trace(let t): trace = t
        case .simulation(let h): trace = h.traceValue()
        default: trace = nil
        }
        var bytes: [UInt8] = []
        switch (format, trace) {
        case (.ndjson, let t?):
            var w = CanonicalJSONWriter(capacity: 1 << 16)
            for s in t.trace.steps {
                w.step(s)
                w.byte(0x0A)
            }
            bytes = w.bytes
        case (.ndjson, nil):
            guard case .list(let items) = v else {
                throw RuntimeError("save as .ndjson takes a trace or a list", at: site.arg(0), id: "type-error")
            }
            for item in items {
                bytes += Array(CanonicalJSON.string(try interpreter.jsonValue(item, site.arg(0))).utf8)
                bytes.append(0x0A)
            }
        case (.csv, let t?):
            var text = "tick,move,stability,basin,phase,pressure,ceiling,warning,loss,prophecy,paradox\n"
            for s in t.trace.steps {
                let fields = [String(s.tick), s.move, CanonicalJSON.number(s.state.stability), String(s.state.basin),
                              s.state.phase.rawValue, CanonicalJSON.number(s.state.pressure), CanonicalJSON.number(s.state.ceiling),
                              s.warning?.level.rawValue ?? "", s.loss.map { CanonicalJSON.number($0.magnitude) } ?? "",
                              s.prophecy.map { String($0.id) } ?? "", s.paradox?.kind ?? ""]
                text += fields.joined(separator: ",") + "\n"
            }
            bytes = Array(text.utf8)
        case (.csv, nil):
            bytes = Array(try csv(v, site.arg(0)).utf8)
        case (.json, _):
            var w = CanonicalJSONWriter(capacity: 1 << 16)
            w.value(try interpreter.jsonValue(v, site.arg(0)))
            w.byte(0x0A)
            bytes = w.bytes
        }
        if let problem = writeFile(path, bytes) {
            throw RuntimeError("cannot write \(quote(path)): \(problem)", at: site.arg(1), id: "io-error")
        }
    }

    static func csvField(_ v: Value) -> String {
        let text = v.displayText
        guard text.contains(",") || text.contains("\"") || text.contains("\n") else { return text }
        return "\"" + text.replacing("\"", with: "\"\"") + "\""
    }

    static func csv(_ v: Value, _ range: SourceRange) throws(RuntimeError) -> String {
        guard case .list(let rows) = v else {
            throw RuntimeError("save as .csv takes a trace or a list of records", at: range, id: "type-error")
        }
        var header: [String] = []
        for row in rows {
            guard case .record(let r) = row else {
                throw RuntimeError("save as .csv takes a list of records", at: range, id: "type-error")
            }
            for k in r.keys where !header.contains(k) { header.append(k) }
        }
        var lines = [header.joined(separator: ",")]
        for case .record(let r) in rows {
            lines.append(header.map { r[$0].map(csvField) ?? "" }.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func load(_ path: String, at range: SourceRange) throws(RuntimeError) -> Value {
        let format = try format(path, at: range)
        guard let bytes = readFile(path) else {
            throw RuntimeError("cannot read \(quote(path))", at: range, id: "io-error")
        }
        switch format {
        case .ndjson:
            var steps: [TraceStep] = []
            var values: [Value] = []
            for (n, line) in bytes.split(separator: 0x0A).enumerated() where !line.allSatisfy({ $0 == 0x20 || $0 == 0x0D }) {
                let json: JSONValue
                do {
                    json = try JSONParser.parse(Array(line))
                } catch {
                    throw RuntimeError("\(path):\(n + 1): \(error.message)", at: range, id: "io-error")
                }
                if let s = StepDecoder.step(json) { steps.append(s) } else { values.append(Value(json: json)) }
            }
            if values.isEmpty, !steps.isEmpty { return .trace(StepDecoder.trace(steps, seed: 0, name: path)) }
            return .list(values + steps.map { .step($0) })
        case .json:
            let json: JSONValue
            do {
                json = try JSONParser.parse(bytes)
            } catch {
                throw RuntimeError("\(path):\(error.line):\(error.column): \(error.message)", at: range, id: "io-error")
            }
            if let steps = json["steps"]?.arrayValue {
                let decoded = steps.compactMap(StepDecoder.step)
                if decoded.count == steps.count {
                    let seed = StepDecoder.int(json["metadata"]?["seed"]).map { UInt64(max(0, $0)) } ?? 0
                    let engine = json["metadata"]?["engineVersion"]?.stringValue.flatMap(EngineVersion.init)
                    return .trace(StepDecoder.trace(decoded, seed: seed, name: path, engine: engine))
                }
            }
            return Value(json: json)
        case .csv:
            let text = String(decoding: bytes, as: UTF8.self)
            var lines = text.split { $0 == "\n" || $0 == "\r\n" }.map { splitCSV(String($0)) }
            guard !lines.isEmpty else { return .list([]) }
            let header = lines.removeFirst()
            return .list(lines.map { row in
                .record(Record(header.enumerated().map { i, key in
                    let cell = i < row.count ? row[i] : ""
                    return (key, Double(cell).map { .number($0) } ?? .string(cell))
                }))
            })
        }
    }

    static func splitCSV(_ line: String) -> [String] {
        var out: [String] = []
        var field = ""
        var quoted = false
        var chars = Array(line)[...]
        while let c = chars.popFirst() {
            if quoted {
                if c == "\"" {
                    if chars.first == "\"" {
                        field.append("\"")
                        chars = chars.dropFirst()
                    } else {
                        quoted = false
                    }
                } else {
                    field.append(c)
                }
            } else if c == "\"" {
                quoted = true
            } else if c == "," {
                out.append(field)
                field = ""
            } else {
                field.append(c)
            }
        }
        out.append(field)
        return out
    }

    /// Writes a whole file; the error text on failure.
    static func writeFile(_ path: String, _ bytes: [UInt8]) -> String? {
        guard let f = fopen(path, "wb") else { return String(cString: strerror(errno)) }
        defer { fclose(f) }
        let written = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
        return written == bytes.count ? nil : String(cString: strerror(errno))
    }

    static func readFile(_ path: String) -> [UInt8]? {
        guard let f = fopen(path, "rb") else { return nil }
        defer { fclose(f) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, f) }
            if n > 0 { out.append(contentsOf: chunk[0 ..< n]) }
            if n < chunk.count { break }
        }
        return ferror(f) == 0 ? out : nil
    }
}

/// Reads trace steps back from their JSON form (ENGINE.md "Trace step").
enum StepDecoder {
    /// A whole number that fits, or nil (a file may hold anything).
    static func int(_ j: JSONValue?) -> Int? {
        guard let d = j?.numberValue, d == d.rounded(), abs(d) <= 9_007_199_254_740_991 else { return nil }
        return Int(d)
    }

    static func step(_ j: JSONValue) -> TraceStep? {
        guard let tick = int(j["tick"]), let move = j["move"]?.stringValue, let state = j["state"],
              let world = self.world(state), let agents = j["agents"]?.arrayValue else { return nil }
        var s = TraceStep(tick: tick, move: move, state: world, agents: agents.compactMap(agent))
        if let w = j["warning"], w != .null, let level = w["level"]?.stringValue.flatMap(WarningLevel.init(rawValue:)),
           let threshold = w["threshold"]?.numberValue, let stability = w["stability"]?.numberValue {
            s.warning = StabilityWarning(level: level, threshold: threshold, stability: stability)
        }
        if let l = j["loss"], l != .null, let t = int(l["tick"]), let m = l["magnitude"]?.numberValue, let b = int(l["basin"]) {
            s.loss = BasinLoss(tick: t, magnitude: m, agent: l["agent"]?.stringValue, basin: b)
        }
        if let p = j["prophecy"], p != .null, let id = int(p["id"]), let t = int(p["tick"]), let h = int(p["horizon"]),
           let ps = p["predictedStability"]?.numberValue {
            s.prophecy = Prophecy(id: id, tick: t, horizon: h, predictedStability: ps, predictedLoss: int(p["predictedLoss"]))
        }
        if let x = j["paradox"], x != .null, let t = int(x["tick"]), let id = int(x["prophecy"]), let kind = x["kind"]?.stringValue {
            s.paradox = Paradox(tick: t, prophecy: id, kind: kind)
        }
        return s
    }

    static func world(_ j: JSONValue) -> WorldSnapshot? {
        guard let s = j["stability"]?.numberValue, let b = int(j["basin"]),
              let phase = j["phase"]?.stringValue.flatMap(Phase.init(rawValue:)), let p = j["pressure"]?.numberValue,
              let c = j["ceiling"]?.numberValue else { return nil }
        return WorldSnapshot(stability: s, basin: b, phase: phase, pressure: p, ceiling: c)
    }

    static func agent(_ j: JSONValue) -> AgentSnapshot? {
        guard let id = j["id"]?.stringValue, let st = j["state"], let po = j["policy"],
              let c = st["capability"]?.numberValue, let a = st["alignment"]?.numberValue, let g = st["guardrail"]?.numberValue,
              let p = st["pressure"]?.numberValue, let l = po["lambda"]?.numberValue, let gm = po["gamma"]?.numberValue
        else { return nil }
        return AgentSnapshot(id: id, capability: c, alignment: a, guardrail: g, pressure: p, lambda: l, gamma: gm)
    }

    /// A trace value for loaded steps; the digest is recomputed from their canonical form.
    /// `engine` is the version the file names (a JSON trace's metadata); NDJSON names none,
    /// and its steps are taken as the default version's.
    static func trace(_ steps: [TraceStep], seed: UInt64, name: String, engine: EngineVersion? = nil) -> TraceValue {
        let first = steps.first
        let initial = SimulationSnapshot(tick: 0, world: first?.state ?? WorldSnapshot(stability: 0, basin: 0, phase: .collapsed,
                                                                                        pressure: 0, ceiling: 1),
                                         agents: first?.agents ?? [])
        let trace = Trace(metadata: TraceMetadata(simulationId: nil, scenarioId: nil, engineVersion: engine ?? EngineRegistry.latest,
                                                  seed: seed, ticks: steps.count, digest: TraceDigest.of(steps)),
                          initialState: initial, steps: steps)
        return TraceValue(trace: trace, summary: TraceSummary(steps), name: name)
    }
}
