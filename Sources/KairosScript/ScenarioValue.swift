import KairosEngine

/// A scenario as a script builds it: models and agents in declaration order, events,
/// settings. It compiles to a domain input (only models, every event an AI-safety type,
/// no basin) or to a native scenario, and runs as the native scenario it lowers to.
public struct ScenarioValue: Sendable, Equatable, CustomStringConvertible {
    public enum Entity: Sendable, Equatable {
        case model(AISafetyInput.Model)
        case agent(AgentSpec)

        public var name: String {
            switch self {
            case .model(let m): m.name
            case .agent(let a): a.id
            }
        }
    }

    public struct ScheduledEvent: Sendable, Equatable {
        public var tick: Int
        public var action: Action
        /// The AI-safety type when the event has one (every native kind but reinforce and policy).
        public var domainType: AISafetyInput.EventType?
        /// Whether `by` was written (the domain input then carries the magnitude).
        public var hasMagnitude: Bool
    }

    public var name: String
    public var seed: UInt64 = 0
    public var ticks: Int = 100
    public var stability: Double?
    public var basin: Int?
    public var entities: [Entity] = []
    public var events: [ScheduledEvent] = []
    public var settings: Settings?
    /// The arguments it was built with, when a scenario function built it (`t.params`).
    public var params: JSONValue?

    public init(name: String) { self.name = name }

    /// The `ai-safety` domain input, when the scenario can be written as one.
    public var domainInput: AISafetyInput? {
        guard basin == nil else { return nil }
        var models: [AISafetyInput.Model] = []
        for e in entities {
            guard case .model(let m) = e else { return nil }
            models.append(m)
        }
        var domainEvents: [AISafetyInput.DomainEvent] = []
        for e in events {
            guard let type = e.domainType else { return nil }
            domainEvents.append(AISafetyInput.DomainEvent(
                tick: e.tick, type: type, target: e.action.target,
                magnitude: type == .moratorium || !e.hasMagnitude ? nil : e.action.magnitude,
                ticks: type == .moratorium ? e.action.ticks : nil))
        }
        return AISafetyInput(seed: seed, initialStability: stability, settings: settings, models: models, events: domainEvents)
    }

    /// Why `domainInput` is nil, for `compile … as domain`.
    public var domainObstacle: String? {
        if basin != nil { return "a domain input has no initial basin" }
        if let a = entities.first(where: { if case .agent = $0 { true } else { false } }) {
            return "it declares agent \"\(a.name)\" (a domain input has only models)"
        }
        if let e = events.first(where: { $0.domainType == nil }) {
            return "event '\(e.action.kind.rawValue)' at tick \(e.tick) has no AI-safety type"
        }
        return nil
    }

    /// The native scenario it runs as. Models are lowered by the `ai-safety` adapter itself.
    public var native: Scenario {
        if let input = domainInput { return input.lowered() }
        let agents = entities.map { e -> AgentSpec in
            switch e {
            case .agent(let a): return a
            case .model(let m): return AISafetyInput(models: [m]).lowered().agents[0]
            }
        }
        return Scenario(seed: seed, agents: agents, initialStability: stability ?? 0.8, initialBasin: basin ?? 0,
                        events: events.map { Event(tick: $0.tick, action: $0.action) }, settings: settings ?? Settings())
    }

    /// The body `POST /v1/simulations/run` and `kairos simulate` take: the domain input
    /// (`.automatic` picks it when possible) or the native scenario, with the ticks to run.
    public func requestJSON(form: CompileForm, ticks: Int? = nil, engine: EngineVersion? = nil) -> JSONValue? {
        var members: [JSONMember] = []
        switch form {
        case .scenario:
            members.append(JSONMember(key: "scenario", value: native.jsonValue))
        case .domain, .automatic:
            if let input = domainInput {
                members.append(JSONMember(key: "domain", value: "ai-safety"))
                members.append(JSONMember(key: "input", value: input.jsonValue))
            } else if form == .automatic {
                members.append(JSONMember(key: "scenario", value: native.jsonValue))
            } else {
                return nil
            }
        }
        members.append(JSONMember(key: "ticks", value: .number(Double(ticks ?? self.ticks))))
        if let engine { members.append(JSONMember(key: "engineVersion", value: .string(engine.description))) }
        return .object(members)
    }

    public var description: String {
        let models = entities.filter { if case .model = $0 { true } else { false } }.count
        let agents = entities.count - models
        var parts: [String] = []
        if models > 0 { parts.append(plural(models, "model")) }
        if agents > 0 { parts.append(plural(agents, "agent")) }
        if entities.isEmpty { parts.append("no agents") }
        parts.append(plural(events.count, "event"))
        parts.append("seed \(seed)")
        parts.append("\(ticks) ticks")
        return "<scenario \(name): \(parts.joined(separator: ", "))>"
    }
}

