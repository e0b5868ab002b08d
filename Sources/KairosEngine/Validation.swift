/// One problem with an input, located by its JSON path (`agents[1].policy.lambda`).
public struct ValidationIssue: Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var message: String
    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }
    public var description: String { path.isEmpty ? message : "\(path): \(message)" }
}

/// Every issue found in an input; nothing is run when there is one.
public struct ValidationFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public var issues: [ValidationIssue]
    public init(_ issues: [ValidationIssue]) { self.issues = issues }
    public var description: String { issues.map(\.description).joined(separator: "\n") }
}

/// Collects issues while reading a JSON object field by field.
public final class IssueCollector {
    public init() {}
    public var issues: [ValidationIssue] = []

    public func add(_ path: String, _ message: String) { issues.append(ValidationIssue(path: path, message: message)) }

    /// Unknown fields of one object that get a "did you mean" hint.
    public static let hintedUnknownFields = 64

    public static func join(_ base: String, _ key: String) -> String { base.isEmpty ? key : "\(base).\(key)" }

    /// Reads an object, reporting unknown members; nil (with an issue) when `value` is not one.
    public func object(_ value: JSONValue, at path: String, allowed: [String]) -> ObjectFields? {
        guard case .object(let members) = value else {
            add(path, "expected an object, got \(value.typeName)")
            return nil
        }
        var unknown = 0
        for m in members where !allowed.contains(m.key) {
            // Hints (an edit distance per allowed name) for the first few only: errors list 50
            // issues, and 50 000 unknown keys must not cost seconds.
            unknown += 1
            let hint = unknown > Self.hintedUnknownFields ? ""
                : closestName(to: m.key, in: allowed).map { " (did you mean \"\($0)\"?)" } ?? ""
            add(Self.join(path, m.key), "unknown field\(hint)")
        }
        return ObjectFields(members: members, path: path, collector: self)
    }

    public func number(_ value: JSONValue, at path: String, in range: ClosedRange<Double>) -> Double? {
        guard case .number(let n) = value else {
            add(path, "expected a number, got \(value.typeName)")
            return nil
        }
        guard range.contains(n) else {
            add(path, "must be between \(CanonicalJSON.number(range.lowerBound)) and \(CanonicalJSON.number(range.upperBound))")
            return nil
        }
        return n
    }

    public func integer(_ value: JSONValue, at path: String, in range: ClosedRange<Double>) -> Int? {
        guard case .number(let n) = value else {
            add(path, "expected an integer, got \(value.typeName)")
            return nil
        }
        guard n == n.rounded(.towardZero) else {
            add(path, "must be an integer")
            return nil
        }
        guard range.contains(n) else {
            add(path, "must be an integer between \(CanonicalJSON.number(range.lowerBound)) and \(CanonicalJSON.number(range.upperBound))")
            return nil
        }
        return Int(n)
    }

    public func string(_ value: JSONValue, at path: String) -> String? {
        guard case .string(let s) = value else {
            add(path, "expected a string, got \(value.typeName)")
            return nil
        }
        return s
    }

    public func array(_ value: JSONValue, at path: String) -> [JSONValue]? {
        guard case .array(let a) = value else {
            add(path, "expected an array, got \(value.typeName)")
            return nil
        }
        return a
    }
}

/// The members of one object being validated.
public struct ObjectFields {
    public let members: [JSONMember]
    public let path: String
    public let collector: IssueCollector

    public subscript(key: String) -> JSONValue? { members.first { $0.key == key }?.value }

    public func path(_ key: String) -> String { IssueCollector.join(path, key) }

    public func required(_ key: String) -> JSONValue? {
        guard let v = self[key] else {
            collector.add(path(key), "is required")
            return nil
        }
        return v
    }
}

/// The closest of `candidates` to `name` by edit distance, when close enough to suggest.
public func closestName(to name: String, in candidates: some Sequence<String>) -> String? {
    let a = Array(name.lowercased().unicodeScalars)
    var best: (String, Int)?
    for candidate in candidates {
        let b = Array(candidate.lowercased().unicodeScalars)
        // The distance is at least the difference in length, and a hint needs 3 or less: a
        // 500 000-character name costs nothing.
        if abs(a.count - b.count) > 3 { continue }
        var row = Array(0 ... b.count)
        for i in 1 ... max(1, a.count) where !a.isEmpty {
            var previous = row[0]
            row[0] = i
            for j in stride(from: 1, through: b.count, by: 1) {
                let current = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                previous = current
            }
        }
        let distance = a.isEmpty ? b.count : row[b.count]
        if distance < (best?.1 ?? Int.max) { best = (candidate, distance) }
    }
    guard let (candidate, distance) = best else { return nil }
    let limit = max(1, min(3, (name.count + 2) / 3))
    return distance <= limit && distance > 0 && distance < name.count ? candidate : nil
}

