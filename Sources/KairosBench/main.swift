// Engine benchmarks (release builds only: `scripts/bench`). Prints ns/tick for 1, 3 and
// 100 agents with and without prophecies, and canonical NDJSON steps/s for 3-agent steps.
import KairosEngine

#if canImport(Glibc)
import Glibc
#endif

func scenario(agents n: Int, prophecies: Bool) -> Scenario {
    let agents = (0 ..< n).map { i -> AgentSpec in
        let lambda: Double = 0.2 + 0.15 * Double(i % 5)
        let gamma: Double = 0.3 + 0.1 * Double(i % 4)
        let capability: Double = 200 + 50 * Double(i % 7)
        return AgentSpec(id: "agent_\(i)", lambda: lambda, gamma: gamma, capability: capability, alignment: 0.7,
                         guardrail: 0.6, growth: 0.0002)
    }
    return Scenario(seed: 42, agents: agents, initialStability: 0.85,
                    settings: prophecies ? Settings() : Settings(prophecyInterval: 0, prophecyHorizon: 100, recursionDepth: 0))
}

func pad(_ s: String, _ width: Int) -> String {
    s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
}

func measure(_ label: String, ticks: Int, repeats: Int = 5, _ body: (Int) -> Void) -> Double {
    var best = Double.infinity
    let clock = ContinuousClock()
    for _ in 0 ..< repeats {
        let elapsed = clock.measure { body(ticks) }
        let ns = Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9
        best = min(best, ns)
    }
    return best
}

var sink = 0.0
print("Kairos engine \(EngineRegistry.latest) benchmarks (best of 5)")
print("")
print("engine tick (advance, no step record)")
for n in [1, 3, 100] {
    for prophecies in [false, true] {
        let s = scenario(agents: n, prophecies: prophecies)
        let ticks = n == 100 ? 100_000 : 2_000_000
        let ns = measure("", ticks: ticks) { count in
            guard let sim = EngineRegistry.start(s) else { return }
            for _ in 0 ..< count { sim.advance() }
            sink += sim.snapshot().world.stability
        }
        let label = "\(n) agent\(n == 1 ? "" : "s"), \(prophecies ? "prophecies every 50 (horizon 100, depth 1)" : "no prophecies")"
        print("  \(pad(label, 60)) \(formatFixed(ns / Double(ticks), 1)) ns/tick")
    }
}

print("")
print("simulate + canonical NDJSON (step, RFC 8785 encode, SHA-256 digest, write to /dev/null)")
let devNull = open("/dev/null", O_WRONLY)
for (n, prophecies) in [(3, false), (3, true), (1, true)] {
    let s = scenario(agents: n, prophecies: prophecies)
    let ticks = 500_000
    let ns = measure("", ticks: ticks, repeats: 3) { count in
        guard let sim = EngineRegistry.start(s) else { return }
        var writer = NDJSONStepWriter(fileDescriptor: devNull)
        do {
            for _ in 0 ..< count { try writer.write(sim.step()) }
            _ = try writer.finish()
        } catch {
            print("write failed: \(error)")
        }
    }
    let label = "\(n) agent\(n == 1 ? "" : "s"), \(prophecies ? "with prophecies" : "no prophecies")"
    print("  \(pad(label, 60)) \(formatFixed(Double(ticks) / (ns / 1e9) / 1000, 0)) k steps/s  (\(formatFixed(ns / Double(ticks), 0)) ns/step)")
}

print("")
print("canonical number formatting")
let values = (0 ..< 1_000_000).map { 0.123456789 + Double($0) * 1.000000123e-7 }
let nsNumber = measure("", ticks: values.count) { _ in
    var w = CanonicalJSONWriter(capacity: 1 << 20)
    for v in values {
        w.number(v)
        if w.bytes.count > (1 << 19) { w.reset() }
    }
    sink += Double(w.bytes.count)
}
print(pad("  17-digit doubles", 62) + " \(formatFixed(nsNumber / Double(values.count), 1)) ns/number")
if sink == 42 { print("") }
