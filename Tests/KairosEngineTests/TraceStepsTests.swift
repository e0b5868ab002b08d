import KairosEngine
import Testing

/// `TraceSteps`, the compact store of a trace's steps: every step reads back exactly as it was
/// appended, in the column form and in the plain fallback.
@Suite struct TraceStepsTests {
    static func steps(_ id: String, ticks: Int) throws -> [TraceStep] {
        let entry = try #require(ScenarioCatalog.scenario(id: id))
        guard let sim = EngineRegistry.start(entry.scenario) else { throw CancellationError() }
        return (0 ..< ticks).map { _ in sim.step() }
    }

    @Test func catalogRunsReadBackStepForStep() throws {
        for entry in ScenarioCatalog.all {
            let plain = try Self.steps(entry.id, ticks: 800)
            let compact = TraceSteps(plain)
            #expect(compact.count == plain.count)
            #expect(Array(compact) == plain, "\(entry.id)")
            #expect(compact.indices.allSatisfy { compact.stability(at: $0) == plain[$0].state.stability && compact.tick(at: $0) == plain[$0].tick })
            // The optional members come back at their own ticks.
            #expect(compact.filter { $0.prophecy != nil }.map(\.tick) == plain.filter { $0.prophecy != nil }.map(\.tick))
            #expect(compact.filter { $0.warning != nil }.count == plain.filter { $0.warning != nil }.count)
        }
    }

    @Test func stepsThatDoNotFitTheColumnsAreKeptAsTheyAre() throws {
        var plain = try Self.steps("capability-divergence", ticks: 20)
        // A gap in the ticks, then an agent renamed, then a move never seen before.
        plain[10].tick += 5
        var other = plain
        other[3].agents[0].id = "renamed"
        other[4].move = "a move \u{1F600}"
        for list in [plain, other] {
            var compact = TraceSteps()
            for s in list { compact.append(s) }
            #expect(Array(compact) == list)
            #expect(compact == TraceSteps(list))
            #expect(compact.last == list.last)
        }
        #expect(TraceSteps(plain) != TraceSteps(other))
        let empty: TraceSteps = []
        #expect(empty.isEmpty && empty.first == nil)
    }

    @Test func aTraceRunsToTheSameDigestAndSummary() throws {
        let entry = try #require(ScenarioCatalog.scenario(id: "capability-divergence"))
        let trace = try #require(Trace.run(entry.scenario, ticks: 1500))
        let plain = try Self.steps("capability-divergence", ticks: 1500)
        #expect(trace.metadata.digest == TraceDigest.of(plain))
        #expect(trace.summary == TraceSummary(plain))
        #expect(Trace(metadata: trace.metadata, initialState: trace.initialState, steps: plain) == trace)
    }
}