/// Validates native scenarios and decrees (ENGINE.md), reporting every issue by path.
public enum ScenarioValidator {
    static let scenarioFields = ["seed", "agents", "initialState", "events", "settings"]
    static let agentFields = ["id", "policy", "state", "growth"]

    /// Validates a native scenario; `path` prefixes every issue (e.g. `scenario`).
    public static func validate(_ json: JSONValue, path: String = "") throws(ValidationFailure) -> Scenario {
        let c = IssueCollector()
        let scenario = read(json, path: path, collector: c)
        if let scenario, c.issues.isEmpty { return scenario }
        throw ValidationFailure(c.issues)
    }

    public static func read(_ json: JSONValue, path: String, collector c: IssueCollector) -> Scenario? {
        guard let o = c.object(json, at: path, allowed: scenarioFields) else { return nil }
        let seed = o.required("seed").flatMap { c.integer($0, at: o.path("seed"), in: 0 ... Double(Scenario.maxSeed)) }
        var agents: [AgentSpec] = []
        if let list = o.required("agents").flatMap({ c.array($0, at: o.path("agents")) }) {
            if list.count > 1000 { c.add(o.path("agents"), "at most 1000 agents") }
            var seen = Set<String>()
            for (i, item) in list.prefix(1000).enumerated() {
                let ap = "\(o.path("agents"))[\(i)]"
                guard let a = c.object(item, at: ap, allowed: agentFields) else { continue }
                var spec = AgentSpec(id: "")
                if let id = a.required("id").flatMap({ c.string($0, at: a.path("id")) }) {
                    if id.isEmpty {
                        c.add(a.path("id"), "must not be empty")
                    } else if !seen.insert(id).inserted {
                        c.add(a.path("id"), "duplicate agent id \"\(id)\"")
                    }
                    spec.id = id
                }
                if let pv = a["policy"], let p = c.object(pv, at: a.path("policy"), allowed: ["lambda", "gamma"]) {
                    if let v = p["lambda"].flatMap({ c.number($0, at: p.path("lambda"), in: 0 ... 1) }) { spec.lambda = v }
                    if let v = p["gamma"].flatMap({ c.number($0, at: p.path("gamma"), in: 0 ... 1) }) { spec.gamma = v }
                }
                if let sv = a["state"],
                   let s = c.object(sv, at: a.path("state"), allowed: ["capability", "alignment", "guardrail"])
                {
                    if let v = s["capability"].flatMap({ c.number($0, at: s.path("capability"), in: 0 ... 1_000_000) }) {
                        spec.capability = v
                    }
                    if let v = s["alignment"].flatMap({ c.number($0, at: s.path("alignment"), in: 0 ... 1) }) { spec.alignment = v }
                    if let v = s["guardrail"].flatMap({ c.number($0, at: s.path("guardrail"), in: 0 ... 1) }) { spec.guardrail = v }
                }
                if let v = a["growth"].flatMap({ c.number($0, at: a.path("growth"), in: 0 ... 1) }) { spec.growth = v }
                agents.append(spec)
            }
        }
        var stability: Double?
        var basin = 0
        if let iv = o.required("initialState"),
           let i = c.object(iv, at: o.path("initialState"), allowed: ["stability", "basin"])
        {
            stability = i.required("stability").flatMap { c.number($0, at: i.path("stability"), in: 0 ... 1) }
            if let b = i["basin"].flatMap({ c.integer($0, at: i.path("basin"), in: 0 ... 100) }) { basin = b }
        }
        var settings = Settings()
        if let sv = o["settings"],
           let s = c.object(sv, at: o.path("settings"), allowed: ["prophecyInterval", "prophecyHorizon", "recursionDepth"])
        {
            if let v = s["prophecyInterval"].flatMap({ c.integer($0, at: s.path("prophecyInterval"), in: 0 ... 1_000_000) }) {
                settings.prophecyInterval = v
            }
            if let v = s["prophecyHorizon"].flatMap({ c.integer($0, at: s.path("prophecyHorizon"), in: 1 ... 10_000) }) {
                settings.prophecyHorizon = v
            }
            if let v = s["recursionDepth"].flatMap({ c.integer($0, at: s.path("recursionDepth"), in: 0 ... 3) }) {
                settings.recursionDepth = v
            }
        }
        var events: [Event] = []
        if let ev = o["events"], let list = c.array(ev, at: o.path("events")) {
            let ids = agents.map(\.id)
            for (i, item) in list.enumerated() {
                let ep = "\(o.path("events"))[\(i)]"
                if let e = readEvent(item, path: ep, agentIDs: ids, collector: c) { events.append(e) }
            }
        }
        guard let seed, let stability else { return nil }
        return Scenario(seed: UInt64(seed), agents: agents, initialStability: stability, initialBasin: basin,
                        events: events, settings: settings)
    }

