import Foundation
import KairosAPI
import KairosEngine
import KairosTestSupport
import Testing

/// Engine 1.1.0 must not change a single 1.0.0 trace. The digests below were printed by
/// engine 1.0.0 before 1.1.0 existed (README, golden files, `kairos simulate --output
/// digest` of each file at the commit before engine 1.1.0) and are pinned here as literals,
/// so neither a change to `EngineV1_0_0` nor a regenerated fixture can move them unnoticed.
@Suite struct Version100PinTests {
    static let v100 = EngineVersion(1, 0, 0)

    /// Golden files of ../shared/golden for 1.0.0.
    static let golden: [(file: String, digest: String)] = [
        ("capability-1000-collapse.json", "sha256:cbe74b935f9c29fb8cbb155ba7edb8ed776c3e8703fba54fa853803a9759e6ed"),
        ("capability-550.json", "sha256:d9ed209921c512e9eeacb028cef9c85791bc6caa13ee0c8330d991e664307b6d"),
        ("capability-748-paradox.json", "sha256:bd5f004ffe25bcffd189588feaa28beeb31e1e60220a38101e48b2e1f63d133d"),
        ("no-agents.json", "sha256:ee534e7aabb0ad3605475fbe5d4cb3963843d795dced432f0bcb88d8ebb09602"),
        ("three-agents.json", "sha256:ce257d809777464119e0af5f356341fe483dbe1e7f25c23f2f4069edea2ec475"),
    ]

    /// `examples/*.json` on 1.0.0.
    static let examples: [(file: String, digest: String)] = [
        ("capability-748.json", "sha256:bd5f004ffe25bcffd189588feaa28beeb31e1e60220a38101e48b2e1f63d133d"),
        ("capability-divergence.json", "sha256:9fbcd8b594c80e8034b4fb0ecd5bc927e9dc4d6a5effcb7079872c707c834919"),
        ("three-agents.json", "sha256:ce257d809777464119e0af5f356341fe483dbe1e7f25c23f2f4069edea2ec475"),
    ]

    @Test func goldenFilesKeepTheir100Digests() throws {
        #expect(Set(Self.golden.map(\.file)) == Set(try Fixtures.goldenNames.filter {
            try Fixtures.json("golden/\($0)")["engineVersion"] == "1.0.0"
        }), "every 1.0.0 golden file is pinned")
        for (file, digest) in Self.golden {
            let doc = try Fixtures.json("golden/\(file)")
            #expect(doc["digest"]?.stringValue == digest, "\(file) itself is unchanged")
            let scenario = try ScenarioValidator.validate(doc["scenario"] ?? .null)
            let ticks = Int(doc["ticks"]?.numberValue ?? 0)
            #expect(Trace.run(scenario, ticks: ticks, version: Self.v100)?.metadata.digest == digest, "\(file)")
        }
    }

    @Test func exampleFilesKeepTheir100Digests() throws {
        let dir = TestPaths.root.appendingPathComponent("examples")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".json") }.sorted()
        #expect(files == Self.examples.map(\.file), "every example scenario file is pinned")
        for (file, digest) in Self.examples {
            let json = try JSONParser.parse([UInt8](try Data(contentsOf: dir.appendingPathComponent(file))))
            let request = try ScenarioRequest.parse(json, allowBareScenario: true, maxTicks: nil)
            #expect(request.engineVersion == nil, "\(file) names no version, so it runs on the default")
            let ticks = request.ticks(default: 100)
            #expect(Trace.run(request.scenario, ticks: ticks, version: Self.v100)?.metadata.digest == digest, "\(file) on 1.0.0")
            // On the default (1.1.0) the same file gives another digest.
            #expect(Trace.run(request.scenario, ticks: ticks)?.metadata.digest != digest, "\(file) on the default")
        }
    }
}
