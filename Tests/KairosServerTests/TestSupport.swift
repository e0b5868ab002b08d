import Foundation
import Hummingbird
import HummingbirdTesting
import KairosAPI
import KairosEngine
import Logging
import NIOCore
import Testing
@testable import KairosServer

/// Where the server suite keeps its data: in memory, or — with `KAIROS_TEST_POSTGRES=1` — a
/// fresh schema of the PostgreSQL at `KAIROS_TEST_POSTGRES_URL` (default
/// postgres://kairos@127.0.0.1:54330/kairos; `scripts/cluster postgres` starts one) per server,
/// so the same tests run on both backends.
enum TestStorage {
    static let environment = ProcessInfo.processInfo.environment
    static var postgres: Bool { environment["KAIROS_TEST_POSTGRES"] == "1" }
    static var postgresURL: String { environment["KAIROS_TEST_POSTGRES_URL"] ?? "postgres://kairos@127.0.0.1:54330/kairos" }

    /// One pool for the whole test process; each server gets its own schema on it.
    static let pool: PostgresPool? = postgres ? try! PostgresPool(try! PostgresLocation(url: postgresURL), maximumConnections: 40) : nil

    /// A new schema name.
    static func schema() -> String { "t_" + APIKeyMaterial.randomBase62(12).lowercased() }

    /// Fresh, empty repositories on the backend under test.
    static func repositories() -> ServerRepositories {
        guard let pool else {
            return ServerRepositories(simulations: InMemorySimulationRepository(), identities: InMemoryIdentityRepository())
        }
        return repositories(schema: schema(), pool: pool)
    }

    /// Repositories on `schema` (several servers on one schema are replicas of one cluster).
    static func repositories(schema: String, pool: PostgresPool) -> ServerRepositories {
        var location = try! PostgresLocation(url: postgresURL)
        location.schema = schema
        var logger = Logger(label: "kairos.test.postgres")
        logger.logLevel = .warning
        let database = KairosPostgres(location, pool: pool, logger: logger)
        return ServerRepositories(simulations: PostgresSimulationRepository(database: database),
                                  identities: PostgresIdentityRepository(database: database),
                                  idempotency: PostgresIdempotencyStore(database: database))
    }
}

/// A server on in-memory (or, with KAIROS_TEST_POSTGRES=1, PostgreSQL) repositories with keys made for the test.
struct TestServer {
    let repositories: ServerRepositories
    let jwtSecret = "test-secret-for-kairos-tests-0123456789"
    /// Raised by default so suites that send thousands of requests are not rate limited; the
    /// rate-limit tests use 1.
    var rateLimitMultiplier: Int
    var environment: ServerEnvironment
    /// `kairos serve --provision-organizations`.
    var provisionOrganizations = false

    init(repositories: ServerRepositories = TestStorage.repositories(),
         rateLimitMultiplier: Int = 1000, environment: ServerEnvironment = ServerEnvironment()) {
        self.repositories = repositories
        self.rateLimitMultiplier = rateLimitMultiplier
        self.environment = environment
    }

    /// A new key for `org` with `scopes`.
    func key(org: String = "acme", tier: OrganizationTier = .professional,
             scopes: [APIScope] = [.simulationRead, .simulationWrite]) async throws -> String {
        try await APIKeyIssuer(identities: repositories.identities).create(organizationId: org, tier: tier, scopes: scopes).1
    }

    /// A bearer token for `orgs`, which exist on the server unless `register` is false (a token
    /// for an organization the server does not have is refused unless provisioning is on).
    func token(sub: String = "user-1", orgs: [String] = ["acme"], scopes: [APIScope] = [.simulationRead, .simulationWrite],
               expires: Date = Date().addingTimeInterval(600), register: Bool = true) async throws -> String {
        if register {
            for org in orgs where try await repositories.identities.organization(id: org) == nil {
                try await repositories.identities.upsertOrganization(OrganizationRecord(id: org, tier: .community, createdAt: 0))
            }
        }
        return try await TokenAuthority(secret: jwtSecret).sign(
            KairosTokenClaims(subject: sub, organizationIds: orgs, scopes: scopes, expires: expires))
    }