    public static func readEvent(_ json: JSONValue, path: String, agentIDs: [String], collector c: IssueCollector) -> Event? {
        guard let o = c.object(json, at: path, allowed: ["tick", "kind", "target", "magnitude", "ticks", "lambda", "gamma"]) else {
            return nil
        }
        let tick = o.required("tick").flatMap { c.integer($0, at: o.path("tick"), in: 0 ... Double(Scenario.maxSeed)) }
        let action = readAction(o, agentIDs: agentIDs, collector: c)
        guard let tick, let action else { return nil }
        return Event(tick: tick, action: action)
    }

    /// Validates a decree (an event without a tick: it applies at the next tick computed).
    public static func validateDecree(_ json: JSONValue, agentIDs: [String], path: String = "") throws(ValidationFailure) -> Action {
        let c = IssueCollector()
        var action: Action?
        if let o = c.object(json, at: path, allowed: ["kind", "target", "magnitude", "ticks", "lambda", "gamma", "tick"]) {
            if o["tick"] != nil { c.add(o.path("tick"), "a decree applies at the next tick computed; it takes no tick") }
            action = readAction(o, agentIDs: agentIDs, collector: c)
        }
        if let action, c.issues.isEmpty { return action }
        throw ValidationFailure(c.issues)
    }

    public static func readAction(_ o: ObjectFields, agentIDs: [String], collector c: IssueCollector) -> Action? {
        guard let kindText = o.required("kind").flatMap({ c.string($0, at: o.path("kind")) }) else { return nil }
        guard let kind = EventKind(rawValue: kindText) else {
            let hint = closestName(to: kindText, in: EventKind.allCases.map(\.rawValue)).map { " (did you mean \"\($0)\"?)" } ?? ""
            c.add(o.path("kind"), "unknown kind \"\(kindText)\"\(hint); expected one of \(EventKind.allCases.map(\.rawValue).joined(separator: ", "))")
            return nil
        }
        var action = Action(kind: kind)
        if let tv = o["target"], let target = c.string(tv, at: o.path("target")) {
            if !agentIDs.contains(target) {
                let hint = closestName(to: target, in: agentIDs).map { " (did you mean \"\($0)\"?)" } ?? ""
                c.add(o.path("target"), "unknown agent \"\(target)\"\(hint)")
            }
            action.target = target
        }
        for key in ["magnitude", "ticks", "lambda", "gamma"] where o[key] != nil {
            let allowed: Bool = switch key {
            case "magnitude": kind.magnitudeRange != nil
            case "ticks": kind == .moratorium
            default: kind == .policy
            }
            if !allowed { c.add(o.path(key), "not a field of \(kind.rawValue)") }
        }
        if let range = kind.magnitudeRange, let mv = o["magnitude"],
           let m = c.number(mv, at: o.path("magnitude"), in: range)
        {
            action.magnitude = m
        }
        if kind == .moratorium, let tv = o["ticks"], let t = c.integer(tv, at: o.path("ticks"), in: 0 ... 1_000_000) {
            action.ticks = t
        }
        if kind == .policy {
            if let v = o["lambda"] { action.lambda = c.number(v, at: o.path("lambda"), in: 0 ... 1) }
            if let v = o["gamma"] { action.gamma = c.number(v, at: o.path("gamma"), in: 0 ... 1) }
            if o["lambda"] == nil, o["gamma"] == nil { c.add(o.path, "policy needs lambda, gamma or both") }
        }
        return action
    }
}
