import Foundation
import KairosAPI
import KairosEngine
import KairosScript
import Testing

/// The script's runs and `kairos simulate` of the compiled scenarios are the same runs.
@Suite struct SweepDigestTests {
    static let sweepFile = Repository.root.appendingPathComponent("examples/capability_sweep.krs")

    @Test func everySweepDigestEqualsSimulateOfTheCompiledScenario() throws {
        let source = try Repository.text(Self.sweepFile) + """

        let compiled_domain = map(100..1000 step 18, c => compile sweep(c))
        let compiled_native = map(100..1000 step 18, c => compile sweep(c) as scenario)
        let digests = map(traces, t => t.digest)
        """
        let session = Interpreter(output: CollectedOutput())
        let result = session.evaluate(source: source, fileName: "capability_sweep.krs")
        #expect(result.succeeded, "\(result.diagnostics.map(\.description))")
        guard case .list(let digests)? = session.value(named: "digests"),
              case .list(let domains)? = session.value(named: "compiled_domain"),
              case .list(let natives)? = session.value(named: "compiled_native") else {
            Issue.record("missing results")
            return
        }
        #expect(digests.count == 51)
        for (i, digest) in digests.enumerated() {
            for compiled in [domains[i], natives[i]] {
                // What `kairos simulate FILE --output digest` does with the compiled request.
                let json = try JSONParser.parse(CanonicalJSON.string(try Self.json(compiled)))
                let request = try ScenarioRequest.parse(json, allowBareScenario: true, maxTicks: nil)
                let trace = try #require(Trace.run(request.scenario, ticks: request.ticks(default: 100)))
                #expect(digest.repr == "\"\(trace.metadata.digest)\"")
            }
        }
    }

    /// A compiled value (a record) back to JSON.
    static func json(_ v: Value) throws -> JSONValue {
        switch v {
        case .number(let n): return .number(n)
        case .string(let s): return .string(s)
        case .bool(let b): return .bool(b)
        case .null: return .null
        case .list(let items): return .array(try items.map(json))
        case .record(let r): return .object(try r.fields.map { JSONMember(key: $0.key, value: try json($0.value)) })
        default: throw CancellationError()
        }
    }

    @Test func compileAsScenarioPipedToSimulateGivesTheRunDigest() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kairos-compile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("one.krs")
        try """
        scenario paradox {
          seed 748
          ticks 500
          model "model" { capability 748; alignment 70; guardrails 60 }
          at 100 CAPABILITY_JUMP "model" by 0.3
        }
        print(run(paradox).digest)
        """.write(to: file, atomically: true, encoding: .utf8)
        let run = try KairosBinary.run(["run", file.path])
        #expect(run.status == 0)
        for form in [["--as", "scenario"], ["--as", "domain"], []] {
            let compiled = try KairosBinary.run(["compile", file.path] + form)
            #expect(compiled.status == 0, "\(compiled.stderr)")
            let simulated = try KairosBinary.run(["simulate", "-", "--output", "digest"], stdin: compiled.stdout)
            #expect(simulated.stdout == run.stdout, "\(form)")
        }
        // The golden paradox trace of the specification (Tests/KairosEngineTests/Fixtures/golden).
        #expect(run.stdout.hasPrefix("sha256:"))
    }
}
