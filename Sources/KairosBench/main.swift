// Engine benchmarks (release builds only: `scripts/bench`). Prints ns/tick for 1, 3 and
// 100 agents with and without prophecies, canonical NDJSON steps/s for 3-agent steps with
// the goal of issue 17 beside it, and each part of such a step alone (engine, encoding,
// SHA-256; docs/performance.md).
//
// `KairosBench --dump-steps N FILE` writes the first N steps of the 3-agent benchmark scenario
// as canonical NDJSON instead (scripts/dev/orjson-bench encodes the same steps with orjson).
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

/// CPU time of the process (all threads: the NDJSON writer digests and writes on a second
/// one) in nanoseconds: on a shared machine the cost of the work, not of waiting for a core.
func processCPUNanoseconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) * 1e9 + Double(ts.tv_nsec)
}

/// Best of `repeats` runs: (wall ns, thread CPU ns).
func measureBoth(repeats: Int, _ body: () -> Void) -> (wall: Double, cpu: Double) {
    var best = (wall: Double.infinity, cpu: Double.infinity)
    let clock = ContinuousClock()
    for _ in 0 ..< repeats {
        let cpu0 = processCPUNanoseconds()
        let elapsed = clock.measure { body() }
        let cpu = processCPUNanoseconds() - cpu0
        let wall = Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9
        best = (min(best.wall, wall), min(best.cpu, cpu))
    }
    return best
}

let arguments = CommandLine.arguments
if arguments.count == 4, arguments[1] == "--dump-steps", let count = Int(arguments[2]) {
    let fd = open(arguments[3], O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0, let sim = EngineRegistry.start(scenario(agents: 3, prophecies: false)) else {
        print("cannot write \(arguments[3])")
        exit(1)
    }
    var writer = NDJSONStepWriter(fileDescriptor: fd)
    do {
        for _ in 0 ..< count { try writer.write(sim.step()) }
        print(try writer.finish())
    } catch {
        print("write failed: \(error)")
        exit(1)
    }
    close(fd)
    exit(0)
}

// `--time-steps N`: wall and CPU ns/step of the canonical NDJSON path (to /dev/null) for
// the first N steps of the 3-agent scenario, best of 5 (scripts/dev/orjson-bench).
if arguments.count == 3, arguments[1] == "--time-steps", let count = Int(arguments[2]) {
    let devNull = open("/dev/null", O_WRONLY)
    let scenario3 = scenario(agents: 3, prophecies: false)
    let (wall, cpu) = measureBoth(repeats: 5) {
        guard let sim = EngineRegistry.start(scenario3) else { return }
        var writer = NDJSONStepWriter(fileDescriptor: devNull)
        do {
            for _ in 0 ..< count { try writer.write(sim.step()) }
            _ = try writer.finish()
        } catch {
            print("write failed: \(error)")
        }
    }
    print(wall / Double(count), cpu / Double(count))
    exit(0)
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
print("  (best of 3 runs of 500 000 steps; wall time, and CPU time of all threads: digest and write run beside the encoding)")
let devNull = open("/dev/null", O_WRONLY)
for (n, prophecies) in [(3, false), (3, true), (1, true)] {
    let s = scenario(agents: n, prophecies: prophecies)
    let ticks = 500_000
    let (wall, cpu) = measureBoth(repeats: 3) {
        guard let sim = EngineRegistry.start(s) else { return }
        var writer = NDJSONStepWriter(fileDescriptor: devNull)
        do {
            for _ in 0 ..< ticks { try writer.write(sim.step()) }
            _ = try writer.finish()
        } catch {
            print("write failed: \(error)")
        }
    }
    let label = "\(n) agent\(n == 1 ? "" : "s"), \(prophecies ? "with prophecies" : "no prophecies")"
    let anchor = n == 3 && !prophecies ? "   goal ≤ 800 ns/step (issue 17; before: ~1 900 ns, 516 k/s)" : ""
    print("  \(pad(label, 34)) \(formatFixed(Double(ticks) / (wall / 1e9) / 1000, 0)) k steps/s  "
        + "\(formatFixed(wall / Double(ticks), 0)) ns/step wall, \(formatFixed(cpu / Double(ticks), 0)) ns/step CPU\(anchor)")
}

// The parts of a 3-agent step, each alone on one thread (thread CPU time, best of 5): the
// engine producing step records, the canonical encoding of those records into one writer, and
// SHA-256 over the same bytes.
func threadCPUNanoseconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) * 1e9 + Double(ts.tv_nsec)
}
func bestThreadCPU(_ body: () -> Void) -> Double {
    var best = Double.infinity
    for _ in 0 ..< 5 {
        let t0 = threadCPUNanoseconds()
        body()
        best = min(best, threadCPUNanoseconds() - t0)
    }
    return best
}
do {
    let count = 200_000
    let s = scenario(agents: 3, prophecies: false)
    var steps: [TraceStep] = []
    let engine = bestThreadCPU {
        guard let sim = EngineRegistry.start(s) else { return }
        steps.removeAll(keepingCapacity: true)
        steps.reserveCapacity(count)
        for _ in 0 ..< count { steps.append(sim.step()) }
    }
    var bytes = 0
    let encoding = bestThreadCPU {
        var w = CanonicalJSONWriter(capacity: 1 << 17)
        bytes = 0
        for step in steps {
            w.step(step)
            w.byte(0x0A)
            if w.bytes.count >= 1 << 16 {
                bytes += w.bytes.count
                w.reset()
            }
        }
        bytes += w.bytes.count
    }
    var sample = CanonicalJSONWriter(capacity: 1 << 17)
    for step in steps.prefix(90) {
        sample.step(step)
        sample.byte(0x0A)
    }
    let hashing = bestThreadCPU {
        var digest = TraceDigest()
        var left = bytes
        sample.bytes.withUnsafeBytes { chunk in
            while left > 0 {
                let n = min(left, chunk.count)
                digest.add(lines: UnsafeRawBufferPointer(rebasing: chunk[..<n]))
                left -= n
            }
        }
        sink += Double(digest.finalize().utf8.count)
    }
    let n = Double(count)
    print("  3 agents, each part alone (thread CPU, ~\(bytes / count) bytes a step): engine \(formatFixed(engine / n, 0)) ns, "
        + "encoding \(formatFixed(encoding / n, 0)) ns, SHA-256 \(formatFixed(hashing / n, 0)) ns a step")
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
