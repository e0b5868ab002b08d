import Foundation
import KairosTestSupport
import Testing

/// The command line as a learner uses it: every example passes check, run and compile, and a
/// dead server fails fast.
@Suite struct LearnerCommandLineTests {
    static let examples = Repository.files(in: "examples", withExtension: "krs").map(\.lastPathComponent)

    @Test(arguments: examples)
    func everyExampleChecksRunsAndCompiles(file: String) throws {
        let path = "examples/\(file)"
        let check = try KairosBinary.run(["check", path])
        #expect(check.status == 0, "check \(file): \(check.stderr)")
        #expect(!check.stderr.contains("error:"), "check \(file): \(check.stderr)")
        // One argument: where an example that saves a figure writes it (not the repository).
        let figure = FileManager.default.temporaryDirectory.appendingPathComponent("kairos-\(UUID().uuidString).svg")
        defer { try? FileManager.default.removeItem(at: figure) }
        let run = try KairosBinary.run(["run", path, figure.path])
        #expect(run.status == 0, "run \(file): \(run.stderr)")
        let compile = try KairosBinary.run(["compile", path])
        #expect(compile.status == 0, "compile \(file): \(compile.stderr)")
        #expect(!compile.stderr.contains("error"), "compile \(file): \(compile.stderr)")
        // Every line is a run request the simulator takes (what POST /v1/simulations/run takes).
        for line in compile.stdout.split(separator: "\n") {
            let simulated = try KairosBinary.run(["simulate", "-", "--output", "digest"], stdin: String(line))
            #expect(simulated.status == 0, "\(file): \(line.prefix(80)): \(simulated.stderr)")
        }
    }

    @Test func compileSkipsRunsAndNamesParameterizedScenarios() throws {
        let source = """
        scenario base { model "m" { capability 300; alignment 70; guardrails 60 } }
        scenario sweep(cap) { model "m" { capability cap; alignment 70; guardrails 60 } }
        let t = run base
        let mean = t.mean_stability
        let label = "mean {mean}"
        print(label)
        """
        let r = try KairosBinary.run(["compile", "-"], stdin: source)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.split(separator: "\n").count == 1)
        #expect(r.stdout.hasPrefix("{\"domain\":\"ai-safety\""))
        #expect(r.stderr == "<stdin>: warning: not emitted, it takes parameters: sweep(cap); add a statement such as 'compile sweep(…)' with values to the script to emit one\n")

        let withCompile = try KairosBinary.run(["compile", "-"], stdin: source + "\ncompile sweep(550)\ncompile [sweep(1), sweep(2)] as scenario\n")
        #expect(withCompile.status == 0, "\(withCompile.stderr)")
        #expect(withCompile.stderr.isEmpty)
        let lines = withCompile.stdout.split(separator: "\n")
        #expect(lines.count == 4)
        #expect(lines[1].contains("\"capability_index\":550"))
        #expect(lines[2].hasPrefix("{\"scenario\":"))
    }

    @Test func checkPrintsWarningsAndSucceeds() throws {
        let r = try KairosBinary.run(["check", "-"], stdin: """
        scenario s {
          ticks 10
          model "m" { capability 300; alignment 70; guardrails 60 }
          at 20 shock by 0.1
        }
        """)
        #expect(r.status == 0)
        #expect(r.stderr.hasPrefix("<stdin>:4:6: warning: this event never happens: the scenario runs ticks 0 to 9"))
    }

    @Test func runtimeErrorsShowTheCallStack() throws {
        let r = try KairosBinary.run(["run", "-"], stdin: """
        scenario s(a) {
          model "m" { capability 100; alignment a; guardrails 60 }
        }
        let ts = run map([70, -3], c => s(c))
        """)
        #expect(r.status == 1)
        #expect(r.stderr == """
        <stdin>:2:41: error: alignment must be between 0 and 100, got -3
            model "m" { capability 100; alignment a; guardrails 60 }
                                                  ^
          in s(a), called at <stdin>:4:33
          in lambda(c), called at <stdin>:4:14

        """)
    }

    /// A dead server (a real closed port) fails in seconds, not minutes, with the usual hint.
    @Test func deadRemoteFailsFast() throws {
        let port = try closedPort()
        let started = Date()
        let r = try KairosBinary.run(["run", "-"], stdin: "use remote \"http://127.0.0.1:\(port)\"\nlet t = run catalog(\"capability-divergence\")\n")
        let seconds = Date().timeIntervalSince(started)
        #expect(r.status == 1)
        #expect(seconds < 10, "took \(seconds) s")
        #expect(r.stderr.contains("error: cannot connect to http://127.0.0.1:\(port): connection refused"), "\(r.stderr)")
        #expect(r.stderr.contains("hint: is a Kairos server (kairos serve) running at"))
        // The connect timeout is settable.
        let quick = Date()
        let q = try KairosBinary.run(["run", "--connect-timeout", "1", "-"],
                                     stdin: "use remote \"http://127.0.0.1:\(port)\"\nlet sim = start catalog(\"capability-divergence\")\n")
        #expect(q.status == 1)
        #expect(Date().timeIntervalSince(quick) < 4)
    }

    /// A port nothing listens on: bound, then closed.
    func closedPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw CocoaError(.fileWriteUnknown) }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
