import Foundation
import Hummingbird
import HummingbirdTesting
import KairosAPI
import KairosEngine
import NIOCore
import Testing
@testable import KairosServer

/// Issue 16, item 2: media types, methods, long error lists, request ids, the schema's rules
/// across fields, and bearer tokens for organizations the server does not have.
@Suite struct ContractTests {
    @Test func nonJSONBodiesAre415() async throws {
        let server = TestServer()
        let key = try await server.key()
        try await server.test { client in
            let body = #"{"scenarioId": "capability-divergence"}"#
            for type in ["application/xml", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                         "application/json; charset=utf-16", "application/jsonx", "json"] {
                let r = try await client.send(.post, "/v1/simulations", key: key, body: nil,
                                              headers: [("Content-Type", type)], rawBody: body)
                #expect(r.status.code == 415, "\(type)")
                #expect(r.errorCode == "UNSUPPORTED_MEDIA_TYPE", "\(type)")
                #expect(try r.json["error"]?["details"]?["supported"] == .array(["application/json"]))
            }
            // An XML body is not parsed as JSON, on every JSON route.
            let id = try await client.createSimulation(key: key)
            for (method, path) in [(HTTPRequest.Method.post, "/v1/simulations/run"), (.post, "/v1/simulations/\(id)/step"),
                                   (.put, "/v1/simulations/\(id)/time-control"), (.post, "/v1/simulations/\(id)/decrees"),
                                   (.put, "/v1/simulations/\(id)/agent-policy"), (.post, "/v1/simulations/from-domain")] {
                let r = try await client.send(method, path, key: key, headers: [("Content-Type", "application/xml")],
                                              rawBody: "<ticks>5</ticks>")
                #expect(r.status.code == 415, "\(method) \(path)")
            }
            for type in ["application/json", "application/json; charset=utf-8", "Application/JSON;charset=\"UTF-8\"",
                         "application/merge-patch+json"] {
                let r = try await client.send(.post, "/v1/simulations", key: key, headers: [("Content-Type", type)], rawBody: body)
                #expect(r.status == .created, "\(type)")
            }
            // No Content-Type at all: read as JSON.
            let bare = try await client.send(.post, "/v1/simulations", key: key, rawBody: body)
            #expect(bare.status == .created)
        }
    }

    @Test func knownPathWithAnotherMethodIs405WithAllow() async throws {
        let server = TestServer()
        let key = try await server.key(scopes: APIScope.allCases)
        try await server.test { client in
            let id = try await client.createSimulation(key: key)
            let cases: [(HTTPRequest.Method, String, String)] = [
                (.delete, "/v1/simulations/\(id)", "GET, HEAD"), (.post, "/v1/health", "GET, HEAD"),
                (.put, "/v1/simulations", "GET, HEAD, POST"), (.get, "/v1/simulations/run", "POST"),
                (.patch, "/v1/simulations/\(id)/time-control", "PUT"), (.get, "/v1/simulations/\(id)/step", "POST"),
                (.delete, "/v1/scenarios/capability-divergence", "GET, HEAD"), (.post, "/v1/organization", "GET, HEAD"),
                (.options, "/v1/openapi.json", "GET, HEAD"), (.head, "/v1/simulations/\(id)/step", "POST"),
            ]
            for (method, path, allow) in cases {
                let r = try await client.send(method, path, key: key)
                #expect(r.status.code == 405, "\(method) \(path)")
                #expect(r.headers[.allow] == allow, "\(method) \(path)")
                #expect(r.errorCode == "METHOD_NOT_ALLOWED")
                #expect(r.headers[.requestID] != nil)
            }
            // Unknown paths stay 404, whatever the method.
            for (method, path) in [(HTTPRequest.Method.get, "/v1/nope"), (.delete, "/v1/simulations/\(id)/nope"), (.post, "/v2/health")] {
                let r = try await client.send(method, path, key: key)
                #expect(r.status == .notFound, "\(method) \(path)")
                #expect(r.headers[.allow] == nil)
            }
        }
    }

