import Crypto
import Foundation
import KairosEngine
import KairosTestSupport
import Testing

/// `kairos simulate` end to end through the built binary.
@Suite struct SimulateCommandTests {
    /// The golden's scenario and ticks, pinned to its engine version in the file when `pinned`.
    static func goldenRequest(_ file: String, pinned: Bool = true) throws -> Data {
        let doc = try Fixtures.json("golden/\(file)")
        var members = [JSONMember(key: "scenario", value: doc["scenario"] ?? .null), JSONMember(key: "ticks", value: doc["ticks"] ?? .null)]
        if pinned { members.append(JSONMember(key: "engineVersion", value: doc["engineVersion"] ?? .null)) }
        return Data(CanonicalJSON.string(.object(members)).utf8)
    }

    @Test(arguments: Fixtures.goldenNames)
    func ndjsonHashEqualsDigestOutput(file: String) throws {
        let request = try Self.goldenRequest(file)
        let digest = try ChildProcess.run(TestPaths.kairos, ["simulate", "-", "--output", "digest"], stdin: request)
        #expect(digest.status == 0)
        let ndjson = try ChildProcess.run(TestPaths.kairos, ["simulate", "-", "--output", "ndjson"], stdin: request)
        #expect(ndjson.status == 0)
        let hash = SHA256.hash(data: ndjson.output).map { String(format: "%02x", $0) }.joined()
        let expected = try Fixtures.json("golden/\(file)")["digest"]?.stringValue
        #expect("sha256:\(hash)" == expected)
        #expect(digest.stdout == "\(expected ?? "")\n")
    }

    /// Without a version the newest runs; `--engine` pins one (over the file's own pin), and
    /// the summary and JSON trace say which ran.
    @Test(arguments: Fixtures.goldenNames)
    func engineFlagPinsTheVersion(file: String) throws {
        let doc = try Fixtures.json("golden/\(file)")
        let version = try #require(doc["engineVersion"]?.stringValue)
        let unpinned = try Self.goldenRequest(file, pinned: false)
        let latest = try ChildProcess.run(TestPaths.kairos, ["simulate", "-", "--output", "json"], stdin: unpinned)
        #expect(try JSONParser.parse([UInt8](latest.output))["metadata"]?["engineVersion"] == .string(EngineRegistry.latest.description))
        let pinned = try ChildProcess.run(TestPaths.kairos, ["simulate", "-", "--engine", version, "--output", "digest"], stdin: unpinned)
        #expect(pinned.stdout == "\(doc["digest"]?.stringValue ?? "")\n")
        let summary = try ChildProcess.run(TestPaths.kairos, ["simulate", "-", "--engine", version], stdin: unpinned)
        #expect(summary.stdout.contains(" engine \(version)\n"), "\(summary.stdout)")
        if version != EngineRegistry.latest.description {
            let other = try ChildProcess.run(TestPaths.kairos, ["simulate", "-", "--output", "digest"], stdin: unpinned)
            #expect(other.status == 0)
            if doc["scenario"]?["agents"]?.arrayValue?.isEmpty == true {
                // Without agents nothing the versions change is ever computed: the same trace.
                #expect(other.stdout == pinned.stdout, "\(file)")
            } else {
                #expect(other.stdout != pinned.stdout, "\(file): the default version gives another digest")
            }
        }
    }

    @Test func domainAndCatalogInputs() throws {
        let doc = try Fixtures.json("golden/v1.1.0-capability-550.json")
        let old = try Fixtures.json("golden/capability-550.json")
        #expect(doc["input"] == old["input"])
        let domain = JSONValue.object(["domain": "ai-safety", "input": doc["input"] ?? .null])
        let r = try ChildProcess.run(TestPaths.kairos, ["simulate", "-", "--ticks", "500", "--output", "digest"],
                                    stdin: Data(CanonicalJSON.string(domain).utf8))
        #expect(r.stdout == "\(doc["digest"]?.stringValue ?? "")\n")
        let pinned = JSONValue.object(["domain": "ai-safety", "input": doc["input"] ?? .null, "engineVersion": "1.0.0"])
        let r100 = try ChildProcess.run(TestPaths.kairos, ["simulate", "-", "--ticks", "500", "--output", "digest"],
                                       stdin: Data(CanonicalJSON.string(pinned).utf8))
        #expect(r100.stdout == "\(old["digest"]?.stringValue ?? "")\n")

        let catalog = try ChildProcess.run(TestPaths.kairos, ["simulate", "-", "--output", "json"], stdin: Data("{\"scenarioId\": \"capability-divergence\"}".utf8))
        #expect(catalog.status == 0)
        let trace = try JSONParser.parse([UInt8](catalog.output))
        #expect(trace["metadata"]?["scenarioId"] == "capability-divergence")
        #expect(trace["metadata"]?["ticks"] == 500)
        #expect(trace["steps"]?.arrayValue?.count == 500)

        let summary = try ChildProcess.run(TestPaths.kairos, ["simulate", "-", "--output", "summary"], stdin: Data("{\"scenarioId\": \"capability-divergence\", \"ticks\": 50}".utf8))
        let text = summary.stdout
        #expect(text.contains("ticks      50"))
        #expect(text.contains("digest     sha256:"))
    }

    @Test func badFilesExitTwoWithPathedMessages() throws {
        let r = try ChildProcess.run(TestPaths.kairos, ["simulate", "-"], stdin: Data("{\"seed\": 1, \"agents\": [{\"id\": \"a\", \"policy\": {\"lambda\": 3}}], \"initialState\": {\"stability\": 0.5}}".utf8))
        #expect(r.status == 2)
        #expect(r.stderr == "<stdin>: error: agents[0].policy.lambda: must be between 0 and 1\n")

        let syntax = try ChildProcess.run(TestPaths.kairos, ["simulate", "-"], stdin: Data("{\n  \"seed\": 1,,\n}".utf8))
        #expect(syntax.status == 2)
        #expect(syntax.stderr == "<stdin>:2:13: error: expected a member name in quotes, got ','\n")

        let missing = try ChildProcess.run(TestPaths.kairos, ["simulate", "/nonexistent/file.json"])
        #expect(missing.status == 2)
        #expect(missing.stderr == "/nonexistent/file.json: cannot read file: No such file or directory\n")

        let unknown = try ChildProcess.run(TestPaths.kairos, ["simulate", "-"], stdin: Data("{\"scenarioId\": \"capability-divergense\"}".utf8))
        #expect(unknown.status == 2)
        #expect(unknown.stderr.contains("did you mean \"capability-divergence\"?"))

        let engine = try ChildProcess.run(TestPaths.kairos, ["simulate", "-", "--engine", "0.1.0"], stdin: Data("{\"scenarioId\": \"capability-divergence\"}".utf8))
        #expect(engine.status == 2)
        #expect(engine.stderr.contains("engine 0.1.0 is not available; offered: 1.0.0, 1.1.0"))
    }
}