    func application() async throws -> some ApplicationProtocol {
        var configuration = ServerConfiguration(storage: .memory, jwtSecret: jwtSecret, logLevel: .critical,
                                                rateLimitMultiplier: rateLimitMultiplier)
        configuration.provisionOrganizations = provisionOrganizations
        return try await buildApplication(configuration, repositories: repositories, environment: environment)
    }

    /// Runs `body` against the router.
    func test<Value: Sendable>(_ body: @Sendable @escaping (any TestClientProtocol) async throws -> Value) async throws -> Value {
        try await application().test(.router) { client in try await body(client) }
    }
}

extension TestResponse {
    var bytes: [UInt8] { Array(body.readableBytesView) }
    var text: String { String(buffer: body) }
    var json: JSONValue {
        get throws { try JSONParser.parse(bytes) }
    }
    /// The error envelope's code, when the body is one.
    var errorCode: String? { (try? json)?["error"]?["code"]?.stringValue }
}

extension TestClientProtocol {
    /// Sends a request with an API key (or explicit headers) and an optional JSON body text.
    /// `rawBody` is sent as it is, with no Content-Type but what `extra` says.
    func send(_ method: HTTPRequest.Method, _ uri: String, key: String? = nil, body: String? = nil,
              headers extra: [(String, String)] = [], rawBody: String? = nil) async throws -> TestResponse {
        var headers: HTTPFields = [:]
        if let key { headers[.apiKey] = key }
        if body != nil { headers[.contentType] = "application/json" }
        for (name, value) in extra {
            if let field = HTTPFields.Element.Name(name) { headers.append(HTTPFields.Element(name: field, value: value)) }
        }
        return try await execute(uri: uri, method: method, headers: headers, body: (body ?? rawBody).map { ByteBuffer(string: $0) })
    }

    /// Creates a simulation of a catalog scenario and returns its id.
    func createSimulation(key: String, scenarioId: String = "capability-divergence") async throws -> String {
        let r = try await send(.post, "/v1/simulations", key: key, body: #"{"scenarioId": "\#(scenarioId)"}"#)
        #expect(r.status == .created)
        return try #require(try r.json["id"]?.stringValue)
    }
}

/// The digest `kairos simulate` would print for a catalog scenario.
func engineDigest(scenarioId: String, ticks: Int) throws -> String {
    let entry = try #require(ScenarioCatalog.scenario(id: scenarioId))
    return try #require(Trace.run(entry.scenario, ticks: ticks, scenarioId: scenarioId)).metadata.digest
}

/// `sha256:` + hex SHA-256 of bytes, as `sha256sum` prints it.
func sha256Hex(_ bytes: [UInt8]) -> String {
    var d = TraceDigest()
    bytes.withUnsafeBytes { d.add(lines: $0) }
    return d.finalize()
}

/// Polls `condition` every 20 ms for up to `seconds`; whether it came true.
func eventually(_ seconds: Double = 5, _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(20))
    }
    return try await condition()
}

/// Every event of the stored record after `after` (all with nil), as the SSE endpoint derives it.
func durableEvents(_ repository: any SimulationRepository, id: String, after: SimulationEventID? = nil) async throws
    -> [SimulationEvent]
{
    let record = try #require(try await repository.find(id: id))
    let log = try await repository.log(simulationId: id, from: 0)
    let lines = try SimulationDriver.replay(record, log: log)
    let steps = try lines.split(separator: 0x0A).map { try #require(TraceStep(json: try JSONParser.parse(Array($0)))) }
    return SimulationEventLog.events(simulationId: id, log: log, steps: steps, after: after)
}
