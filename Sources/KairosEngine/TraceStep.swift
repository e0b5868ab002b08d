/// Stability phase of the world (ENGINE.md "Trace step").
public enum Phase: String, Sendable, Codable, CaseIterable {
    case stable, strained, critical, collapsed

    public init(stability s: Double) {
        if s >= 0.6 { self = .stable } else if s >= 0.35 { self = .strained } else if s >= 0.15 { self = .critical } else { self = .collapsed }
    }
}

public enum WarningLevel: String, Sendable, Codable {
    case caution, danger
}

public struct StabilityWarning: Sendable, Equatable {
    public var level: WarningLevel
    public var threshold: Double
    public var stability: Double
    public init(level: WarningLevel, threshold: Double, stability: Double) {
        self.level = level
        self.threshold = threshold
        self.stability = stability
    }
}

public struct BasinLoss: Sendable, Equatable {
    public var tick: Int
    public var magnitude: Double
    /// The agent with the largest pressure; nil in a world without agents.
    public var agent: String?
    public var basin: Int
    public init(tick: Int, magnitude: Double, agent: String?, basin: Int) {
        self.tick = tick
        self.magnitude = magnitude
        self.agent = agent
        self.basin = basin
    }
}

public struct Prophecy: Sendable, Equatable {
    public var id: Int
    public var tick: Int
    public var horizon: Int
    public var predictedStability: Double
    public var predictedLoss: Int?
    public init(id: Int, tick: Int, horizon: Int, predictedStability: Double, predictedLoss: Int?) {
        self.id = id
        self.tick = tick
        self.horizon = horizon
        self.predictedStability = predictedStability
        self.predictedLoss = predictedLoss
    }
}

public struct Paradox: Sendable, Equatable {
    public var tick: Int
    public var prophecy: Int
    /// Always `averted` in engine 1.0.0.
    public var kind: String
    public init(tick: Int, prophecy: Int, kind: String) {
        self.tick = tick
        self.prophecy = prophecy
        self.kind = kind
    }
}

/// The world's state after a tick.
public struct WorldSnapshot: Sendable, Equatable {
    public var stability: Double
    public var basin: Int
    public var phase: Phase
    public var pressure: Double
    public var ceiling: Double
    public init(stability: Double, basin: Int, phase: Phase, pressure: Double, ceiling: Double) {
        self.stability = stability
        self.basin = basin
        self.phase = phase
        self.pressure = pressure
        self.ceiling = ceiling
    }
}

/// One agent as recorded in a step.
public struct AgentSnapshot: Sendable, Equatable {
    public var id: String
    public var capability: Double
    public var alignment: Double
    public var guardrail: Double
    public var pressure: Double
    public var lambda: Double
    public var gamma: Double
    public init(id: String, capability: Double, alignment: Double, guardrail: Double, pressure: Double,
                lambda: Double, gamma: Double) {
        self.id = id
        self.capability = capability
        self.alignment = alignment
        self.guardrail = guardrail
        self.pressure = pressure
        self.lambda = lambda
        self.gamma = gamma
    }
}

/// The unit of every trace, stream and event.
public struct TraceStep: Sendable, Equatable {
    public var tick: Int
    /// The kind of the first event or decree applied at this tick, else `idle`.
    public var move: String
    public var state: WorldSnapshot
    public var warning: StabilityWarning?
    public var loss: BasinLoss?
    public var prophecy: Prophecy?
    public var paradox: Paradox?
    public var agents: [AgentSnapshot]

    public init(tick: Int, move: String, state: WorldSnapshot, warning: StabilityWarning? = nil,
                loss: BasinLoss? = nil, prophecy: Prophecy? = nil, paradox: Paradox? = nil,
                agents: [AgentSnapshot]) {
        self.tick = tick
        self.move = move
        self.state = state
        self.warning = warning
        self.loss = loss
        self.prophecy = prophecy
        self.paradox = paradox
        self.agents = agents
    }
}
