import Foundation
import Testing

/// `kairos run`, `check`, `compile` and `kairos FILE` through the built binary.
@Suite struct CommandLineTests {
    static func script(_ text: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("kairos-cli-\(UUID().uuidString).krs")
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    @Test func exitStatuses() throws {
        let ok = try Self.script("print(\"hi\")")
        defer { try? FileManager.default.removeItem(at: ok) }
        let r = try KairosBinary.run(["run", ok.path])
        #expect(r.status == 0 && r.stdout == "hi\n" && r.stderr.isEmpty)

        let runtime = try Self.script("print(1)\nassert(1 == 2, \"nope\")\nprint(2)")
        defer { try? FileManager.default.removeItem(at: runtime) }
        let failed = try KairosBinary.run(["run", runtime.path])
        #expect(failed.status == 1)
        #expect(failed.stdout == "1\n")
        #expect(failed.stderr == "\(runtime.path):2:1: error: assertion failed: nope\n  assert(1 == 2, \"nope\")\n  ^~~~~~~~~~~~~~~~~~~~~~\n")

        let syntax = try Self.script("let = 1\nprint(\"never\")\nlet y 2")
        defer { try? FileManager.default.removeItem(at: syntax) }
        let bad = try KairosBinary.run(["run", syntax.path])
        #expect(bad.status == 2)
        #expect(bad.stdout.isEmpty)
        #expect(bad.stderr.components(separatedBy: ": error: ").count == 3)
    }

    @Test func fileAsFirstArgumentAndStdin() throws {
        let url = try Self.script("#!/usr/bin/env kairos\nprint(1 + 1)")
        defer { try? FileManager.default.removeItem(at: url) }
        #expect(try KairosBinary.run([url.path]).stdout == "2\n")
        #expect(try KairosBinary.run(["run", "-"], stdin: "print(3)").stdout == "3\n")
        #expect(try KairosBinary.run([], stdin: "print(4)").stdout == "4\n")
        #expect(try KairosBinary.run(["-"], stdin: "print(5)").stdout == "5\n")
        let withArgs = try Self.script("print(args)")
        defer { try? FileManager.default.removeItem(at: withArgs) }
        #expect(try KairosBinary.run([withArgs.path, "a", "--b"]).stdout == "[\"a\", \"--b\"]\n")
    }

    @Test func checkOnlyDiagnoses() throws {
        let url = try Self.script("print(\"side effect\")\nprint(nme)")
        defer { try? FileManager.default.removeItem(at: url) }
        let r = try KairosBinary.run(["check", url.path])
        #expect(r.status == 2)
        #expect(r.stdout.isEmpty)
        #expect(r.stderr.hasPrefix("\(url.path):2:7: error: unknown name 'nme'"))
        let good = try Self.script("print(1)")
        defer { try? FileManager.default.removeItem(at: good) }
        #expect(try KairosBinary.run(["check", good.path]).status == 0)
    }

    @Test func compilePrintsEveryTopLevelScenario() throws {
        let url = try Self.script("""
        scenario a { model "m" { capability 1; alignment 2; guardrails 3 } }
        scenario b(x) { seed x }
        let c = b(7)
        let t = run a
        print("not printed by compile")
        """)
        defer { try? FileManager.default.removeItem(at: url) }
        let r = try KairosBinary.run(["compile", url.path])
        #expect(r.status == 0)
        #expect(r.stdout == """
        {"domain":"ai-safety","input":{"events":[],"models":[{"alignment_score":2,"capability_index":1,"guardrail_coverage":3,"name":"m"}],"seed":0},"ticks":100}
        {"domain":"ai-safety","input":{"events":[],"models":[],"seed":7},"ticks":100}

        """)
        let native = try KairosBinary.run(["compile", url.path, "--as", "scenario"])
        #expect(native.stdout.hasPrefix("{\"scenario\":{\"agents\":[{\"growth\":0.0002,\"id\":\"m\""))
    }
}
