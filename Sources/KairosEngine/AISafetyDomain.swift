/// The `ai-safety` domain adapter: AI-safety vocabulary (models scored 0–100) lowered to a
/// native scenario exactly as ENGINE.md's "Domain adapter" section says.
public struct AISafetyInput: Sendable, Equatable {
    public struct Model: Sendable, Equatable {
        public var name: String
        public var capabilityIndex: Double
        public var alignmentScore: Double
        public var guardrailCoverage: Double
        public var growthRate: Double?
        public var lambda: Double?
        public var gamma: Double?
        public init(name: String, capabilityIndex: Double, alignmentScore: Double, guardrailCoverage: Double,
                    growthRate: Double? = nil, lambda: Double? = nil, gamma: Double? = nil) {
            self.name = name
            self.capabilityIndex = capabilityIndex
            self.alignmentScore = alignmentScore
            self.guardrailCoverage = guardrailCoverage
            self.growthRate = growthRate
            self.lambda = lambda
            self.gamma = gamma
        }
    }

    public enum EventType: String, Sendable, CaseIterable {
        case capabilityJump = "CAPABILITY_JUMP"
        case alignmentBreakthrough = "ALIGNMENT_BREAKTHROUGH"
        case guardrailFailure = "GUARDRAIL_FAILURE"
        case guardrailUpgrade = "GUARDRAIL_UPGRADE"
        case incident = "INCIDENT"
        case moratorium = "MORATORIUM"

        public var nativeKind: EventKind {
            switch self {
            case .capabilityJump: .capabilityJump
            case .alignmentBreakthrough: .alignmentBreakthrough
            case .guardrailFailure: .guardrailFailure
            case .guardrailUpgrade: .guardrailUpgrade
            case .incident: .shock
            case .moratorium: .moratorium
            }
        }
    }

    public struct DomainEvent: Sendable, Equatable {
        public var tick: Int
        public var type: EventType
        public var target: String?
        public var magnitude: Double?
        public var ticks: Int?
        public init(tick: Int, type: EventType, target: String? = nil, magnitude: Double? = nil, ticks: Int? = nil) {
            self.tick = tick
            self.type = type
            self.target = target
            self.magnitude = magnitude
            self.ticks = ticks
        }
    }

    public var seed: UInt64?
    public var initialStability: Double?
    public var settings: Settings?
    public var models: [Model]
    public var events: [DomainEvent]

    public init(seed: UInt64? = nil, initialStability: Double? = nil, settings: Settings? = nil, models: [Model] = [],
                events: [DomainEvent] = []) {
        self.seed = seed
        self.initialStability = initialStability
        self.settings = settings
        self.models = models
        self.events = events
    }

    /// The native scenario this input stands for.
    public func lowered() -> Scenario {
        Scenario(
            seed: seed ?? 0,
            agents: models.map {
                AgentSpec(id: $0.name, lambda: $0.lambda ?? 0.3, gamma: $0.gamma ?? 0.5, capability: $0.capabilityIndex,
                          alignment: $0.alignmentScore / 100, guardrail: $0.guardrailCoverage / 100,
                          growth: $0.growthRate ?? 0.0002)
            },
            initialStability: initialStability ?? 0.8,
            events: events.map {
                Event(tick: $0.tick, kind: $0.type.nativeKind, target: $0.target, magnitude: $0.magnitude ?? 0,
                      ticks: $0.ticks ?? 0)
            },
            settings: settings ?? Settings())
    }
}

/// Domain adapters by identifier.
public enum DomainAdapters {
    public static let identifiers = ["ai-safety"]

    /// Validates a domain input and lowers it; nil when the domain is unknown.
    public static func scenario(domain: String, input: JSONValue, path: String = "input") throws(ValidationFailure) -> Scenario? {
        guard domain == "ai-safety" else { return nil }
        return try AISafetyValidator.validate(input, path: path).lowered()
    }
}

/// Validates `ai-safety` inputs, reporting every issue by path.
public enum AISafetyValidator {
    public static func validate(_ json: JSONValue, path: String = "") throws(ValidationFailure) -> AISafetyInput {
        let c = IssueCollector()
        let input = read(json, path: path, collector: c)
        if let input, c.issues.isEmpty { return input }
        throw ValidationFailure(c.issues)
    }

