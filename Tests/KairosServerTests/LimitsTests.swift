import Crypto
import Foundation
import Hummingbird
import HummingbirdTesting
import KairosAPI
import KairosEngine
import NIOConcurrencyHelpers
import NIOCore
import Testing
@testable import KairosServer

#if canImport(Glibc)
import Glibc
#endif

/// A clock tests move by hand (milliseconds since 1970).
final class ManualClock: Sendable {
    private let time: NIOLockedValueBox<Int64>

    /// 2026-03-01T12:00:00Z unless told otherwise.
    init(_ start: Int64 = 1_772_366_400_000) { time = NIOLockedValueBox(start) }

    var now: @Sendable () -> Int64 { { [time] in time.withLockedValue { $0 } } }
    var milliseconds: Int64 { time.withLockedValue { $0 } }
    func advance(milliseconds: Int64) { time.withLockedValue { $0 += milliseconds } }
}

extension TestResponse {
    func header(_ name: String) -> String? { HTTPFields.Element.Name(name).flatMap { headers[$0] } }
    func intHeader(_ name: String) -> Int? { header(name).flatMap(Int.init) }
}

/// Rate limits (seed 002's table, sliding 60 s window, headers on every response).
@Suite struct RateLimitTests {
    /// One cheap request per route class: a key without the route's scope is answered 403
    /// after authentication and limiting, so thousands of requests stay fast.
    static func request(_ routeClass: RouteClass) -> (HTTPRequest.Method, String, String?) {
        switch routeClass {
        case .create: (.post, "/v1/simulations", #"{"scenarioId": "capability-divergence"}"#)
        case .step: (.post, "/v1/simulations/00000000-0000-0000-0000-000000000000/step", #"{"ticks": 1}"#)
        case .read: (.get, "/v1/simulations", nil)
        }
    }

    @Test(arguments: OrganizationTier.allCases)
    func everyTierAndClassBoundary(tier: OrganizationTier) async throws {
        let clock = ManualClock()
        let server = TestServer(rateLimitMultiplier: 1, environment: ServerEnvironment(now: clock.now))
        let key = try await server.key(org: "org-\(tier.rawValue)", tier: tier, scopes: [.usageRead])
        try await server.test { client in
            for routeClass in RouteClass.allCases {
                let limit = routeClass.limit(in: tier.limits)
                let (method, path, body) = Self.request(routeClass)
                let start = clock.milliseconds
                for i in 1 ... limit {
                    let r = try await client.send(method, path, key: key, body: body)
                    if r.status != .forbidden || r.intHeader("X-RateLimit-Remaining") != limit - i {
                        Issue.record("\(tier) \(routeClass) request \(i)/\(limit): \(r.status), remaining \(r.header("X-RateLimit-Remaining") ?? "-")")
                        return
                    }
                    #expect(r.intHeader("X-RateLimit-Limit") == limit)
                }
                let refused = try await client.send(method, path, key: key, body: body)
                #expect(refused.status == .tooManyRequests, "\(tier) \(routeClass): request \(limit + 1) is refused")
                #expect(refused.errorCode == "RATE_LIMITED")
                #expect(refused.intHeader("Retry-After") == 60)
                #expect(refused.intHeader("X-RateLimit-Remaining") == 0)
                #expect(refused.intHeader("X-RateLimit-Reset") == Int((start + 60_000) / 1000))
                // The window slides: one millisecond early is still refused, on time is admitted.
                clock.advance(milliseconds: 59_999)
                let early = try await client.send(method, path, key: key, body: body)
                #expect(early.status == .tooManyRequests)
                #expect(early.intHeader("Retry-After") == 1)
                clock.advance(milliseconds: 1)
                let admitted = try await client.send(method, path, key: key, body: body)
                #expect(admitted.status == .forbidden, "\(tier) \(routeClass): admitted once the window has slid")
                #expect(admitted.intHeader("X-RateLimit-Remaining") == limit - 1)
                clock.advance(milliseconds: 60_000)
            }
        }
    }

    @Test func windowSlidesRequestByRequest() async throws {
        let clock = ManualClock()
        let server = TestServer(rateLimitMultiplier: 1, environment: ServerEnvironment(now: clock.now))
        let key = try await server.key(tier: .community, scopes: [.simulationRead])
        try await server.test { client in
            // Community reads: 120 per 60 s. 60 at t = 0, 60 at t = 30 s.
            for _ in 0 ..< 60 { #expect(try await client.send(.get, "/v1/simulations", key: key).status == .ok) }
            clock.advance(milliseconds: 30_000)
            for _ in 0 ..< 60 { #expect(try await client.send(.get, "/v1/simulations", key: key).status == .ok) }
            let full = try await client.send(.get, "/v1/simulations", key: key)
            #expect(full.status == .tooManyRequests)
            #expect(full.intHeader("Retry-After") == 30, "the first 60 leave at t = 60 s")
            clock.advance(milliseconds: 30_000)
            // The first 60 have left; the second 60 still count.
            for i in 0 ..< 60 {
                let r = try await client.send(.get, "/v1/simulations", key: key)
                #expect(r.status == .ok)
                #expect(r.intHeader("X-RateLimit-Remaining") == 59 - i)
                #expect(r.intHeader("X-RateLimit-Reset") == Int((clock.milliseconds - 30_000 + 60_000) / 1000))
            }
            let again = try await client.send(.get, "/v1/simulations", key: key)
            #expect(again.status == .tooManyRequests)
            #expect(again.intHeader("Retry-After") == 30)
            // Another class of the same key is untouched; the multiplier scales every limit.
            let create = try await client.send(.post, "/v1/simulations", key: key, body: "{}")
            #expect(create.intHeader("X-RateLimit-Limit") == 10)
        }
    }

    @Test func multiplierAndJWTSubject() async throws {
        let clock = ManualClock()
        let server = TestServer(rateLimitMultiplier: 3, environment: ServerEnvironment(now: clock.now))
        _ = try await server.key(org: "acme", tier: .professional)
        let token = try await server.token(sub: "ada", orgs: ["acme"])
        let otherToken = try await server.token(sub: "bob", orgs: ["acme"])
        try await server.test { client in
            var bearer: [(String, String)] = [("Authorization", "Bearer \(token)")]
            let first = try await client.send(.get, "/v1/simulations", headers: bearer)
            #expect(first.intHeader("X-RateLimit-Limit") == 1800, "professional reads × 3")
            #expect(first.intHeader("X-RateLimit-Remaining") == 1799)
            // The window is the token's subject: another token of the same subject shares it, another subject does not.
            let again = try await server.token(sub: "ada", orgs: ["acme"], expires: Date().addingTimeInterval(900))
            bearer = [("Authorization", "Bearer \(again)")]
            #expect(try await client.send(.get, "/v1/simulations", headers: bearer).intHeader("X-RateLimit-Remaining") == 1798)
            let bob = try await client.send(.get, "/v1/simulations", headers: [("Authorization", "Bearer \(otherToken)")])
            #expect(bob.intHeader("X-RateLimit-Remaining") == 1799)
        }
    }

    @Test func publicRoutesAndFailedAuthenticationAreLimitedByAddress() async throws {
        let clock = ManualClock()
        let server = TestServer(rateLimitMultiplier: 1, environment: ServerEnvironment(now: clock.now))
        let key = try await server.key(tier: .community)
        try await server.test { client in
            // Anonymous callers get the community limits: 120 reads per address.
            for i in 1 ... 120 {
                let r = try await client.send(.get, i % 2 == 0 ? "/v1/health" : "/v1/scenarios")
                #expect(r.status == .ok)
                #expect(r.intHeader("X-RateLimit-Remaining") == 120 - i)
            }
            let refused = try await client.send(.get, "/v1/health")
            #expect(refused.status == .tooManyRequests)
            #expect(refused.errorCode == "RATE_LIMITED")
            #expect(refused.intHeader("Retry-After") == 60)
            #expect(try await client.send(.get, "/metrics").status == .tooManyRequests, "/metrics is a public read")
            #expect(try await client.send(.get, "/v1/nothing-here").status == .tooManyRequests, "unknown routes too")
            // An authenticated read is the key's, not the address's.
            let keyed = try await client.send(.get, "/v1/simulations", key: key)
            #expect(keyed.status == .ok)
            #expect(keyed.intHeader("X-RateLimit-Remaining") == 119)
            // Failed authentication is charged to the address, in the route's class: 10 creates.
            for _ in 0 ..< 10 {
                let r = try await client.send(.post, "/v1/simulations", key: "krs_" + String(repeating: "x", count: 40), body: "{}")
                #expect(r.status == .unauthorized)
                #expect(r.intHeader("X-RateLimit-Limit") == 10)
            }
            let guessing = try await client.send(.post, "/v1/simulations", body: "{}")
            #expect(guessing.status == .tooManyRequests)
            clock.advance(milliseconds: 60_000)
            #expect(try await client.send(.get, "/v1/health").status == .ok)
        }
    }

    @Test func headersOnEveryResponse() async throws {
        let clock = ManualClock()
        let server = TestServer(environment: ServerEnvironment(now: clock.now))
        let key = try await server.key(scopes: APIScope.allCases)
        let readOnly = try await server.key(scopes: [.simulationRead])
        try await server.test { client in
            let id = try await client.createSimulation(key: key)
            let big = "{\"pad\": \"" + String(repeating: "x", count: 1 << 20) + "\"}"
            let requests: [(HTTPRequest.Method, String, String?, String?, [(String, String)], HTTPResponse.Status?)] = [
                (.get, "/v1/health", nil, nil, [], .ok),
                (.get, "/v1/openapi.json", nil, nil, [], .ok),
                (.get, "/v1/docs", nil, nil, [], .ok),
                (.get, "/metrics", nil, nil, [], .ok),
                (.get, "/v1/scenarios/nope", nil, nil, [], .notFound),
                (.get, "/v1/nothing", nil, nil, [], .notFound),
                (.delete, "/v1/health", nil, nil, [], .methodNotAllowed),
                (.get, "/v1/health", nil, nil, [("X-Request-Id", String(repeating: "r", count: 129))], .badRequest),
                (.post, "/v1/simulations", key, nil, [("Content-Type", "application/xml")], .unsupportedMediaType),
                (.get, "/v1/simulations", nil, nil, [], .unauthorized),
                (.get, "/v1/simulations", "krs_bad", nil, [], .unauthorized),
                (.post, "/v1/simulations", readOnly, "{}", [], .forbidden),
                (.get, "/v1/simulations/\(id)", key, nil, [], .ok),
                (.post, "/v1/simulations", key, #"{"scenarioId": "capability-divergence"}"#, [], .created),
                (.post, "/v1/simulations", key, "{", [], .badRequest),
                (.post, "/v1/simulations", key, big, [], .contentTooLarge),
                (.post, "/v1/simulations", key, "{}", [("Idempotency-Key", String(repeating: "k", count: 256))], .badRequest),
                (.post, "/v1/simulations/\(id)/step", key, #"{"ticks": 2}"#, [], .ok),
                (.put, "/v1/simulations/\(id)/time-control", key, #"{"action": "pause"}"#, [], .ok),
                (.get, "/v1/usage", key, nil, [], .ok),
                (.get, "/v1/organization", key, nil, [], .ok),
            ]
            for (method, path, credential, body, extra, expected) in requests {
                let r = try await client.send(method, path, key: credential, body: body, headers: extra)
                if let expected { #expect(r.status == expected, "\(method) \(path)") }
                let limit = try #require(r.intHeader("X-RateLimit-Limit"), "\(method) \(path) \(r.status)")
                let remaining = try #require(r.intHeader("X-RateLimit-Remaining"))
                let reset = try #require(r.intHeader("X-RateLimit-Reset"))
                #expect(remaining >= 0 && remaining < limit)
                #expect(reset >= Int(clock.milliseconds / 1000) && reset <= Int(clock.milliseconds / 1000) + 60)
                #expect(r.header("Retry-After") == nil)
            }
        }
    }

    @Test func limiterIsExactUnderConcurrencyAndForgetsIdleIdentities() async throws {
        let limiter = SlidingWindowLimiter(shardCount: 4)
        let admitted = await withTaskGroup(of: Bool.self) { group in
            for _ in 0 ..< 400 { group.addTask { limiter.acquire(key: "k", limit: 250, now: 1000).allowed } }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(admitted == 250)
        for i in 0 ..< 1000 { _ = limiter.acquire(key: "ip:\(i)", limit: 5, now: 2000) }
        #expect(limiter.trackedCount == 1001)
        // A window later every shard sweeps its idle identities on its next request.
        for i in 0 ..< 64 { _ = limiter.acquire(key: "fresh:\(i)", limit: 5, now: 62_000) }
        #expect(limiter.trackedCount == 64)
    }

    @Test func routeClasses() {
        #expect(RouteClass.of(method: .post, path: "/v1/simulations") == .create)
        #expect(RouteClass.of(method: .post, path: "/v1/simulations/from-domain") == .create)
        #expect(RouteClass.of(method: .post, path: "/v1/simulations/run") == .create)
        #expect(RouteClass.of(method: .post, path: "/v1/simulations/x/decrees") == .create)
        #expect(RouteClass.of(method: .get, path: "/v1/simulations/run/stream") == .create)
        #expect(RouteClass.of(method: .post, path: "/v1/simulations/x/step") == .step)
        #expect(RouteClass.of(method: .put, path: "/v1/simulations/x/time-control") == .step)
        #expect(RouteClass.of(method: .put, path: "/v1/simulations/x/agent-policy") == .step)
        #expect(RouteClass.of(method: .get, path: "/v1/simulations/x/events") == .read)
        #expect(RateLimitPolicy.isEventStream(method: .get, path: "/v1/simulations/x/events"))
        #expect(RateLimitPolicy.isEventStream(method: .get, path: "/v1/simulations/x/events/"))
        #expect(!RateLimitPolicy.isEventStream(method: .post, path: "/v1/simulations/x/events"))
        #expect(!RateLimitPolicy.isEventStream(method: .get, path: "/v1/simulations/x/trace"))
        #expect(RouteClass.of(method: .get, path: "/metrics") == .read)
        #expect(RateLimitPolicy.isProtected("/v1/simulations"))
        #expect(RateLimitPolicy.isProtected("/v1/usage/"))
        #expect(!RateLimitPolicy.isProtected("/v1/simulationsx"))
        #expect(!RateLimitPolicy.isProtected("/v1/health"))
    }
}

/// Idempotency-Key as API.md says.
@Suite struct IdempotencyTests {
    static let create = #"{"scenarioId": "capability-divergence"}"#

    @Test func replayReuseScopeAndValidation() async throws {
        let server = TestServer()
        let key = try await server.key(scopes: APIScope.allCases)
        let other = try await server.key(scopes: APIScope.allCases)
        try await server.test { client in
            let first = try await client.send(.post, "/v1/simulations", key: key, body: Self.create, headers: [("Idempotency-Key", "k-1")])
            #expect(first.status == .created)
            #expect(first.header("Idempotency-Replayed") == nil)
            let replay = try await client.send(.post, "/v1/simulations", key: key, body: Self.create,
                                               headers: [("Idempotency-Key", "k-1"), ("X-Request-Id", "retry-1")])
            #expect(replay.status == .created)
            #expect(replay.bytes == first.bytes)
            #expect(replay.header("Content-Type") == "application/json")
            #expect(replay.header("Idempotency-Replayed") == "true")
            #expect(replay.header("X-Request-Id") == "retry-1")
            #expect(replay.header("X-RateLimit-Limit") != nil)
            let reuse = try await client.send(.post, "/v1/simulations", key: key, body: #"{"scenarioId": "shock-recovery"}"#,
                                              headers: [("Idempotency-Key", "k-1")])
            #expect(reuse.status == .conflict)
            #expect(reuse.errorCode == "IDEMPOTENCY_KEY_REUSE")
            // Scope: identity + method + path.
            let otherIdentity = try await client.send(.post, "/v1/simulations", key: other, body: Self.create,
                                                      headers: [("Idempotency-Key", "k-1")])
            #expect(otherIdentity.status == .created)
            #expect(otherIdentity.header("Idempotency-Replayed") == nil)
            let otherPath = try await client.send(.post, "/v1/simulations/run", key: key,
                                                  body: #"{"scenarioId": "capability-divergence", "ticks": 3}"#,
                                                  headers: [("Idempotency-Key", "k-1")])
            #expect(otherPath.status == .ok)
            let list = try await client.send(.get, "/v1/simulations", key: key)
            #expect(try list.json["pagination"]?["total"] == 3, "two creates (one per key), one run: acme's")
            // Errors the route answered are stored too.
            let bad = try await client.send(.post, "/v1/simulations", key: key, body: #"{"ticks": 1}"#, headers: [("Idempotency-Key", "k-2")])
            #expect(bad.status == .badRequest)
            let badAgain = try await client.send(.post, "/v1/simulations", key: key, body: #"{"ticks": 1}"#, headers: [("Idempotency-Key", "k-2")])
            #expect(badAgain.bytes == bad.bytes)
            #expect(badAgain.header("Idempotency-Replayed") == "true")
            // Key shape: 1–255 printable ASCII characters.
            for bad in [String(repeating: "a", count: 256), "caf\u{E9}", "tab\there"] {
                let r = try await client.send(.post, "/v1/simulations", key: key, body: Self.create, headers: [("Idempotency-Key", bad)])
                #expect(r.status == .badRequest, "\(bad.prefix(20))")
                #expect(try r.json["error"]?["details"]?["issues"]?.arrayValue?.first?["path"] == "Idempotency-Key")
            }
            let longest = try await client.send(.post, "/v1/simulations", key: key, body: Self.create,
                                                headers: [("Idempotency-Key", String(repeating: "~", count: 255))])
            #expect(longest.status == .created)
            // Keys only matter on POST.
            let get = try await client.send(.get, "/v1/simulations", key: key, headers: [("Idempotency-Key", "k-1")])
            #expect(get.status == .ok)
            #expect(get.header("Idempotency-Replayed") == nil)
        }
    }

    @Test func ndjsonRunIsStoredWholeAndReplayedByteForByte() async throws {
        let server = TestServer()
        let key = try await server.key()
        try await server.test { client in
            let body = #"{"scenarioId": "capability-divergence", "ticks": 40}"#
            let headers = [("Idempotency-Key", "run-1"), ("Accept", "application/x-ndjson")]
            let first = try await client.send(.post, "/v1/simulations/run", key: key, body: body, headers: headers)
            let replay = try await client.send(.post, "/v1/simulations/run", key: key, body: body, headers: headers)
            #expect(first.status == .ok)
            #expect(replay.bytes == first.bytes)
            #expect(replay.bytes.filter { $0 == 0x0A }.count == 40)
            #expect(replay.header("Content-Type") == "application/x-ndjson")
            #expect(replay.header("X-Trace-Digest") == first.header("X-Trace-Digest"))
            #expect(replay.header("X-Simulation-Id") == first.header("X-Simulation-Id"))
            #expect(replay.header("Idempotency-Replayed") == "true")
        }
    }

    @Test func inFlightKeysAnswerInProgress() async throws {
        let server = TestServer()
        let issued = try await APIKeyIssuer(identities: server.repositories.identities)
            .create(organizationId: "acme", tier: .professional, scopes: [.simulationWrite, .simulationRead])
        let fingerprint = Array(SHA256.hash(data: Array(Self.create.utf8)))
        let scope = IdempotencyScope(subject: "key:\(issued.0.id)", method: "POST", path: "/v1/simulations", key: "busy")
        try await server.test { client in
            // Held by a request of this process still executing (settling at start only touches other processes' keys).
            let claim = try await server.repositories.idempotency.claim(scope, fingerprint: fingerprint, owner: "another-request",
                                                                        now: ServerTime.nowMilliseconds(), liveAfter: 0)
            #expect(claim == .claimed)
            let busy = try await client.send(.post, "/v1/simulations", key: issued.1, body: Self.create, headers: [("Idempotency-Key", "busy")])
            #expect(busy.status == .conflict)
            #expect(busy.errorCode == "IDEMPOTENCY_REQUEST_IN_PROGRESS")
            let different = try await client.send(.post, "/v1/simulations", key: issued.1, body: "{}", headers: [("Idempotency-Key", "busy")])
            #expect(different.errorCode == "IDEMPOTENCY_KEY_REUSE")
        }
    }

    @Test func keysExpireAfter24Hours() async throws {
        let clock = ManualClock()
        // The store's own count is read below: in memory on both passes (PostgreSQL's store has its race test).
        let server = TestServer(repositories: ServerRepositories(simulations: InMemorySimulationRepository(),
                                                                 identities: InMemoryIdentityRepository()),
                                environment: ServerEnvironment(now: clock.now))
        let key = try await server.key()
        try await server.test { client in
            let first = try await client.send(.post, "/v1/simulations", key: key, body: Self.create, headers: [("Idempotency-Key", "day")])
            clock.advance(milliseconds: 24 * 3600 * 1000 - 1)
            let replay = try await client.send(.post, "/v1/simulations", key: key, body: Self.create, headers: [("Idempotency-Key", "day")])
            #expect(replay.header("Idempotency-Replayed") == "true")
            #expect(replay.bytes == first.bytes)
            clock.advance(milliseconds: 1)
            let fresh = try await client.send(.post, "/v1/simulations", key: key, body: #"{"scenarioId": "shock-recovery"}"#,
                                              headers: [("Idempotency-Key", "day")])
            #expect(fresh.status == .created, "an expired key is new again")
            #expect(fresh.header("Idempotency-Replayed") == nil)
        }
        let store = try #require(server.repositories.idempotency as? InMemoryIdempotencyStore)
        #expect(await store.count == 1, "the expired record was replaced, not kept beside the new one")
        await store.removeExpired(createdAtOrBefore: clock.milliseconds - 1)
        #expect(await store.count == 1)
        await store.removeExpired(createdAtOrBefore: clock.milliseconds)
        #expect(await store.count == 0)
    }

    enum Storage: String, CaseIterable {
        case memory, sqlite

        /// Repositories in memory, or in a SQLite database at `path`.
        func open(path: String) throws -> ServerRepositories {
            try ServerRepositories.open(self == .memory ? .memory : .sqlite(path: path))
        }
    }

    @Test(arguments: Storage.allCases)
    func fiftyRacingRequestsCreateOneSimulation(storage: Storage) async throws {
        let path = LiveServerTests.temporaryDatabase()
        defer { LiveServerTests.removeDatabase(path) }
        let repositories = try storage.open(path: path)
        let server = TestServer(repositories: repositories)
        let key = try await server.key()
        let responses = try await server.test { client in
            try await withThrowingTaskGroup(of: TestResponse.self) { group in
                for _ in 0 ..< 50 {
                    group.addTask {
                        try await client.send(.post, "/v1/simulations", key: key, body: Self.create, headers: [("Idempotency-Key", "race")])
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
        }
        let (records, total) = try await repositories.simulations.list(organizationIds: ["acme"], limit: 100, offset: 0)
        #expect(total == 1, "exactly one simulation")
        let original = responses.filter { $0.status == .created && $0.header("Idempotency-Replayed") == nil }
        #expect(original.count == 1)
        let id = try #require(records.first?.id)
        for r in responses {
            switch r.status {
            case .created:
                #expect(try r.json["id"]?.stringValue == id)
                #expect(r.bytes == original.first?.bytes)
            case .conflict:
                #expect(r.errorCode == "IDEMPOTENCY_REQUEST_IN_PROGRESS")
            default:
                Issue.record("unexpected \(r.status)")
            }
        }
    }

    /// A repository whose inserts fail (the disk is full, say): creating answers 500.
    struct FailingInserts: SimulationRepositoryDecorator {
        let base = InMemorySimulationRepository()
        var storageName: String { "failing" }
        func insert(_ change: SimulationChange) async throws { throw StorageError("disk full") }
    }

    /// A 5xx the route answered once it began executing is stored and replayed like any response.
    @Test func serverErrorsAreStoredToo() async throws {
        let server = TestServer(repositories: ServerRepositories(simulations: FailingInserts(), identities: InMemoryIdentityRepository()))
        let key = try await server.key()
        try await server.test { client in
            let first = try await client.send(.post, "/v1/simulations", key: key, body: Self.create, headers: [("Idempotency-Key", "5xx")])
            #expect(first.status == .internalServerError)
            #expect(first.errorCode == "INTERNAL_ERROR")
            let replay = try await client.send(.post, "/v1/simulations", key: key, body: Self.create, headers: [("Idempotency-Key", "5xx")])
            #expect(replay.status == .internalServerError)
            #expect(replay.bytes == first.bytes, "the stored body, request id included")
            #expect(replay.header("Idempotency-Replayed") == "true")
        }
    }

    /// A key a stopped process left executing answers a stored 500 from the next start on.
    @Test func keysLeftInFlightByAStoppedServerAnswer500() async throws {
        let path = LiveServerTests.temporaryDatabase()
        defer { LiveServerTests.removeDatabase(path) }
        let repositories = try ServerRepositories.open(.sqlite(path: path))
        let issued = try await APIKeyIssuer(identities: repositories.identities)
            .create(organizationId: "acme", tier: .professional, scopes: [.simulationWrite])
        let scope = IdempotencyScope(subject: "key:\(issued.0.id)", method: "POST", path: "/v1/simulations", key: "crashed")
        _ = try await repositories.idempotency.claim(scope, fingerprint: Array(SHA256.hash(data: Array(Self.create.utf8))),
                                                     owner: "proc_gone", now: ServerTime.nowMilliseconds(), liveAfter: 0)
        try await TestServer(repositories: repositories).test { client in
            let r = try await client.send(.post, "/v1/simulations", key: issued.1, body: Self.create, headers: [("Idempotency-Key", "crashed")])
            #expect(r.status == .internalServerError)
            #expect(r.errorCode == "INTERNAL_ERROR")
            #expect(r.header("Idempotency-Replayed") == "true")
        }
        #expect(try await repositories.simulations.list(organizationIds: ["acme"], limit: 1, offset: 0).total == 0)
    }

    /// A real `kairos serve`, killed and restarted: the stored response is replayed.
    @Test func replaySurvivesARestart() async throws {
        let db = LiveServerTests.temporaryDatabase()
        defer { LiveServerTests.removeDatabase(db) }
        let key = try LiveServerTests.createKey(database: db)
        var headers = LiveServerTests.keyed(key)
        headers[.idempotencyKey] = "survives-restart"
        var server = try await LiveServerTests.ServerProcess.start(database: db)
        let first = try await LiveServerTests.request(server.port, .post, "/v1/simulations", headers: headers, body: Self.create)
        #expect(first.status == 201)
        server.kill9()
        server = try await LiveServerTests.ServerProcess.start(database: db)
        defer { server.stop() }
        let replay = try await LiveServerTests.request(server.port, .post, "/v1/simulations", headers: headers, body: Self.create)
        #expect(replay.status == 201)
        #expect(replay.bytes == first.bytes)
        #expect(replay.headers[.idempotencyReplayed] == "true")
        let list = try await LiveServerTests.request(server.port, .get, "/v1/simulations", headers: LiveServerTests.keyed(key))
        #expect(try list.json["pagination"]?["total"] == 1)
        #expect(list.headers[.rateLimitLimit] == "120", "community reads")
    }
}

/// `/v1/usage`, `/v1/organization` and `/metrics` after real requests.
@Suite struct UsageAndMetricsTests {
    @Test(arguments: IdempotencyTests.Storage.allCases)
    func usageCountsRealRequests(storage: IdempotencyTests.Storage) async throws {
        let path = LiveServerTests.temporaryDatabase()
        defer { LiveServerTests.removeDatabase(path) }
        let repositories = try storage.open(path: path)
        let clock = ManualClock()
        let server = TestServer(repositories: repositories, environment: ServerEnvironment(now: clock.now))
        let key = try await server.key(org: "acme", tier: .enterprise, scopes: APIScope.allCases)
        let beta = try await server.key(org: "beta", scopes: APIScope.allCases)
        try await server.test { client in
            let id = try await client.createSimulation(key: key)                                           // create 1
            _ = try await client.send(.post, "/v1/simulations/run", key: key,
                                      body: #"{"scenarioId": "capability-divergence", "ticks": 50}"#)     // create 2, 50 ticks
            _ = try await client.send(.post, "/v1/simulations/\(id)/step", key: key, body: #"{"ticks": 10}"#)  // step 1, 10 ticks
            _ = try await client.send(.put, "/v1/simulations/\(id)/time-control", key: key, body: #"{"action": "step"}"#)  // step 2, 1 tick
            _ = try await client.send(.post, "/v1/simulations/\(id)/decrees", key: key, body: #"{"kind": "shock", "magnitude": 0.1}"#)  // create 3
            _ = try await client.send(.get, "/v1/simulations/\(id)", key: key)                            // read 1
            _ = try await client.send(.post, "/v1/simulations", key: key, body: "{}")                     // create 4 (400, still a request)
            _ = try await client.createSimulation(key: beta)                                             // beta's
            let usage = try await client.send(.get, "/v1/usage", key: key)                               // read 2
            #expect(usage.status == .ok)
            let today = try usage.json["days"]?.arrayValue?.last
            #expect(try usage.json["organizationId"] == "acme")
            #expect(try usage.json["to"] == "2026-03-01")
            #expect(try usage.json["from"] == "2026-01-31")
            #expect(today?["date"] == "2026-03-01")
            #expect(today?["simulationsCreated"] == 2)
            #expect(today?["ticksComputed"] == 61)
            #expect(today?["requests"] == .object(["create": 4, "read": 2, "step": 2]))
            // Playback ticks count too (real time here: the scheduler plays 100 ticks a second at speed 10).
            _ = try await client.send(.put, "/v1/simulations/\(id)/time-control", key: key, body: #"{"action": "play", "speed": 10}"#)
            _ = try await eventually(10) {
                Int(try await client.send(.get, "/v1/simulations/\(id)", key: key).json["tick"]?.numberValue ?? 0) >= 14
            }
            let paused = try await client.send(.put, "/v1/simulations/\(id)/time-control", key: key, body: #"{"action": "pause"}"#)
            let final = Int(try paused.json["tick"]?.numberValue ?? 0)
            #expect(final >= 14)
            // Tomorrow is another day.
            clock.advance(milliseconds: 24 * 3600 * 1000)
            _ = try await client.send(.post, "/v1/simulations/\(id)/step", key: key, body: #"{"ticks": 5}"#)
            let two = try await client.send(.get, "/v1/usage?from=2026-03-01&to=2026-03-02", key: key)
            let days = try #require(try two.json["days"]?.arrayValue)
            #expect(days.count == 2)
            #expect(days.first?["ticksComputed"] == .number(Double(61 + final - 11)), "run 50, step 10, step 1, then played")
            #expect(days.last?["date"] == "2026-03-02")
            #expect(days.last?["ticksComputed"] == 5)
            #expect(days.last?["requests"]?["step"] == 1)
            let organization = try await client.send(.get, "/v1/organization", key: key)
            #expect(try organization.json["simulations"] == 2)
            #expect(try organization.json["usageToday"]?["ticksComputed"] == 5)
            #expect(try organization.json["limits"]?["read"] == 3_000_000, "enterprise × the test multiplier")
            // Bad ranges are 400s with the path.
            for (query, path) in [("from=2026-02-30", "from"), ("to=yesterday", "to"), ("from=2026-03-02&to=2026-03-01", "from"),
                                  ("from=2024-01-01&to=2026-01-01", "from"), ("days=3", "days")] {
                let r = try await client.send(.get, "/v1/usage?\(query)", key: key)
                #expect(r.status == .badRequest, "\(query)")
                #expect(try r.json["error"]?["details"]?["issues"]?.arrayValue?.first?["path"] == .string(path))
            }
        }
        if storage == .sqlite {
            // Durable: a fresh open of the file reads the same counts.
            let reopened = try ServerRepositories.open(.sqlite(path: path))
            let day = UsageCalendar.day(date: "2026-03-01") ?? 0
            let stored = try await reopened.simulations.usage(organizationId: "acme", fromDay: day, toDay: day)
            #expect(stored.first?.simulationsCreated == 2)
            #expect(stored.first?.requests[.create] == 4)
        }
    }

    /// The flush service writes counts on its own, without `/usage` asking.
    @Test func countsReachTheTableWithinAFlushInterval() async throws {
        let repositories = try ServerRepositories.open(.memory)
        let server = TestServer(repositories: repositories, environment: ServerEnvironment(usageFlushInterval: .milliseconds(20)))
        let key = try await server.key()
        try await server.test { client in
            _ = try await client.createSimulation(key: key)
            let today = UsageCalendar.day(milliseconds: ServerTime.nowMilliseconds())
            var stored: UsageDay?
            _ = try await eventually(10) {
                stored = try await repositories.simulations.usage(organizationId: "acme", fromDay: today - 1, toDay: today + 1).first
                return stored?.simulationsCreated == 1
            }
            #expect(stored?.simulationsCreated == 1)
            #expect(stored?.requests[.create] == 1)
        }
    }

    @Test func calendar() {
        #expect(UsageCalendar.day(date: "1970-01-01") == 0)
        #expect(UsageCalendar.day(date: "2026-03-01") == UsageCalendar.day(milliseconds: 1_772_366_400_000))
        #expect(UsageCalendar.date(day: UsageCalendar.day(date: "2024-02-29") ?? 0) == "2024-02-29")
        #expect(UsageCalendar.day(date: "2025-02-29") == nil)
        #expect(UsageCalendar.day(date: "2025-1-01") == nil)
        #expect(UsageCalendar.day(milliseconds: -1) == -1)
    }

    @Test func metricsExposition() async throws {
        let environment = ServerEnvironment(gauges: ServerGauges(openEventStreams: { 7 }, playingSimulations: { 3 }))
        let server = TestServer(environment: environment)
        let key = try await server.key()
        try await server.test { client in
            let id = try await client.createSimulation(key: key)
            for _ in 0 ..< 2 { _ = try await client.send(.post, "/v1/simulations/\(id)/step", key: key, body: #"{"ticks": 4}"#) }
            _ = try await client.send(.post, "/v1/simulations/\(UUID().uuidString.lowercased())/step", key: key, body: #"{"ticks": 4}"#)
            _ = try await client.send(.get, "/v1/no-such-route")
            let r = try await client.send(.get, "/metrics")
            #expect(r.status == .ok)
            #expect(r.header("Content-Type")?.hasPrefix("text/plain") == true)
            let samples = Self.parse(r.text)
            func value(_ name: String, _ labels: [String: String]) -> Double? {
                samples.first { sample in sample.name == name && labels.allSatisfy { k, v in sample.labels[k] == v } }?.value
            }
            let step = ["method": "POST", "route": "/v1/simulations/{id}/step"]
            #expect(value("kairos_http_requests_total", step.merging(["status": "200"]) { a, _ in a }) == 2)
            #expect(value("kairos_http_requests_total", step.merging(["status": "404"]) { a, _ in a }) == 1)
            #expect(value("kairos_http_requests_total", ["method": "POST", "route": "/v1/simulations", "status": "201"]) == 1)
            #expect(value("kairos_http_requests_total", ["method": "GET", "route": "unmatched", "status": "404"]) == 1)
            #expect(value("kairos_http_request_duration_seconds_count", step) == 3)
            #expect(value("kairos_http_request_duration_seconds_bucket", step.merging(["le": "+Inf"]) { a, _ in a }) == 3)
            #expect((value("kairos_http_request_duration_seconds_sum", step) ?? -1) > 0)
            #expect(value("kairos_ticks_computed_total", [:]) == 8)
            #expect(value("kairos_sse_streams_open", [:]) == 7)
            #expect(value("kairos_simulations_playing", [:]) == 3)
            #expect(r.text.contains("# TYPE kairos_http_request_duration_seconds histogram"))
        }
        // Without overrides: the live services' counts (no stream open, one simulation playing).
        let plain = TestServer()
        let plainKey = try await plain.key()
        try await plain.test { client in
            let id = try await client.createSimulation(key: plainKey)
            _ = try await client.send(.put, "/v1/simulations/\(id)/time-control", key: plainKey, body: #"{"action": "play", "speed": 0.1}"#)
            let samples = Self.parse(try await client.send(.get, "/metrics").text)
            #expect(samples.first { $0.name == "kairos_simulations_playing" }?.value == 1)
            #expect(samples.first { $0.name == "kairos_sse_streams_open" }?.value == 0)
            _ = try await client.send(.put, "/v1/simulations/\(id)/time-control", key: plainKey, body: #"{"action": "pause"}"#)
        }
    }

    @Test func metricsCanBeTurnedOff() async throws {
        let app = try await buildApplication(ServerConfiguration(storage: .memory, logLevel: .critical, metricsEnabled: false))
        try await app.test(.router) { client in
            let r = try await client.execute(uri: "/metrics", method: .get)
            #expect(r.status == .notFound)
        }
    }

    struct Sample {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    /// Prometheus text format: `name{a="b",…} value` lines; comments skipped.
    static func parse(_ text: String) -> [Sample] {
        text.split(separator: "\n").compactMap { line -> Sample? in
            guard !line.hasPrefix("#"), let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                return nil
            }
            let series = line[..<space]
            guard let brace = series.firstIndex(of: "{") else { return Sample(name: String(series), labels: [:], value: value) }
            var labels: [String: String] = [:]
            for pair in series[series.index(after: brace) ..< series.index(before: series.endIndex)].split(separator: ",") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                if parts.count == 2 { labels[String(parts[0])] = String(parts[1].dropFirst().dropLast()) }
            }
            return Sample(name: String(series[..<brace]), labels: labels, value: value)
        }
    }
}

/// Per-address limits on a real `kairos serve`: loopback answers from any 127.x.y.z, so a
/// client bound to 127.0.0.2 is another address than one on 127.0.0.1.
@Suite struct PerAddressLiveTests {
    /// One `GET path` over a socket bound to `source`; returns the response head.
    static func get(port: Int, path: String, from source: String) throws -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw StorageError("socket failed") }
        defer { close(fd) }
        func address(_ host: String, _ port: Int) -> sockaddr_in {
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = in_port_t(UInt16(port).bigEndian)
            inet_pton(AF_INET, host, &a.sin_addr)
            return a
        }
        var local = address(source, 0)
        var remote = address("127.0.0.1", port)
        let size = socklen_t(MemoryLayout<sockaddr_in>.size)
        guard withUnsafePointer(to: &local, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, size) } }) == 0,
              withUnsafePointer(to: &remote, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, size) } }) == 0
        else { throw StorageError("bind/connect from \(source) failed") }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            response += chunk[0 ..< n]
        }
        return String(decoding: response, as: UTF8.self)
    }

    static func remaining(_ head: String) -> Int? {
        head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("x-ratelimit-remaining:") }
            .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) }
    }

    @Test func eachAddressHasItsOwnWindow() async throws {
        let db = LiveServerTests.temporaryDatabase()
        defer { LiveServerTests.removeDatabase(db) }
        let server = try await LiveServerTests.ServerProcess.start(database: db)
        defer { server.stop() }
        var seen: [String: [Int?]] = [:]
        for source in ["127.0.0.1", "127.0.0.2", "127.0.0.1", "127.0.0.3", "127.0.0.1", "127.0.0.2"] {
            seen[source, default: []].append(Self.remaining(try Self.get(port: server.port, path: "/v1/health", from: source)))
        }
        #expect(seen["127.0.0.1"] == [119, 118, 117])
        #expect(seen["127.0.0.2"] == [119, 118])
        #expect(seen["127.0.0.3"] == [119])
    }
}
