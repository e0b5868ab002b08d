import Foundation
import Hummingbird
import HummingbirdTesting
import KairosAPI
import KairosEngine
import NIOCore
import Testing
@testable import KairosServer

/// Throws malformed and hostile input at every route: never a 500, always the envelope with
/// the request id of the response header.
@Suite struct MalformedInputTests {
    static let bodies: [[UInt8]] = {
        var list: [String] = [
            "", " ", "{", "}", "[]", "null", "true", "0", "\"text\"", "{\"ticks\":}", "{'ticks': 5}", "{\"ticks\": 5,}",
            "NaN", "{\"ticks\": NaN}", "{\"ticks\": Infinity}", "{\"ticks\": -Infinity}", "{\"ticks\": 1e999}",
            "{\"ticks\": 1.5}", "{\"ticks\": \"5\"}", "{\"ticks\": -1}", "{\"ticks\": 0}", "{\"ticks\": 10001}",
            "{\"ticks\": 1e308}", "{\"ticks\": null}", "{\"ticks\": [5]}", "{\"ticks\": 5, \"ticks\": 6}",
            "{\"scenarioId\": null, \"ticks\": 5}", "{\"scenarioId\": 42}", "{\"scenarioId\": \"\"}",
            "{\"scenario\": {\"seed\": 1e20, \"agents\": {}, \"initialState\": []}}",
            "{\"scenario\": {\"seed\": 1, \"agents\": [{\"id\": \"\"}], \"initialState\": {\"stability\": 2}}, \"ticks\": 1}",
            "{\"domain\": \"ai-safety\", \"input\": {\"models\": [{\"name\": 1}]}, \"ticks\": 1}",
            "{\"agentId\": 5, \"policy\": []}", "{\"agentId\": \"frontier_model\", \"policy\": {\"lambda\": -0.1}}",
            "{\"action\": \"play\", \"speed\": 0}", "{\"action\": 1}", "{\"kind\": \"meteor\"}", "{\"kind\": \"shock\", \"magnitude\": 2}",
            "{\"kind\": \"policy\"}", "{\"kind\": \"moratorium\", \"ticks\": 1.5}", "{\"engineVersion\": \"v1\", \"scenarioId\": \"capability-divergence\"}",
            "{\"organizationId\": 7}", "{\"\\ud800\": 1}", "{\"a\\u0000b\": 1}", "\u{7}", "{\"ticks\": 5}\n{\"ticks\": 6}",
            String(repeating: "[", count: 100_000), String(repeating: "{\"a\":", count: 5000) + "1" + String(repeating: "}", count: 5000),
            "{\"ticks\": 123456789012345678901234567890}", "{\"ticks\": -0}", "{\"ticks\": 5e0}",
        ]
        list.append("{\"pad\": \"" + String(repeating: "x", count: 1 << 20) + "\"}")
        var bytes = list.map { Array($0.utf8) }
        bytes.append([0xFF, 0xFE, 0x7B, 0x7D])
        bytes.append([0x7B, 0x22, 0xC3, 0x28, 0x22, 0x3A, 0x31, 0x7D])
        // Deterministic mutations of valid bodies.
        var rng = SplitMix(seed: 20260611)
        let valid = [#"{"scenarioId": "capability-divergence", "ticks": 20}"#, #"{"ticks": 3}"#,
                     #"{"agentId": "frontier_model", "policy": {"lambda": 0.7, "gamma": 0.2}}"#,
                     #"{"kind": "guardrail_upgrade", "target": "open_model", "magnitude": 0.3}"#, #"{"action": "step"}"#,
                     #"{"domain": "ai-safety", "input": {"models": [{"name": "m", "capability_index": 500, "alignment_score": 70, "guardrail_coverage": 60}]}}"#]
        for _ in 0 ..< 150 {
            var b = Array(valid[Int(rng.next() % UInt64(valid.count))].utf8)
            for _ in 0 ..< 1 + Int(rng.next() % 4) {
                guard !b.isEmpty else { break }
                let i = Int(rng.next() % UInt64(b.count))
                switch rng.next() % 3 {
                case 0: b[i] = UInt8(truncatingIfNeeded: rng.next())
                case 1: b.remove(at: i)
                default: b.insert(Array("{}[],:\"0-e.n".utf8)[Int(rng.next() % 12)], at: i)
                }
            }
            bytes.append(b)
        }
        return bytes
    }()

    @Test func noBadInputIsA500() async throws {
        let server = TestServer()
        let key = try await server.key(scopes: APIScope.allCases)
        let (count, codes) = try await server.test { client -> (Int, [String: Int]) in
            let run = try await client.send(.post, "/v1/simulations/run", key: key, body: #"{"scenarioId": "capability-divergence", "ticks": 5}"#)
            let id = try #require(try run.json["simulationId"]?.stringValue)
            let targets: [(HTTPRequest.Method, String)] = [
                (.post, "/v1/simulations"), (.post, "/v1/simulations/from-domain"), (.post, "/v1/simulations/run"),
                (.post, "/v1/simulations/\(id)/step"), (.put, "/v1/simulations/\(id)/agent-policy"),
                (.put, "/v1/simulations/\(id)/time-control"), (.post, "/v1/simulations/\(id)/decrees"),
                (.get, "/v1/simulations?limit=abc&offset=1e3"), (.get, "/v1/simulations?%zz=%"), (.get, "/v1/simulations/\(id)?x=1"),
                (.get, "/v1/simulations/not-a-uuid"), (.get, "/v1/simulations/\(id)/trace"), (.delete, "/v1/simulations/\(id)"),
                (.post, "/v1/health"), (.get, "/v1/scenarios/%00"), (.get, "/v1/scenarios/" + String(repeating: "a", count: 4000)),
            ]
            var count = 0
            var codes: [String: Int] = [:]
            for (method, path) in targets {
                for body in Self.bodies {
                    var headers: HTTPFields = [:]
                    headers[.apiKey] = key
                    headers[.contentType] = "application/json"
                    let r = try await client.execute(uri: path, method: method, headers: headers, body: ByteBuffer(bytes: body))
                    count += 1
                    #expect(r.status.code < 500, "\(method) \(path) with \(String(decoding: body.prefix(80), as: UTF8.self))")
                    let requestId = r.headers[.requestID]
                    #expect(requestId != nil)
                    if r.status.code >= 400 {
                        let envelope = APIErrorEnvelope(json: try r.json)
                        #expect(envelope?.requestId == requestId)
                        codes[envelope?.code.rawValue ?? "?", default: 0] += 1
                    }
                    // A time-control play in this loop must not leave the simulation running.
                    if path.hasSuffix("time-control") {
                        _ = try await client.send(.put, path, key: key, body: #"{"action": "pause"}"#)
                    }
                }
            }
            return (count, codes)
        }
        print("malformed-input requests: \(count), error codes: \(codes.sorted { $0.key < $1.key })")
        #expect(count == 16 * Self.bodies.count)
    }
}

/// A tiny seeded generator for deterministic fuzzing.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
