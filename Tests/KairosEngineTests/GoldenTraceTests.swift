import KairosEngine
import Testing

/// Every golden trace of the specification (copied into Fixtures/golden) reproduces its
/// digest, its listed steps and its summary exactly.
@Suite struct GoldenTraceTests {
    struct Golden {
        var name: String
        var ticks: Int
        var scenario: Scenario
        var digest: String
        var steps: [JSONValue]
        var summary: JSONValue
        var document: JSONValue
    }

    static func load(_ file: String) throws -> Golden {
        let doc = try Fixtures.json("golden/\(file)")
        let scenario = try ScenarioValidator.validate(doc["scenario"] ?? .null, path: "scenario")
        return Golden(name: doc["name"]?.stringValue ?? file, ticks: Int(doc["ticks"]?.numberValue ?? 0), scenario: scenario,
                      digest: doc["digest"]?.stringValue ?? "", steps: doc["steps"]?.arrayValue ?? [],
                      summary: doc["summary"] ?? .null, document: doc)
    }

    @Test func fixturesArePresent() {
        #expect(Fixtures.goldenNames.count >= 5)
    }

    @Test(arguments: Fixtures.goldenNames)
    func digestAndStepsMatch(file: String) throws {
        let golden = try Self.load(file)
        let trace = try #require(Trace.run(golden.scenario, ticks: golden.ticks, version: EngineVersion(1, 0, 0)))
        #expect(trace.metadata.digest == golden.digest)
        #expect(golden.steps.count >= 5)
        for expected in golden.steps {
            let tick = Int(expected["tick"]?.numberValue ?? -1)
            let step = trace.steps[tick]
            #expect(CanonicalJSON.string(step) == CanonicalJSON.string(expected), "step \(tick) of \(file)")
            // The generic JSON form and the hand-written canonical writer agree.
            #expect(CanonicalJSON.string(step.jsonValue) == CanonicalJSON.string(step))
        }
    }

    @Test(arguments: Fixtures.goldenNames)
    func summaryMatches(file: String) throws {
        let golden = try Self.load(file)
        let trace = try #require(Trace.run(golden.scenario, ticks: golden.ticks))
        let summary = trace.summary
        #expect(summary.finalPhase?.rawValue == golden.summary["finalPhase"]?.stringValue)
        #expect(summary.finalStability == golden.summary["finalStability"]?.numberValue)
        #expect(Double(summary.losses.count) == golden.summary["basinLosses"]?.numberValue)
        #expect(Double(summary.warnings) == golden.summary["warnings"]?.numberValue)
        #expect(Double(summary.prophecies) == golden.summary["prophecies"]?.numberValue)
        #expect(Double(summary.paradoxes) == golden.summary["paradoxes"]?.numberValue)
    }

    /// The ai-safety goldens carry their domain input: lowering it gives the same scenario.
    @Test(arguments: Fixtures.goldenNames)
    func domainInputLowersToTheGoldenScenario(file: String) throws {
        let golden = try Self.load(file)
        guard let input = golden.document["input"] else { return }
        #expect(golden.document["domain"]?.stringValue == "ai-safety")
        let lowered = try AISafetyValidator.validate(input).lowered()
        #expect(lowered == golden.scenario)
    }

    @Test func stepByStepEqualsWholeRun() throws {
        let golden = try Self.load("three-agents.json")
        let sim = try #require(EngineRegistry.start(golden.scenario))
        var digest = TraceDigest()
        for _ in 0 ..< golden.ticks { digest.add(step: sim.step()) }
        #expect(digest.finalize() == golden.digest)
        #expect(sim.tick == golden.ticks)
    }
}