    public static func read(_ json: JSONValue, path: String, collector c: IssueCollector) -> AISafetyInput? {
        guard let o = c.object(json, at: path, allowed: ["seed", "initialStability", "settings", "models", "events"]) else {
            return nil
        }
        var input = AISafetyInput()
        if let v = o["seed"].flatMap({ c.integer($0, at: o.path("seed"), in: 0 ... Double(Scenario.maxSeed)) }) {
            input.seed = UInt64(v)
        }
        if let v = o["initialStability"] {
            input.initialStability = c.number(v, at: o.path("initialStability"), in: 0 ... 1)
        }
        if let sv = o["settings"] {
            // The native validator reads settings; reuse it through a minimal scenario.
            let probe = JSONValue.object([
                JSONMember(key: "seed", value: 0), JSONMember(key: "agents", value: []),
                JSONMember(key: "initialState", value: .object(["stability": 0.5])), JSONMember(key: "settings", value: sv),
            ])
            let inner = IssueCollector()
            let scenario = ScenarioValidator.read(probe, path: "", collector: inner)
            for issue in inner.issues {
                c.add(IssueCollector.join(path, issue.path), issue.message)
            }
            input.settings = scenario?.settings
        }
        var names: [String] = []
        if let list = o.required("models").flatMap({ c.array($0, at: o.path("models")) }) {
            if list.count > 1000 { c.add(o.path("models"), "at most 1000 models") }
            for (i, item) in list.prefix(1000).enumerated() {
                let mp = "\(o.path("models"))[\(i)]"
                guard let m = c.object(item, at: mp, allowed: ["name", "capability_index", "alignment_score",
                                                              "guardrail_coverage", "growth_rate", "lambda", "gamma"])
                else { continue }
                let name = m.required("name").flatMap { c.string($0, at: m.path("name")) }
                if let name {
                    if name.isEmpty {
                        c.add(m.path("name"), "must not be empty")
                    } else if names.contains(name) {
                        c.add(m.path("name"), "duplicate model name \"\(name)\"")
                    }
                    names.append(name)
                }
                let cap = m.required("capability_index").flatMap { c.number($0, at: m.path("capability_index"), in: 0 ... 1_000_000) }
                let align = m.required("alignment_score").flatMap { c.number($0, at: m.path("alignment_score"), in: 0 ... 100) }
                let guardrail = m.required("guardrail_coverage").flatMap { c.number($0, at: m.path("guardrail_coverage"), in: 0 ... 100) }
                var model = AISafetyInput.Model(name: name ?? "", capabilityIndex: cap ?? 0, alignmentScore: align ?? 0,
                                                guardrailCoverage: guardrail ?? 0)
                if let v = m["growth_rate"] { model.growthRate = c.number(v, at: m.path("growth_rate"), in: 0 ... 1) }
                if let v = m["lambda"] { model.lambda = c.number(v, at: m.path("lambda"), in: 0 ... 1) }
                if let v = m["gamma"] { model.gamma = c.number(v, at: m.path("gamma"), in: 0 ... 1) }
                input.models.append(model)
            }
        }
        if let ev = o["events"], let list = c.array(ev, at: o.path("events")) {
            for (i, item) in list.enumerated() {
                let ep = "\(o.path("events"))[\(i)]"
                guard let e = c.object(item, at: ep, allowed: ["tick", "type", "target", "magnitude", "ticks"]) else { continue }
                let tick = e.required("tick").flatMap { c.integer($0, at: e.path("tick"), in: 0 ... Double(Scenario.maxSeed)) }
                var type: AISafetyInput.EventType?
                if let text = e.required("type").flatMap({ c.string($0, at: e.path("type")) }) {
                    type = AISafetyInput.EventType(rawValue: text)
                    if type == nil {
                        let all = AISafetyInput.EventType.allCases.map(\.rawValue)
                        let hint = closestName(to: text, in: all).map { " (did you mean \"\($0)\"?)" } ?? ""
                        c.add(e.path("type"), "unknown event type \"\(text)\"\(hint); expected one of \(all.joined(separator: ", "))")
                    }
                }
                var target: String?
                if let tv = e["target"], let t = c.string(tv, at: e.path("target")) {
                    if !names.contains(t) {
                        let hint = closestName(to: t, in: names).map { " (did you mean \"\($0)\"?)" } ?? ""
                        c.add(e.path("target"), "unknown model \"\(t)\"\(hint)")
                    }
                    target = t
                }
                var magnitude: Double?
                var ticks: Int?
                if let type {
                    let kind = type.nativeKind
                    if let mv = e["magnitude"] {
                        if let range = kind.magnitudeRange {
                            magnitude = c.number(mv, at: e.path("magnitude"), in: range)
                        } else {
                            c.add(e.path("magnitude"), "not a field of \(type.rawValue)")
                        }
                    }
                    if let tv = e["ticks"] {
                        if kind == .moratorium {
                            ticks = c.integer(tv, at: e.path("ticks"), in: 0 ... 1_000_000)
                        } else {
                            c.add(e.path("ticks"), "not a field of \(type.rawValue)")
                        }
                    }
                }
                if let tick, let type {
                    input.events.append(AISafetyInput.DomainEvent(tick: tick, type: type, target: target, magnitude: magnitude,
                                                                  ticks: ticks))
                }
            }
        }
        return input
    }
}
