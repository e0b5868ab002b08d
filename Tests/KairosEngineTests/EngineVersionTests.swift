import KairosEngine
import Testing

/// Engine 1.1.0 beside 1.0.0 (ENGINE.md "Engine 1.1.0 — what changes").
@Suite struct EngineVersionTests {
    static let v100 = EngineVersion(1, 0, 0)
    static let v110 = EngineVersion(1, 1, 0)

    @Test func theRegistryOffersBothAndTheNewestIsTheDefault() throws {
        #expect(EngineRegistry.available == [Self.v100, Self.v110])
        #expect(EngineRegistry.latest == Self.v110)
        #expect(EngineRegistry.latest == EngineRegistry.available.last)
        let scenario = try #require(ScenarioCatalog.scenario(id: "capability-divergence")).scenario
        #expect(EngineRegistry.start(scenario)?.engineVersion == Self.v110)
        #expect(EngineRegistry.start(scenario, version: Self.v100)?.engineVersion == Self.v100)
        #expect(Trace.run(scenario, ticks: 3)?.metadata.engineVersion == Self.v110)
        #expect(Trace.run(scenario, ticks: 3, version: Self.v100)?.metadata.engineVersion == Self.v100)
    }

    static func scenario(_ json: String) throws -> Scenario {
        try ScenarioValidator.validate(try JSONParser.parse(Array(json.utf8)))
    }

