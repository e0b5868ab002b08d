import ArgumentParser
import KairosAPI
import KairosEngine

#if canImport(Glibc)
import Glibc
#endif

/// `kairos simulate`: run a scenario file on the embedded engine.
struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a scenario on the embedded engine.",
        discussion: """
        FILE holds a native scenario, {"domain": "ai-safety", "input": {…}}, or {"scenarioId": "…"} \
        (optionally with "ticks" and "engineVersion"). Use - for standard input.
        """)

    enum Output: String, ExpressibleByArgument, CaseIterable {
        case ndjson, json, summary, digest
    }

    @Argument(help: "Scenario file, or - for standard input.")
    var file: String

    @Option(parsing: .unconditional, help: "Ticks to run (default: the file's ticks, the catalog's default, else 100).")
    var ticks: Int?

    @Option(help: "Engine version: \(EngineRegistry.available.map(\.description).joined(separator: " or ")) (default: the file's engineVersion, else the newest, \(EngineRegistry.latest)).")
    var engine: String?

    @Option(help: "ndjson | json | summary | digest")
    var output: Output = .summary

    /// What `--output json` holds in memory at most (as `run` in a script).
    static let maxJSONTicks = 1_000_000

    func validate() throws {
        if let ticks, ticks < 0 { throw ValidationError("--ticks must be 0 or more, not \(ticks)") }
    }

    func run() throws {
        if let engine, EngineVersion(engine).flatMap(EngineRegistry.physics(for:)) == nil {
            CLI.fail("error: engine \(engine) is not available; offered: \(EngineRegistry.available.map(\.description).joined(separator: ", "))", code: 2)
        }
        let request: ScenarioRequest
        do {
            request = try ScenarioFile.load(file)
        } catch {
            CLI.fail(error.description, code: 2)
        }
        let version = engine.flatMap(EngineVersion.init) ?? request.engineVersion ?? EngineRegistry.latest
        let count = ticks ?? request.ticks(default: 100)
        guard let sim = EngineRegistry.start(request.scenario, version: version) else {
            CLI.fail("engine \(version) is not available", code: 2)
        }
        switch output {
        case .ndjson:
            var writer = NDJSONStepWriter(fileDescriptor: STDOUT_FILENO)
            do {
                for _ in 0 ..< count { try writer.write(sim.step()) }
                _ = try writer.finish()
            } catch {
                CLI.fail("writing output: \(error)", code: 1)
            }
        case .digest:
            var digest = TraceDigest()
            var w = CanonicalJSONWriter(capacity: 1024)
            for _ in 0 ..< count {
                w.reset()
                w.step(sim.step())
                digest.add(line: w.bytes)
            }
            print(digest.finalize())
        case .json:
            // The whole trace is one JSON value in memory: refuse up front what it cannot hold.
            guard count <= Self.maxJSONTicks else {
                CLI.fail("error: --output json holds the whole trace in memory: at most \(Self.maxJSONTicks) ticks, not \(count); "
                    + "--output ndjson streams any length in constant memory", code: 2)
            }
            guard let trace = Trace.run(request.scenario, ticks: count, version: version, scenarioId: request.scenarioId) else {
                CLI.fail("engine \(version) is not available", code: 2)
            }
            var w = CanonicalJSONWriter(capacity: 1 << 16)
            w.value(trace.jsonValue)
            w.byte(0x0A)
            CLI.writeStdout(w.bytes)
        case .summary:
            var summary = TraceSummary()
            var digest = TraceDigest()
            var w = CanonicalJSONWriter(capacity: 1024)
            // Streams: the sparkline's 60 column means are kept, not the series.
            var columns = Sparkline.Columns(count: count, width: 60)
            for _ in 0 ..< count {
                let s = sim.step()
                w.reset()
                w.step(s)
                digest.add(line: w.bytes)
                summary.add(s)
                columns.add(s.state.stability)
            }
            print(SummaryText.render(summary, digest: digest.finalize(), engine: version,
                                     scenarioId: request.scenarioId, seed: request.scenario.seed, columns: columns.means))
        }
    }
}

/// Reading scenario files for the CLI, with errors that name the file and the place.
enum ScenarioFile {
    struct LoadError: Error, CustomStringConvertible {
        let description: String
    }

    static func load(_ path: String) throws(LoadError) -> ScenarioRequest {
        let name = path == "-" ? "<stdin>" : path
        let bytes: [UInt8]
        switch CLI.readText(path) {
        case .success(let b): bytes = b
        case .failure(let error): throw LoadError(description: "\(name): \(error)")
        }
        let json: JSONValue
        do {
            json = try JSONParser.parse(bytes)
        } catch {
            throw LoadError(description: "\(name):\(error.line):\(error.column): error: \(error.message)")
        }
        do throws(ScenarioRequest.Failure) {
            return try ScenarioRequest.parse(json, allowBareScenario: true, maxTicks: nil)
        } catch {
            switch error {
            case .invalid(let failure):
                throw LoadError(description: failure.issues.map { "\(name): error: \($0)" }.joined(separator: "\n"))
            case .unknownScenario(let id):
                let hint = closestName(to: id, in: ScenarioCatalog.all.map(\.id)).map { " (did you mean \"\($0)\"?)" } ?? ""
                throw LoadError(description: "\(name): error: scenarioId: unknown scenario \"\(id)\"\(hint)")
            case .unknownDomain(let domain):
                throw LoadError(description: "\(name): error: domain: unknown domain adapter \"\(domain)\"; offered: \(DomainAdapters.identifiers.joined(separator: ", "))")
            case .unavailableEngine(let v):
                throw LoadError(description: "\(name): error: engineVersion: engine \(v) is not available; offered: \(EngineRegistry.available.map(\.description).joined(separator: ", "))")
            }
        }
    }
}

/// The human-readable summary block.
enum SummaryText {
    static func render(_ s: TraceSummary, digest: String, engine: EngineVersion, scenarioId: String?, seed: UInt64,
                       columns: [Double]) -> String {
        func fmt(_ v: Double?) -> String { v.map { formatFixed($0, 4) } ?? "-" }
        var lines: [String] = []
        lines.append("scenario   \(scenarioId ?? "inline")  seed \(seed)  engine \(engine)")
        lines.append("ticks      \(s.ticks)")
        lines.append("phase      \(s.finalPhase?.rawValue ?? "-")  (final stability \(fmt(s.finalStability)))")
        lines.append("stability  mean \(fmt(s.meanStability))  min \(fmt(s.minStability))")
        if !columns.isEmpty { lines.append("           \(Sparkline.render(columnMeans: columns, lower: 0, upper: 1))  0–1") }
        let lossText = s.losses.isEmpty ? "none" : s.losses.map { "tick \($0.tick) (\($0.agent ?? "-"), magnitude \(formatFixed($0.magnitude, 4)))" }.joined(separator: ", ")
        lines.append("losses     \(s.losses.count)\(s.losses.isEmpty ? "" : ": " + lossText)")
        lines.append("warnings   \(s.warnings)   prophecies \(s.prophecies)   paradoxes \(s.paradoxes)")
        lines.append("digest     \(digest)")
        return lines.joined(separator: "\n")
    }
}
