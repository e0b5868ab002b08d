import Foundation
import Hummingbird
import HummingbirdTesting
import KairosAPI
import KairosEngine
import Testing
@testable import KairosServer

/// Every route × (no key, wrong scope, other organization, right key) → status, printed as a
/// table (the note's table comes from this test's output).
@Suite struct AuthorizationMatrixTests {
    struct Route: Sendable {
        var method: HTTPRequest.Method
        var path: String
        var body: String?
        /// The same request made on behalf of another organization.
        var otherOrganization: (path: String, body: String?)?
        var expected: [Int]
    }

    @Test func routeByIdentity() async throws {
        let server = TestServer()
        let right = try await server.key(org: "acme", scopes: APIScope.allCases)
        let wrongScope = try await server.key(org: "acme", scopes: [.usageRead])
        let other = try await server.key(org: "beta", scopes: APIScope.allCases)
        let table = try await server.test { client -> [String] in
            let run = try await client.send(.post, "/v1/simulations/run", key: right,
                                            body: #"{"scenarioId": "capability-divergence", "ticks": 10}"#)
            let id = try #require(try run.json["simulationId"]?.stringValue)
            let sim = "/v1/simulations/\(id)"
            let create = #"{"scenarioId": "capability-divergence"}"#
            let domain = #"{"domain": "ai-safety", "input": {"models": [{"name": "m", "capability_index": 500, "alignment_score": 70, "guardrail_coverage": 60}]}}"#
            let runBody = #"{"scenarioId": "capability-divergence", "ticks": 10}"#
            func billed(_ body: String) -> String { String(body.dropLast()) + #", "organizationId": "acme"}"# }
            // Per-simulation routes: another organization's key on acme's simulation.
            // Creating and listing: another organization's key naming acme.
            let routes: [Route] = [
                Route(method: .get, path: "/v1/health", expected: [200, 200, 200, 200]),
                Route(method: .get, path: "/v1/openapi.json", expected: [200, 200, 200, 200]),
                Route(method: .get, path: "/v1/docs", expected: [200, 200, 200, 200]),
                Route(method: .get, path: "/v1/scenarios", expected: [200, 200, 200, 200]),
                Route(method: .get, path: "/v1/scenarios/capability-divergence", expected: [200, 200, 200, 200]),
                Route(method: .post, path: "/v1/simulations", body: create, otherOrganization: ("/v1/simulations", billed(create)),
                      expected: [401, 403, 401, 201]),
                Route(method: .post, path: "/v1/simulations/from-domain", body: domain,
                      otherOrganization: ("/v1/simulations/from-domain", billed(domain)), expected: [401, 403, 401, 201]),
                Route(method: .post, path: "/v1/simulations/run", body: runBody,
                      otherOrganization: ("/v1/simulations/run", billed(runBody)), expected: [401, 403, 401, 200]),
                Route(method: .get, path: "/v1/simulations", otherOrganization: ("/v1/simulations?organizationId=acme", nil),
                      expected: [401, 403, 401, 200]),
                Route(method: .get, path: sim, expected: [401, 403, 401, 200]),
                Route(method: .post, path: "\(sim)/step", body: #"{"ticks": 5}"#, expected: [401, 403, 401, 200]),
                Route(method: .get, path: "\(sim)/trace", expected: [401, 403, 401, 200]),
                Route(method: .put, path: "\(sim)/agent-policy", body: #"{"agentId": "frontier_model", "policy": {"lambda": 0.7}}"#,
                      expected: [401, 403, 401, 200]),
                Route(method: .put, path: "\(sim)/time-control", body: #"{"action": "step"}"#, expected: [401, 403, 401, 200]),
                Route(method: .post, path: "\(sim)/decrees", body: #"{"kind": "shock", "magnitude": 0.1}"#,
                      expected: [401, 403, 401, 201]),
                Route(method: .get, path: "\(sim)/prophecies", expected: [401, 403, 401, 200]),
                Route(method: .get, path: "/v1/organization", otherOrganization: ("/v1/organization?organizationId=acme", nil),
                      expected: [401, 403, 401, 200]),
            ]
            var lines = ["| route | no key | wrong scope | other org | right key |", "|---|---|---|---|---|"]
            for route in routes {
                var seen: [Int] = []
                seen.append(Int(try await client.send(route.method, route.path, body: route.body).status.code))
                seen.append(Int(try await client.send(route.method, route.path, key: wrongScope, body: route.body).status.code))
                let o = route.otherOrganization ?? (route.path, route.body)
                seen.append(Int(try await client.send(route.method, o.path, key: other, body: o.body).status.code))
                seen.append(Int(try await client.send(route.method, route.path, key: right, body: route.body).status.code))
                #expect(seen == route.expected, "\(route.method) \(route.path)")
                let name = "\(route.method.rawValue) \(route.path.replacingOccurrences(of: id, with: "{id}"))"
                lines.append("| `\(name)` | " + seen.map(String.init).joined(separator: " | ") + " |")
            }
            return lines
        }
        print(table.joined(separator: "\n"))
    }

    @Test func otherOrganizationNeverSeesData() async throws {
        let server = TestServer()
        let acme = try await server.key(org: "acme")
        let beta = try await server.key(org: "beta")
        try await server.test { client in
            _ = try await client.createSimulation(key: acme)
            let list = try await client.send(.get, "/v1/simulations", key: beta)
            #expect(try list.json["pagination"]?["total"] == 0)
            #expect(try list.json["data"] == [])
        }
    }
}
