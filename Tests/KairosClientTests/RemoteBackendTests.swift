import Foundation
import KairosClient
import KairosEngine
import KairosRemote
import KairosScript
import Synchronization
import KairosTestSupport
import Testing

/// The script backend over the client, against the fault server.
@Suite struct RemoteBackendTests {
    /// The scenario of `examples/capability_sweep.krs` for one capability, built as a script does.
    static func request(_ cap: Int, ticks: Int = 300) -> RunRequest {
        var s = ScenarioValue(name: "sweep")
        s.seed = UInt64(cap)
        s.ticks = ticks
        s.entities = [.model(AISafetyInput.Model(name: "model", capabilityIndex: Double(cap), alignmentScore: 70, guardrailCoverage: 60))]
        return RunRequest(scenario: s, ticks: ticks, engine: nil)
    }

    // Blocking backend calls are made from a plain thread (`offCooperativePool`), as the interpreter makes them.

    @Test func listRunsAreBoundedConcurrentAndInOrder() async throws {
        try await withFaultServer { server in
            server.holdRuns(untilInFlight: 3)
            server.delayRuns(milliseconds: 20)
            let backend = RemoteBackend(client: try client(server, SleepLog()), maxInFlight: 3, progress: false)
            let requests = (0 ..< 12).map { Self.request(100 + 75 * $0) }
            let results = try await offCooperativePool { backend.run(requests, cancellation: CancellationFlag()) }
            let digests = results.map { (try? $0.get())?.trace.metadata.digest }
            let expected = requests.map { Trace.run($0.scenario.native, ticks: $0.ticks)?.metadata.digest }
            #expect(digests == expected)
            #expect(server.maxRunsInFlight == 3)
        }
    }

    @Test func cancellationStopsASweep() async throws {
        try await withFaultServer { server in
            // Uncancelled, the sweep would take 20 s (20 runs of 2 s, 2 at a time); cancelled after
            // 0.1 s it ends with the two runs in flight (the bound leaves room for a loaded machine).
            server.delayRuns(milliseconds: 2000)
            let backend = RemoteBackend(client: try client(server, SleepLog()), maxInFlight: 2, progress: false)
            let flag = CancellationFlag()
            let requests = (0 ..< 20).map { Self.request(100 + 40 * $0) }
            let started = ContinuousClock.now
            let results = try await offCooperativePool {
                DispatchQueue.global().asyncAfter(deadline: .now() + 0.1) { flag.cancel() }
                return backend.run(requests, cancellation: flag)
            }
            #expect(ContinuousClock.now - started < .seconds(12))
            #expect(results.count == 20)
            #expect(results.allSatisfy { if case .failure(let e) = $0 { e == .cancelled } else { false } })
            #expect(server.seen.count < 20)
        }
    }

    @Test func streamsAndErrorsReachScripts() async throws {
        try await withFaultServer { server in
            let backend = RemoteBackend(client: try client(server, SleepLog(), engineVersion: "0.9.0"), progress: false)
            let result = try await offCooperativePool { backend.run([Self.request(500)], cancellation: CancellationFlag()) }
            guard case .failure(let error) = result[0] else {
                Issue.record("expected a failure")
                return
            }
            #expect(error.message.contains("engine 0.9.0 is not available"))
            #expect(error.hint == "the server offers \(EngineRegistry.available.map(\.description).joined(separator: ", "))")

            let streaming = RemoteBackend(client: try client(server, SleepLog()), progress: false)
            let request = Self.request(800, ticks: 1500)
            let steps = try await offCooperativePool { () -> [TraceStep] in
                var steps: [TraceStep] = []
                guard let stream = try? streaming.stream(request) else { return [] }
                while let s = try? stream.next() { steps.append(s) }
                return steps
            }
            #expect(steps == Trace.run(request.scenario.native, ticks: 1500).map { Array($0.steps) })
        }
    }
}