    /// ENGINE.md's first defect: capability 400 000 with growth 0.3 is −4.28·10^6 after tick 0
    /// on 1.0.0 (Euler overshoot) and 40 000 on 1.1.0 (Beverton–Holt, from above CMAX).
    @Test func growthFromAboveTheCarryingCapacityNoLongerOvershoots() throws {
        let s = try Self.scenario(#"{"seed": 1, "agents": [{"id": "a", "growth": 0.3, "state": {"capability": 400000}}], "initialState": {"stability": 0.8}}"#)
        let old = try #require(Trace.run(s, ticks: 5, version: Self.v100))
        #expect(old.steps[0].agents[0].capability == -4_280_000)
        #expect(abs(old.steps[4].agents[0].capability) > 1e37)
        let new = try #require(Trace.run(s, ticks: 300, version: Self.v110))
        #expect(new.steps[0].agents[0].capability == 40_000)
        // (1.3 · 40 000) / (1 + 12 000 / 10 000) = 52 000 / 2.2
        #expect(new.steps[1].agents[0].capability == 52_000.0 / 2.2)
        let series = new.steps.map { $0.agents[0].capability }
        for (before, after) in zip(series, series.dropFirst()) {
            #expect(after <= before && after >= 10_000, "approaches CMAX from above without overshooting")
        }
    }

    /// From below CMAX the 1.1.0 step is the exact expression, in the spec's order.
    @Test func bevertonHoltIsEvaluatedInTheSpecifiedOrder() throws {
        let s = try Self.scenario(#"{"seed": 3, "agents": [{"id": "a", "growth": 0.0004, "state": {"capability": 600}}], "initialState": {"stability": 0.85}}"#)
        let trace = try #require(Trace.run(s, ticks: 50, version: Self.v110))
        var C = 600.0
        let g = 0.0004
        for step in trace.steps {
            C = ((1 + g) * C) / (1 + (g * C) / 10000.0)
            #expect(step.agents[0].capability == C, "tick \(step.tick)")
        }
    }

    /// ENGINE.md's second defect: one agent at 10^6 with forty jumps of 10 overflows on 1.0.0;
    /// on 1.1.0 every jump is clamped at CLIM = 10^6 before growth.
    @Test func capabilityJumpsAreClampedAtCLIM() throws {
        let events = (0 ..< 40).map { #"{"tick": \#($0), "kind": "capability_jump", "target": "a", "magnitude": 10}"# }
        let s = try Self.scenario(#"{"seed": 1, "agents": [{"id": "a", "growth": 0.001, "state": {"capability": 1000000, "alignment": 0.5, "guardrail": 0.5}}], "initialState": {"stability": 0.8}, "events": [\#(events.joined(separator: ","))]}"#)
        let old = try #require(Trace.run(s, ticks: 50, version: Self.v100))
        #expect(old.steps.contains { !$0.agents[0].capability.isFinite })
        let new = try #require(Trace.run(s, ticks: 50, version: Self.v110))
        // Tick 0: 10^6 · 11 → clamped to 10^6, then (1.001 · 10^6) / (1 + 1000 / 10^4).
        #expect(new.steps[0].agents[0].capability == (1.001 * 1000000.0) / (1 + (0.001 * 1000000.0) / 10000.0))
        for step in new.steps {
            #expect(step.agents[0].capability.isFinite && step.agents[0].capability <= 1_000_000)
        }
        // The alignment change is 1.0.0's: A − A·m·0.5 (then clamped to [0, 1] in step 2).
        #expect(new.steps[0].agents[0].alignment == old.steps[0].agents[0].alignment)
        // A jump that stays under CLIM is not changed.
        let small = try Self.scenario(#"{"seed": 1, "agents": [{"id": "a", "state": {"capability": 1000}}], "initialState": {"stability": 0.8}, "events": [{"tick": 0, "kind": "capability_jump", "magnitude": 0.5}]}"#)
        #expect(Trace.run(small, ticks: 1, version: Self.v110)?.steps[0].agents[0].capability == 1500)
    }

    /// The 1.1.0 checkpoint is its own format: restoring continues identically, and a 1.0.0
    /// image is never restored as 1.1.0 (or the reverse).
    @Test func checkpointsAreVersioned() throws {
        let scenario = try #require(ScenarioCatalog.scenario(id: "capability-divergence")).scenario
        let old = try #require(EngineRegistry.start(scenario, version: Self.v100))
        let new = try #require(EngineRegistry.start(scenario, version: Self.v110))
        for _ in 0 ..< 120 {
            old.advance()
            new.advance()
        }
        let oldImage = old.checkpoint(), newImage = new.checkpoint()
        #expect(oldImage.engineVersion == Self.v100)
        #expect(newImage.engineVersion == Self.v110)
        #expect(try EngineRegistry.restore(oldImage, scenario: scenario).engineVersion == Self.v100)
        let restored = try EngineRegistry.restore(newImage, scenario: scenario)
        #expect(restored.engineVersion == Self.v110)
        for _ in 0 ..< 100 { #expect(CanonicalJSON.string(restored.step()) == CanonicalJSON.string(new.step())) }
        var mislabelled = oldImage
        mislabelled.engineVersion = Self.v110
        #expect(throws: CheckpointError.self) { try EngineRegistry.restore(mislabelled, scenario: scenario) }
        var mislabelledNew = newImage
        mislabelledNew.engineVersion = Self.v100
        #expect(throws: CheckpointError.self) { try EngineRegistry.restore(mislabelledNew, scenario: scenario) }
    }

    // MARK: No valid input leaves binary64 on 1.1.0

    /// A deterministic generator of valid scenarios that favours the input bounds: capability
    /// 0 or 10^6, growth 1, jumps of magnitude 10 every few ticks, moratoria, policy changes,
    /// shocks, any basin, many agents.
    struct BoundaryScenarios {
        var rng: Xoshiro256StarStar

        mutating func pick<T>(_ values: [T]) -> T { values[Int(rng.next() % UInt64(values.count))] }
        /// A bound half of the time, else uniform in [lo, hi].
        mutating func real(_ lo: Double, _ hi: Double) -> Double {
            switch rng.next() % 4 {
            case 0: lo
            case 1: hi
            default: lo + (hi - lo) * rng.uniform()
            }
        }

        mutating func next(ticks: Int) -> JSONValue {
            let n = pick([1, 1, 2, 3, 8, 40])
            var agents: [JSONValue] = []
            for i in 0 ..< n {
                agents.append(.object([
                    "id": .string("a\(i)"),
                    "growth": .number(real(0, 1)),
                    "policy": .object(["lambda": .number(real(0, 1)), "gamma": .number(real(0, 1))]),
                    "state": .object(["capability": .number(real(0, 1_000_000)), "alignment": .number(real(0, 1)),
                                      "guardrail": .number(real(0, 1))]),
                ]))
            }
            var events: [JSONValue] = []
            for _ in 0 ..< pick([0, 5, 40, 120]) {
                let tick = Double(rng.next() % UInt64(ticks))
                let target: JSONValue = rng.next() % 3 == 0 ? .null : .string("a\(rng.next() % UInt64(n))")
                let kind = pick(["capability_jump", "capability_jump", "capability_jump", "alignment_breakthrough",
                                 "guardrail_failure", "guardrail_upgrade", "shock", "reinforce", "moratorium", "policy"])
                var members: [JSONMember] = [JSONMember(key: "tick", value: .number(tick)), JSONMember(key: "kind", value: .string(kind))]
                if target != .null, kind != "shock", kind != "reinforce" { members.append(JSONMember(key: "target", value: target)) }
                switch kind {
                case "capability_jump": members.append(JSONMember(key: "magnitude", value: .number(real(0, 10))))
                case "moratorium": members.append(JSONMember(key: "ticks", value: .number(Double(rng.next() % 20))))
                case "policy": members.append(JSONMember(key: "lambda", value: .number(real(0, 1))))
                default: members.append(JSONMember(key: "magnitude", value: .number(real(0, 1))))
                }
                events.append(.object(members))
            }
            return .object([
                "seed": .number(Double(rng.next() >> 11)),
                "agents": .array(agents),
                "initialState": .object(["stability": .number(real(0, 1)), "basin": .number(pick([0.0, 1, 100]))]),
                "events": .array(events),
                "settings": .object(["prophecyInterval": .number(pick([0.0, 7, 50])), "prophecyHorizon": .number(pick([1.0, 30])),
                                     "recursionDepth": .number(pick([0.0, 1, 2]))]),
            ])
        }
    }

    /// Every number a step can hold, for the finiteness check.
    static func numbers(_ step: TraceStep) -> [Double] {
        var out = [step.state.stability, step.state.pressure, step.state.ceiling]
        for a in step.agents { out += [a.capability, a.alignment, a.guardrail, a.pressure, a.lambda, a.gamma] }
        if let w = step.warning { out.append(w.stability) }
        if let l = step.loss { out.append(l.magnitude) }
        if let p = step.prophecy { out.append(p.predictedStability) }
        return out
    }

    /// How many of `count` generated scenarios leave the model on `version`: a non-finite
    /// number anywhere in a step, or a capability outside [0, 10^6].
    static func escapes(version: EngineVersion, count: Int, ticks: Int) throws -> Int {
        var generator = BoundaryScenarios(rng: Xoshiro256StarStar(seed: 0x11_0000))
        var bad = 0
        for i in 0 ..< count {
            let scenario = try ScenarioValidator.validate(generator.next(ticks: ticks))
            let sim = try #require(EngineRegistry.start(scenario, version: version))
            for _ in 0 ..< ticks {
                let step = sim.step()
                if !numbers(step).allSatisfy(\.isFinite)
                    || !step.agents.allSatisfy({ $0.capability >= 0 && $0.capability <= 1_000_000 }) {
                    bad += 1
                    if version == v110 { Issue.record("scenario \(i) leaves the model at tick \(step.tick) on \(version)") }
                    break
                }
            }
        }
        return bad
    }

    @Test func noValidInputLeavesTheModelOnVersion110() throws {
        #expect(try Self.escapes(version: Self.v110, count: 600, ticks: 200) == 0)
    }

    /// The same generator does find 1.0.0's defects, so the property above can fail.
    @Test func theSameGeneratorFindsTheDefectsOfVersion100() throws {
        let escapes = try Self.escapes(version: Self.v100, count: 60, ticks: 120)
        #expect(escapes >= 10, "\(escapes) of 60 leave the model on 1.0.0")
    }
}
