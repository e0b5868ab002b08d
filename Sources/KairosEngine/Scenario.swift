/// A native scenario (ENGINE.md "Scenario (native form)"), already validated.
public struct Scenario: Sendable, Equatable {
    public var seed: UInt64
    public var agents: [AgentSpec]
    public var initialStability: Double
    public var initialBasin: Int
    public var events: [Event]
    public var settings: Settings

    public init(seed: UInt64, agents: [AgentSpec], initialStability: Double, initialBasin: Int = 0,
                events: [Event] = [], settings: Settings = Settings()) {
        self.seed = seed
        self.agents = agents
        self.initialStability = initialStability
        self.initialBasin = initialBasin
        self.events = events
        self.settings = settings
    }

    /// The largest seed a scenario may carry (2^53 − 1, exactly representable in JSON).
    public static let maxSeed: UInt64 = (1 << 53) - 1
}

/// One agent of a native scenario.
public struct AgentSpec: Sendable, Equatable {
    public var id: String
    public var lambda: Double
    public var gamma: Double
    public var capability: Double
    public var alignment: Double
    public var guardrail: Double
    public var growth: Double

    public init(id: String, lambda: Double = 0.5, gamma: Double = 0.5, capability: Double = 0,
                alignment: Double = 1, guardrail: Double = 1, growth: Double = 0) {
        self.id = id
        self.lambda = lambda
        self.gamma = gamma
        self.capability = capability
        self.alignment = alignment
        self.guardrail = guardrail
        self.growth = growth
    }
}

/// Prophecy settings of a scenario.
public struct Settings: Sendable, Equatable {
    public var prophecyInterval: Int
    public var prophecyHorizon: Int
    public var recursionDepth: Int

    public init(prophecyInterval: Int = 50, prophecyHorizon: Int = 100, recursionDepth: Int = 1) {
        self.prophecyInterval = prophecyInterval
        self.prophecyHorizon = prophecyHorizon
        self.recursionDepth = recursionDepth
    }
}

/// The native event and decree kinds of ENGINE.md.
public enum EventKind: String, Sendable, CaseIterable, Codable {
    case capabilityJump = "capability_jump"
    case alignmentBreakthrough = "alignment_breakthrough"
    case guardrailFailure = "guardrail_failure"
    case guardrailUpgrade = "guardrail_upgrade"
    case shock
    case reinforce
    case moratorium
    case policy

    /// The inclusive range of `magnitude`, or nil when the kind takes none.
    public var magnitudeRange: ClosedRange<Double>? {
        switch self {
        case .capabilityJump: 0 ... 10
        case .alignmentBreakthrough, .guardrailFailure, .guardrailUpgrade, .shock, .reinforce: 0 ... 1
        case .moratorium, .policy: nil
        }
    }

    /// Kinds that act on the world rather than on agents.
    public var actsOnWorld: Bool { self == .shock || self == .reinforce }
}

/// An action on the world or its agents: a scenario event (with its tick) or a decree
/// (whose tick is the one it is applied at).
public struct Action: Sendable, Equatable {
    public var kind: EventKind
    /// The agent it applies to; nil means every agent (kinds that act on agents).
    public var target: String?
    public var magnitude: Double
    /// Moratorium length.
    public var ticks: Int
    /// New policy values (kind `policy`).
    public var lambda: Double?
    public var gamma: Double?

    public init(kind: EventKind, target: String? = nil, magnitude: Double = 0, ticks: Int = 0,
                lambda: Double? = nil, gamma: Double? = nil) {
        self.kind = kind
        self.target = target
        self.magnitude = magnitude
        self.ticks = ticks
        self.lambda = lambda
        self.gamma = gamma
    }
}

/// A scenario event: an action scheduled at a tick.
public struct Event: Sendable, Equatable {
    public var tick: Int
    public var action: Action

    public init(tick: Int, action: Action) {
        self.tick = tick
        self.action = action
    }

    public init(tick: Int, kind: EventKind, target: String? = nil, magnitude: Double = 0, ticks: Int = 0,
                lambda: Double? = nil, gamma: Double? = nil) {
        self.init(tick: tick, action: Action(kind: kind, target: target, magnitude: magnitude, ticks: ticks,
                                             lambda: lambda, gamma: gamma))
    }
}
