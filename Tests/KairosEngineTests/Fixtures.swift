import Foundation
import KairosEngine

enum Fixtures {
    static var directory: URL {
        Bundle.module.resourceURL!.appendingPathComponent("Fixtures")
    }

    static func data(_ relative: String) throws -> Data {
        try Data(contentsOf: directory.appendingPathComponent(relative))
    }

    static func json(_ relative: String) throws -> JSONValue {
        try JSONParser.parse([UInt8](data(relative)))
    }

    static var goldenNames: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("golden").path)) ?? []
        return names.filter { $0.hasSuffix(".json") }.sorted()
    }
}
