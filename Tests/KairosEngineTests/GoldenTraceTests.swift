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
        /// The version the file names (`engineVersion`): every golden trace is pinned.
        var version: EngineVersion
    }

    static func load(_ file: String) throws -> Golden {
        let doc = try Fixtures.json("golden/\(file)")
        let scenario = try ScenarioValidator.validate(doc["scenario"] ?? .null, path: "scenario")
        return Golden(name: doc["name"]?.stringValue ?? file, ticks: Int(doc["ticks"]?.numberValue ?? 0), scenario: scenario,
                      digest: doc["digest"]?.stringValue ?? "", steps: doc["steps"]?.arrayValue ?? [],
                      summary: doc["summary"] ?? .null, document: doc,
                      version: try #require(doc["engineVersion"]?.stringValue.flatMap(EngineVersion.init), "\(file): engineVersion"))
    }

    @Test func fixturesArePresent() throws {
        #expect(Fixtures.goldenNames.count >= 9)
        // Both offered versions have golden traces.
        let versions = Set(try Fixtures.goldenNames.map { try Self.load($0).version })
        #expect(versions == Set(EngineRegistry.available))
    }

    @Test(arguments: Fixtures.goldenNames)
    func digestAndStepsMatch(file: String) throws {
        let golden = try Self.load(file)
        let trace = try #require(Trace.run(golden.scenario, ticks: golden.ticks, version: golden.version))
        #expect(trace.metadata.engineVersion == golden.version)
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
        let trace = try #require(Trace.run(golden.scenario, ticks: golden.ticks, version: golden.version))
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

    @Test(arguments: ["three-agents.json", "v1.1.0-three-agents.json"])
    func stepByStepEqualsWholeRun(file: String) throws {
        let golden = try Self.load(file)
        let sim = try #require(EngineRegistry.start(golden.scenario, version: golden.version))
        #expect(sim.engineVersion == golden.version)
        var digest = TraceDigest()
        for _ in 0 ..< golden.ticks { digest.add(step: sim.step()) }
        #expect(digest.finalize() == golden.digest)
        #expect(sim.tick == golden.ticks)
    }

    /// The goldens that exist on both versions differ between them: the two versions are
    /// really two physics, and the fixtures are not copies of each other.
    @Test func theVersionsDisagreeOnTheSameScenario() throws {
        for (old, new) in [("capability-550.json", "v1.1.0-capability-550.json"), ("three-agents.json", "v1.1.0-three-agents.json")] {
            let a = try Self.load(old), b = try Self.load(new)
            #expect(a.scenario == b.scenario)
            #expect(a.ticks == b.ticks)
            #expect(a.digest != b.digest)
            // Each version reproduces its own file and not the other's.
            #expect(Trace.run(a.scenario, ticks: a.ticks, version: b.version)?.metadata.digest == b.digest)
            #expect(Trace.run(b.scenario, ticks: b.ticks, version: a.version)?.metadata.digest == a.digest)
        }
    }
}
