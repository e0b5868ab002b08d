import KairosEngine
import Testing

@Suite struct CheckpointTests {
    static let threeAgents = ScenarioCatalog.scenario(id: "capability-divergence")!.scenario

    static func deepScenario() -> Scenario {
        var s = threeAgents
        s.settings = Settings(prophecyInterval: 25, prophecyHorizon: 60, recursionDepth: 2)
        s.events.append(Event(tick: 200, kind: .shock, magnitude: 0.5))
        return s
    }

    /// Checkpoint at many ticks (before/after prophecies, losses, open prophecies, queued
    /// decrees), restore into a new simulation, continue: identical to an uninterrupted run.
    @Test(arguments: [0, 1, 24, 25, 26, 199, 200, 201, 333, 777])
    func restoreThenContinueEqualsUninterrupted(at cut: Int) throws {
        let scenario = Self.deepScenario()
        let total = 1000
        let decree = Action(kind: .guardrailUpgrade, target: "open_model", magnitude: 0.25)
        func steer(_ sim: any Simulation) throws {
            if sim.tick == 300 { try sim.submit(decree) }
            if sim.tick == cut, cut % 2 == 1 { try sim.submit(Action(kind: .policy, target: "regulator", lambda: 0.9)) }
        }
        let straight = try #require(EngineRegistry.start(scenario))
        var expected: [String] = []
        for _ in 0 ..< total {
            try steer(straight)
            expected.append(CanonicalJSON.string(straight.step()))
        }

        let first = try #require(EngineRegistry.start(scenario))
        var got: [String] = []
        for _ in 0 ..< cut {
            try steer(first)
            got.append(CanonicalJSON.string(first.step()))
        }
        try steer(first)  // queue this tick's decrees before the checkpoint
        let checkpoint = first.checkpoint()
        #expect(checkpoint.tick == cut)
        let restored = try EngineRegistry.restore(checkpoint, scenario: scenario)
        #expect(restored.tick == cut)
        #expect(restored.pendingDecrees == first.pendingDecrees)
        #expect(restored.snapshot() == first.snapshot())
        #expect(restored.checkpoint() == checkpoint)
        for i in cut ..< total {
            if i > cut { try steer(restored) }
            got.append(CanonicalJSON.string(restored.step()))
        }
        #expect(got == expected)
    }

    @Test func corruptCheckpointsAreRefused() throws {
        let scenario = Self.threeAgents
        let sim = try #require(EngineRegistry.start(scenario))
        for _ in 0 ..< 10 { sim.advance() }
        let good = sim.checkpoint()
        var truncated = good
        truncated.data.removeLast(5)
        #expect(throws: CheckpointError.self) { try EngineRegistry.restore(truncated, scenario: scenario) }
        var otherScenario = scenario
        otherScenario.agents.removeLast()
        #expect(throws: CheckpointError.self) { try EngineRegistry.restore(good, scenario: otherScenario) }
        var unknownVersion = good
        unknownVersion.engineVersion = EngineVersion(9, 9, 9)
        #expect(throws: CheckpointError.self) { try EngineRegistry.restore(unknownVersion, scenario: scenario) }
        var trailing = good
        trailing.data.append(0)
        #expect(throws: CheckpointError.self) { try EngineRegistry.restore(trailing, scenario: scenario) }
    }
}