func plural(_ n: Int, _ word: String) -> String { "\(n) \(word)\(n == 1 ? "" : "s")" }

/// One run of a scenario: what every backend takes.
public struct RunRequest: Sendable, Equatable {
    public var scenario: ScenarioValue
    public var ticks: Int
    /// The pinned engine, or nil for the latest.
    public var engine: EngineVersion?

    public init(scenario: ScenarioValue, ticks: Int, engine: EngineVersion?) {
        self.scenario = scenario
        self.ticks = ticks
        self.engine = engine
    }
}

/// The numeric fields a script can set, with their ranges: one table for the checker
/// (literal values, before running) and the builder (computed values, at run time).
enum FieldRules {
    struct Rule {
        var range: ClosedRange<Double>
        var integer: Bool = false
    }

    /// A stream keeps nothing, so it may be as long as anyone will wait.
    static let maxTicks = 1_000_000_000_000.0
    /// `run` and `sim.step` keep every step in memory (about 300 bytes each).
    static let maxKeptTicks = 1_000_000

    static func model(_ field: String) -> Rule? {
        switch field {
        case "capability": Rule(range: 0 ... 1_000_000)
        case "alignment", "guardrails": Rule(range: 0 ... 100)
        case "growth", "lambda", "gamma": Rule(range: 0 ... 1)
        default: nil
        }
    }

    static func agent(_ field: String) -> Rule? {
        switch field {
        case "capability": Rule(range: 0 ... 1_000_000)
        case "alignment", "guardrail", "growth", "lambda", "gamma": Rule(range: 0 ... 1)
        default: nil
        }
    }

    static func entity(_ kind: EntityKind, _ field: String) -> Rule? {
        kind == .model ? model(field) : agent(field)
    }

    static let seed = Rule(range: 0 ... Double(Scenario.maxSeed), integer: true)
    static let ticks = Rule(range: 0 ... maxTicks, integer: true)
    static let stability = Rule(range: 0 ... 1)
    static let basin = Rule(range: 0 ... 100, integer: true)
    static let eventTick = Rule(range: 0 ... Double(Scenario.maxSeed), integer: true)
    static let duration = Rule(range: 0 ... 1_000_000, integer: true)
    static let every = Rule(range: 0 ... 1_000_000, integer: true)
    static let horizon = Rule(range: 1 ... 10_000, integer: true)
    static let depth = Rule(range: 0 ... 3, integer: true)

    /// nil when `value` obeys the rule, else the complaint (`must be between 0 and 100`).
    static func violation(_ value: Double, _ rule: Rule) -> String? {
        if rule.integer, value != value.rounded(.towardZero) || !value.isFinite { return "must be an integer" }
        guard rule.range.contains(value) else {
            // Bounds no one reaches by accident (2^53 − 1, 10^12) read better as "or more".
            if value < rule.range.lowerBound, rule.range.upperBound >= 1e12 {
                return "must be \(rule.integer ? "an integer" : "a number") of \(formatNumber(rule.range.lowerBound)) or more"
            }
            return "must be \(rule.integer ? "an integer " : "")between \(formatNumber(rule.range.lowerBound)) and \(formatNumber(rule.range.upperBound))"
        }
        return nil
    }

    /// An event kind by either spelling: native (`capability_jump`) or AI-safety (`CAPABILITY_JUMP`).
    static func eventKind(_ spelling: String) -> (kind: EventKind, domain: AISafetyInput.EventType?)? {
        if let type = AISafetyInput.EventType(rawValue: spelling) { return (type.nativeKind, type) }
        if let kind = EventKind(rawValue: spelling) {
            return (kind, AISafetyInput.EventType.allCases.first { $0.nativeKind == kind })
        }
        return nil
    }

    static var allEventKinds: [String] {
        EventKind.allCases.map(\.rawValue) + AISafetyInput.EventType.allCases.map(\.rawValue)
    }
}

extension ScenarioValue {
    /// A built-in catalog scenario (`catalog("capability-divergence")`), with its default ticks.
    public init(catalog entry: CatalogScenario) {
        let s = entry.scenario
        self.init(name: entry.id)
        seed = s.seed
        ticks = entry.defaultTicks
        stability = s.initialStability
        basin = s.initialBasin
        entities = s.agents.map { .agent($0) }
        events = s.events.map {
            ScheduledEvent(tick: $0.tick, action: $0.action, domainType: FieldRules.eventKind($0.action.kind.rawValue)?.domain,
                           hasMagnitude: true)
        }
        settings = s.settings
    }
}
