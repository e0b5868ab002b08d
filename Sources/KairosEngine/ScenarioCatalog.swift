/// A built-in scenario of the catalog (`GET /v1/scenarios`, `{"scenarioId": …}`).
public struct CatalogScenario: Sendable, Equatable {
    public var id: String
    public var title: String
    public var description: String
    public var defaultTicks: Int
    public var scenario: Scenario

    public var jsonValue: JSONValue {
        .object([
            "id": .string(id), "title": .string(title), "description": .string(description),
            "defaultTicks": .number(Double(defaultTicks)),
            "agents": .array(scenario.agents.map { .string($0.id) }),
            "scenario": scenario.jsonValue,
        ])
    }
}

/// The built-in scenarios, in a fixed order.
public enum ScenarioCatalog {
    public static func scenario(id: String) -> CatalogScenario? { all.first { $0.id == id } }

    public static let all: [CatalogScenario] = [
        CatalogScenario(
            id: "capability-divergence",
            title: "Capability divergence",
            description: "A fast-growing frontier model races ahead of an open-weights follower while a regulator holds "
                + "the line. A capability jump at tick 50 and an erosion of the follower's guardrails test whether "
                + "the system keeps its basin.",
            defaultTicks: 500,
            scenario: Scenario(
                seed: 42,
                agents: [
                    AgentSpec(id: "frontier_model", lambda: 0.5, gamma: 0.3, capability: 600, alignment: 0.7,
                              guardrail: 0.6, growth: 0.0004),
                    AgentSpec(id: "open_model", lambda: 0.8, gamma: 0.1, capability: 300, alignment: 0.5,
                              guardrail: 0.3, growth: 0.001),
                    AgentSpec(id: "regulator", lambda: 0.2, gamma: 0.9, capability: 0, alignment: 1, guardrail: 1),
                ],
                initialStability: 0.85,
                events: [
                    Event(tick: 50, kind: .capabilityJump, target: "frontier_model", magnitude: 0.5),
                    Event(tick: 120, kind: .guardrailFailure, target: "open_model", magnitude: 0.4),
                ])),
        CatalogScenario(
            id: "single-model-baseline",
            title: "Single model baseline",
            description: "One moderately capable, moderately aligned model and no events: the calm reference run "
                + "every other scenario is compared against.",
            defaultTicks: 500,
            scenario: Scenario(
                seed: 1,
                agents: [AgentSpec(id: "model", lambda: 0.3, gamma: 0.5, capability: 400, alignment: 0.7,
                                   guardrail: 0.6, growth: 0.0002)],
                initialStability: 0.8)),
        CatalogScenario(
            id: "guardrail-erosion",
            title: "Guardrail erosion",
            description: "Two labs whose guardrails fail in succession; a late guardrail upgrade arrives after the "
                + "world has already been pushed toward the collapse threshold.",
            defaultTicks: 800,
            scenario: Scenario(
                seed: 7,
                agents: [
                    AgentSpec(id: "lab_a", lambda: 0.4, gamma: 0.4, capability: 800, alignment: 0.65, guardrail: 0.7,
                              growth: 0.0003),
                    AgentSpec(id: "lab_b", lambda: 0.6, gamma: 0.3, capability: 700, alignment: 0.6, guardrail: 0.65,
                              growth: 0.0003),
                ],
                initialStability: 0.8,
                events: [
                    Event(tick: 100, kind: .guardrailFailure, target: "lab_a", magnitude: 0.5),
                    Event(tick: 200, kind: .guardrailFailure, target: "lab_b", magnitude: 0.5),
                    Event(tick: 450, kind: .guardrailUpgrade, magnitude: 0.6),
                ])),
        CatalogScenario(
            id: "moratorium-window",
            title: "Moratorium window",
            description: "A capability race interrupted by a 300-tick moratorium on the leading model, followed by an "
                + "alignment breakthrough: does the pause buy enough time?",
            defaultTicks: 1000,
            scenario: Scenario(
                seed: 2024,
                agents: [
                    AgentSpec(id: "leader", lambda: 0.5, gamma: 0.4, capability: 900, alignment: 0.6, guardrail: 0.55,
                              growth: 0.0006),
                    AgentSpec(id: "challenger", lambda: 0.6, gamma: 0.3, capability: 500, alignment: 0.55,
                              guardrail: 0.5, growth: 0.0008),
                ],
                initialStability: 0.8,
                events: [
                    Event(tick: 150, kind: .moratorium, target: "leader", ticks: 300),
                    Event(tick: 300, kind: .alignmentBreakthrough, magnitude: 0.4),
                ])),
        CatalogScenario(
            id: "prophecy-paradox",
            title: "Self-defeating prophecy",
            description: "A world balanced near the edge with deep recursion: prophecies foresee collapse, agents "
                + "heed them, and some foreseen losses never happen (paradoxes).",
            defaultTicks: 500,
            scenario: Scenario(
                seed: 748,
                agents: [AgentSpec(id: "model", lambda: 0.3, gamma: 0.5, capability: 748, alignment: 0.7,
                                   guardrail: 0.6, growth: 0.0002)],
                initialStability: 0.8,
                events: [Event(tick: 100, kind: .capabilityJump, target: "model", magnitude: 0.3)],
                settings: Settings(prophecyInterval: 50, prophecyHorizon: 100, recursionDepth: 2))),
        CatalogScenario(
            id: "shock-recovery",
            title: "Shock and recovery",
            description: "A sudden incident knocks a third off stability at tick 100; a reinforcement at tick 250 "
                + "shows how fast the restoring force brings the world back.",
            defaultTicks: 600,
            scenario: Scenario(
                seed: 99,
                agents: [
                    AgentSpec(id: "assistant", lambda: 0.3, gamma: 0.6, capability: 300, alignment: 0.8,
                              guardrail: 0.7, growth: 0.0002),
                    AgentSpec(id: "agentic_system", lambda: 0.7, gamma: 0.2, capability: 500, alignment: 0.6,
                              guardrail: 0.4, growth: 0.0005),
                ],
                initialStability: 0.85,
                events: [
                    Event(tick: 100, kind: .shock, magnitude: 0.35),
                    Event(tick: 250, kind: .reinforce, magnitude: 0.5),
                ])),
    ]
}
