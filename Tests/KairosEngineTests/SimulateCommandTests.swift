import Crypto
import Foundation
import KairosEngine
import KairosTestSupport
import Testing

/// `kairos simulate` end to end through the built binary.
@Suite struct SimulateCommandTests {
    static func goldenRequest(_ file: String) throws -> Data {
        let doc = try Fixtures.json("golden/\(file)")
        let request = JSONValue.object(["scenario": doc["scenario"] ?? .null, "ticks": doc["ticks"] ?? .null])
        return Data(CanonicalJSON.string(request).utf8)
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

    @Test func domainAndCatalogInputs() throws {
        let doc = try Fixtures.json("golden/capability-550.json")
        let domain = JSONValue.object(["domain": "ai-safety", "input": doc["input"] ?? .null])
        let r = try ChildProcess.run(TestPaths.kairos, ["simulate", "-", "--ticks", "500", "--output", "digest"],
                                    stdin: Data(CanonicalJSON.string(domain).utf8))
        #expect(r.stdout == "\(doc["digest"]?.stringValue ?? "")\n")

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
        #expect(engine.stderr.contains("engine 0.1.0 is not available; offered: 1.0.0"))
    }
}