    /// HEAD is served wherever GET is: the same status and headers (Content-Length too), no body.
    @Test func headAnswersLikeGetWithoutABody() async throws {
        let server = TestServer()
        let key = try await server.key(scopes: APIScope.allCases)
        try await server.test { client in
            let id = try await client.createSimulation(key: key)
            _ = try await client.send(.post, "/v1/simulations/\(id)/step", key: key, body: #"{"ticks": 20}"#)
            for (path, accept) in [("/v1/health", "application/json"), ("/v1/openapi.json", "application/json"),
                                   ("/v1/simulations/\(id)", "application/json"), ("/v1/simulations/\(id)/trace", "application/x-ndjson"),
                                   ("/v1/scenarios", "application/json"), ("/dashboard", "text/html")] {
                let get = try await client.send(.get, path, key: key, headers: [("Accept", accept)])
                let head = try await client.send(.head, path, key: key, headers: [("Accept", accept)])
                #expect(get.status == .ok, "\(path)")
                #expect(head.status == get.status, "\(path)")
                #expect(head.bytes.isEmpty, "\(path)")
                #expect(head.headers[.contentType] == get.headers[.contentType], "\(path)")
                #expect(head.headers[.contentLength] == get.headers[.contentLength] && get.headers[.contentLength] != nil, "\(path)")
            }
            let digest = try await client.send(.head, "/v1/simulations/\(id)/trace", key: key, headers: [("Accept", "application/x-ndjson")])
            #expect(digest.headers[.traceDigest]?.hasPrefix("sha256:") == true)
            // Errors too: no key is 401, another organization's simulation 401, an unknown one 404 — all without a body.
            #expect(try await client.send(.head, "/v1/simulations/\(id)").status == .unauthorized)
            let missing = try await client.send(.head, "/v1/simulations/00000000-0000-0000-0000-000000000000", key: key)
            #expect(missing.status == .notFound && missing.bytes.isEmpty)
        }
    }

    @Test func validationIssuesAreCapped() async throws {
        let server = TestServer()
        let key = try await server.key()
        try await server.test { client in
            let keys = (0 ..< 50_000).map { "\"k\($0)\": 0" }.joined(separator: ", ")
            let r = try await client.send(.post, "/v1/simulations", key: key, body: "{\"scenarioId\": \"capability-divergence\", \(keys)}")
            #expect(r.status == .badRequest)
            #expect(r.bytes.count < 16_384, "a \(r.bytes.count)-byte error")
            let details = try #require(try r.json["error"]?["details"])
            #expect(details["issues"]?.arrayValue?.count == APIErrorEnvelope.maxListedIssues)
            #expect(details["moreIssues"]?.numberValue == Double(50_000 - APIErrorEnvelope.maxListedIssues))
            #expect(try r.json["error"]?["message"]?.stringValue?.contains("50000 issues") == true)
            // A huge key is cut in the path it is reported at.
            let long = String(repeating: "x", count: 500_000)
            let one = try await client.send(.post, "/v1/simulations", key: key, body: "{\"\(long)\": 1, \"scenarioId\": \"capability-divergence\"}")
            #expect(one.status == .badRequest)
            #expect(one.bytes.count < 2048, "a \(one.bytes.count)-byte error")
            // A few issues: listed whole, no moreIssues.
            let few = try await client.send(.post, "/v1/simulations", key: key, body: #"{"a": 1, "b": 2, "scenarioId": "capability-divergence"}"#)
            #expect(try few.json["error"]?["details"]?["issues"]?.arrayValue?.count == 2)
            #expect(try few.json["error"]?["details"]?["moreIssues"] == nil)
        }
    }

    /// "Did you mean" hints cost an edit distance per unknown key and allowed name: only the
    /// first few unknown keys of an object get one (50 000 keys took 12 s before), and a name
    /// far longer than every allowed one is not compared at all.
    @Test func unknownFieldHintsAreBounded() {
        let collector = IssueCollector()
        let members = (0 ..< 1000).map { _ in JSONMember(key: "tickz", value: 0) }
        _ = collector.object(.object(members), at: "", allowed: ["ticks"])
        #expect(collector.issues.count == 1000)
        #expect(collector.issues.filter { $0.message.contains("did you mean") }.count == IssueCollector.hintedUnknownFields)
        #expect(closestName(to: "tickz", in: ["ticks"]) == "ticks")
        #expect(closestName(to: String(repeating: "t", count: 100_000), in: ["ticks"]) == nil)
    }

    @Test func requestIdFollowsTheSchema() async throws {
        let server = TestServer()
        try await server.test { client in
            let fits = String(repeating: "a", count: 128)
            let ok = try await client.send(.get, "/v1/health", headers: [("X-Request-Id", fits)])
            #expect(ok.status == .ok)
            #expect(ok.headers[.requestID] == fits)
            for bad in [String(repeating: "a", count: 129), "", "with space"] {
                let r = try await client.send(.get, "/v1/health", headers: [("X-Request-Id", bad)])
                #expect(r.status == .badRequest, "\(bad.prefix(20))")
                #expect(try r.json["error"]?["details"]?["issues"]?.arrayValue?.first?["path"]?.stringValue == "X-Request-Id")
                #expect(r.headers[.requestID]?.hasPrefix("req_") == true)
            }
            let twice = try await client.send(.get, "/v1/health", headers: [("X-Request-Id", "a"), ("X-Request-Id", "b")])
            #expect(twice.status == .badRequest)
        }
    }

    @Test func schemaStatesTheRulesAcrossFields() throws {
        let schemas = try #require(OpenAPIDocument.document["components"]?["schemas"])
        let create = try #require(schemas["CreateSimulationRequest"])
        #expect(create["oneOf"] == .array([.object(["required": ["scenarioId"]]), .object(["required": ["scenario"]])]))
        let run = try #require(schemas["RunRequest"])
        #expect(run["oneOf"]?.arrayValue?.count == 3)
        #expect(run["dependentRequired"]?["input"] == .array(["domain"]))
        #expect(run["dependentRequired"]?["domain"] == .array(["input"]))
        let requestId = try #require(OpenAPIDocument.document["components"]?["parameters"]?["XRequestId"]?["schema"])
        #expect(requestId["maxLength"] == 128)
        #expect(requestId["minLength"] == 1)
        // Every operation with a body lists 415.
        for item in try #require(OpenAPIDocument.document["paths"]?.objectMembers) {
            for member in item.value.objectMembers ?? [] where member.value["requestBody"] != nil {
                #expect(member.value["responses"]?["415"] != nil, "\(member.key)")
            }
        }
    }

    @Test func tokensForUnknownOrganizationsAre401UnlessProvisioning() async throws {
        let server = TestServer()
        let ghost = try await server.token(orgs: ["ghost"], register: false)
        try await server.test { client in
            var headers: [(String, String)] = [("Authorization", "Bearer \(ghost)")]
            let r = try await client.send(.post, "/v1/simulations", body: #"{"scenarioId": "capability-divergence"}"#, headers: headers)
            #expect(r.status == .unauthorized)
            #expect(try r.json["error"]?["message"]?.stringValue?.contains("ghost") == true)
            let list = try await client.send(.get, "/v1/simulations", headers: headers)
            #expect(list.status == .unauthorized)
            // One known and one unknown organization: refused too.
            let mixed = try await server.token(orgs: ["acme", "ghost"], register: false)
            _ = try await server.key(org: "acme")
            headers = [("Authorization", "Bearer \(mixed)")]
            #expect(try await client.send(.get, "/v1/simulations?organizationId=acme", headers: headers).status == .unauthorized)
        }
        #expect(try await server.repositories.identities.organization(id: "ghost") == nil)
        #expect(try await server.repositories.simulations.list(organizationIds: ["ghost"], limit: 10, offset: 0).total == 0)

        var provisioning = TestServer()
        provisioning.provisionOrganizations = true
        let token = try await provisioning.token(orgs: ["newco"], register: false)
        try await provisioning.test { client in
            let r = try await client.send(.post, "/v1/simulations", body: #"{"scenarioId": "capability-divergence"}"#,
                                          headers: [("Authorization", "Bearer \(token)")])
            #expect(r.status == .created)
        }
        #expect(try await provisioning.repositories.identities.organization(id: "newco")?.tier == .community)
    }
}
