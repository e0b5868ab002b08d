import Foundation
import Hummingbird
import HummingbirdCore
import KairosAPI
import KairosEngine
import Logging
import ServiceLifecycle

/// How `kairos serve` (and every test) builds the server.
public struct ServerConfiguration: Sendable {
    public enum Storage: Sendable, Equatable {
        /// SQLite at a path (`:memory:` for a private in-memory database).
        case sqlite(path: String)
        /// The in-memory repositories (tests).
        case memory
        /// A PostgreSQL database shared by every replica (`kairos serve --database-url`).
        case postgres(PostgresLocation)
    }

    public var host: String
    public var port: Int
    public var storage: Storage
    /// The HS256 secret for bearer tokens; nil refuses bearer tokens.
    public var jwtSecret: String?
    public var logLevel: Logger.Level
    /// Multiplies every tier limit of seed 002 (requests per window and concurrent SSE streams);
    /// 1 in production, raised for load tests (`kairos serve --rate-limit-multiplier`).
    public var rateLimitMultiplier: Int
    /// Serve `GET /metrics` (Prometheus text format; public, limited per address like other
    /// public routes). `kairos serve --no-metrics` turns it off.
    public var metricsEnabled: Bool
    /// Seconds between SSE heartbeats (30; `KAIROS_SSE_HEARTBEAT_SECONDS` overrides it, read
    /// once at startup by `kairos serve` — tests set it small).
    public var sseHeartbeatSeconds: Double
    /// Seconds between the server's WebSocket pings (30); a session whose pong has not come
    /// back by the next ping is closed. Tests set it small.
    public var webSocketPingSeconds: Double = 30
    /// Idle and read timeouts, and the cap on connections held at once (`kairos serve
    /// --idle-timeout`, `--read-timeout`, `--max-connections`).
    public var connectionLimits = ConnectionLimits()
    /// Whether a valid bearer token naming an organization this server does not have creates
    /// it (community tier) rather than being refused with 401 (`kairos serve --provision-organizations`).
    public var provisionOrganizations = false

    public init(host: String = "127.0.0.1", port: Int = 8080, storage: Storage = .sqlite(path: "kairos.db"),
                jwtSecret: String? = nil, logLevel: Logger.Level = .info, rateLimitMultiplier: Int = 1,
                metricsEnabled: Bool = true, sseHeartbeatSeconds: Double = 30) {
        self.metricsEnabled = metricsEnabled
        self.host = host
        self.port = port
        self.storage = storage
        self.jwtSecret = jwtSecret
        self.logLevel = logLevel
        self.rateLimitMultiplier = rateLimitMultiplier
        self.sseHeartbeatSeconds = sseHeartbeatSeconds
    }

    /// `KAIROS_SSE_HEARTBEAT_SECONDS` from `environment`: a positive number of seconds
    /// (fractions allowed), else nil.
    public static func heartbeatSeconds(environment: [String: String]) -> Double? {
        guard let text = environment["KAIROS_SSE_HEARTBEAT_SECONDS"], let value = Double(text), value.isFinite,
              value > 0, value <= 3600 else { return nil }
        return value
    }
}

/// The repositories one server uses.
public struct ServerRepositories: Sendable {
    public var simulations: any SimulationRepository
    public var identities: any IdentityRepository
    /// Idempotency records; by default next to the simulations (the same SQLite database, or memory).
    public var idempotency: any IdempotencyStore

    public init(simulations: any SimulationRepository, identities: any IdentityRepository,
                idempotency: (any IdempotencyStore)? = nil) {
        self.simulations = simulations
        self.identities = identities
        if let idempotency {
            self.idempotency = idempotency
        } else if let sqlite = simulations as? SQLiteSimulationRepository {
            self.idempotency = SQLiteIdempotencyStore(database: sqlite.database)
        } else if let postgres = simulations as? PostgresSimulationRepository {
            self.idempotency = PostgresIdempotencyStore(database: postgres.database)
        } else {
            self.idempotency = InMemoryIdempotencyStore()
        }
    }

    /// The PostgreSQL database behind these repositories, if they are on one (cluster mode).
    public var postgres: KairosPostgres? { (simulations as? PostgresSimulationRepository)?.database }

    /// Opens (connecting and migrating) the repositories `storage` names, PostgreSQL included.
    public static func connect(_ storage: ServerConfiguration.Storage, logger: Logger = Logger(label: "kairos.postgres")) async throws
        -> ServerRepositories
    {
        guard case .postgres(let location) = storage else { return try open(storage) }
        let database = try await KairosPostgres.connect(location, logger: logger)
        return ServerRepositories(simulations: PostgresSimulationRepository(database: database),
                                  identities: PostgresIdentityRepository(database: database),
                                  idempotency: PostgresIdempotencyStore(database: database))
    }

    /// Opens the repositories `storage` names (SQLite or memory; PostgreSQL needs `connect`).
    public static func open(_ storage: ServerConfiguration.Storage) throws -> ServerRepositories {
        switch storage {
        case .postgres:
            throw StorageError("PostgreSQL storage is opened with ServerRepositories.connect")
        case .memory:
            return ServerRepositories(simulations: InMemorySimulationRepository(), identities: InMemoryIdentityRepository(),
                                      idempotency: InMemoryIdempotencyStore())
        case .sqlite(let path):
            let database = try KairosDatabase(path: path)
            return ServerRepositories(simulations: SQLiteSimulationRepository(database: database),
                                      identities: SQLiteIdentityRepository(database: database),
                                      idempotency: SQLiteIdempotencyStore(database: database))
        }
    }
}

/// What the server reads from outside besides requests: the clock (rate-limit windows,
/// idempotency expiry, usage days, record times — tests inject one) and the gauges `/metrics`
/// samples.
public struct ServerEnvironment: Sendable {
    /// Milliseconds since 1970.
    public var now: @Sendable () -> Int64
    public var gauges: ServerGauges
    /// How often admitted-request counts are written to the usage table.
    public var usageFlushInterval: Duration
    /// The engine version a create or run request that names none runs on: the newest
    /// offered. A simulation stores the version it was created on and keeps stepping on it,
    /// so moving this never changes a stored simulation (tests set an older one to write a
    /// database as an earlier server would have).
    public var defaultEngineVersion: EngineVersion

    public init(now: @escaping @Sendable () -> Int64 = ServerTime.nowMilliseconds, gauges: ServerGauges = ServerGauges(),
                usageFlushInterval: Duration = .seconds(1), defaultEngineVersion: EngineVersion = EngineRegistry.latest) {
        self.now = now
        self.gauges = gauges
        self.usageFlushInterval = usageFlushInterval
        self.defaultEngineVersion = defaultEngineVersion
    }
}

/// Builds the application: the one function production and tests share.
/// `onServerRunning` receives the bound port (useful with port 0).
public func buildApplication(
    _ configuration: ServerConfiguration,
    repositories: ServerRepositories? = nil,
    environment: ServerEnvironment = ServerEnvironment(),
    logger: Logger? = nil,
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) async throws -> some ApplicationProtocol {
    try await buildLiveApplication(configuration, repositories: repositories, environment: environment, logger: logger,
                                   onServerRunning: onServerRunning).0
}

/// `buildApplication` with its live services (`LiveServices.openEventStreams`,
/// `.playingSimulations`, which `/metrics` samples).
public func buildLiveApplication(
    _ configuration: ServerConfiguration,
    repositories: ServerRepositories? = nil,
    environment: ServerEnvironment = ServerEnvironment(),
    logger: Logger? = nil,
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) async throws -> (some ApplicationProtocol, LiveServices) {
    var log = logger ?? Logger(label: "kairos.server")
    log.logLevel = configuration.logLevel
    let stored = if let repositories { repositories } else { try await ServerRepositories.connect(configuration.storage, logger: log) }
    let owner = "proc_" + APIKeyMaterial.randomBase62(16)
    // On PostgreSQL this process is one replica of a cluster: it registers (its id is `owner`)
    // before anything else, so other replicas leave its idempotency keys alone.
    let cluster = stored.postgres.map { ClusterCoordinator(database: $0, replicaId: owner, logger: log, now: environment.now) }
    if let cluster { try await cluster.heartbeat() }
    // The engine's threads (off the cooperative pool); a service, started first and stopped last.
    let engine = EnginePool()
    let hub = SimulationEventHub(repository: stored.simulations, engine: engine, heartbeatSeconds: configuration.sseHeartbeatSeconds,
                                 follows: cluster)
    let metrics = ServerMetrics()
    let usage = UsageRecorder(repository: stored.simulations)
    // Every stored change is counted (usage, ticks computed) and then published to live event streams.
    var repositories = stored
    repositories.simulations = publishing(metered(stored.simulations, metrics: metrics, usage: usage), hub: hub)
    let tokens: TokenAuthority? = if let secret = configuration.jwtSecret { try await TokenAuthority(secret: secret) } else { nil }
    let playback = PlaybackScheduler(repository: repositories.simulations, engine: engine, now: environment.now, logger: log, leases: cluster)
    let live = LiveServices(hub: hub, playback: playback, engine: engine, rateLimitMultiplier: configuration.rateLimitMultiplier, cluster: cluster)
    // Keys a previous process left executing are settled before the first request (see IdempotencyMiddleware.abandoned).
    let settled = try await repositories.idempotency.settleAbandoned(
        exceptOwner: owner, response: IdempotencyMiddleware.abandoned(requestId: "req_" + APIKeyMaterial.randomBase62(20)))
    if settled > 0 { log.warning("idempotency keys left in flight by a stopped server answer 500", metadata: ["count": "\(settled)"]) }
    let simulations = repositories.simulations
    let parts = RouterParts(
        repositories: repositories, tokens: tokens, live: live, now: environment.now,
        defaultEngineVersion: environment.defaultEngineVersion,
        rateLimitMultiplier: configuration.rateLimitMultiplier, metrics: configuration.metricsEnabled ? metrics : nil,
        usage: usage, limiter: SlidingWindowLimiter(), idempotencyOwner: owner, logger: log,
        openEventStreams: environment.gauges.openEventStreams ?? { live.openEventStreams },
        playingSimulations: environment.gauges.playingSimulations ?? { live.playingSimulations },
        provisionOrganizations: configuration.provisionOrganizations, cluster: cluster)
    let router = buildRouter(parts)
    let authenticator = Authenticator(identities: repositories.identities, tokens: tokens,
                                      provisionOrganizations: configuration.provisionOrganizations, now: environment.now)
    let runStream = RunStreamController(repository: simulations, engine: engine, now: environment.now,
                                        defaultEngineVersion: environment.defaultEngineVersion,
                                        pingPeriod: .milliseconds(Int((configuration.webSocketPingSeconds * 1000).rounded())))
    let rateLimits = parts.rateLimits
    let limits = configuration.connectionLimits
    let logger = log
    let storageName = simulations.storageName
    var services: [any Service] = [
        engine,
        UsageFlushService(recorder: usage, interval: environment.usageFlushInterval, logger: log),
        IdempotencyExpiryService(store: parts.repositories.idempotency, interval: .seconds(600), now: environment.now, logger: log),
        PlaybackShutdown(playback: playback),
    ]
    if let cluster { services.append(ClusterService(coordinator: cluster, hub: hub, playback: playback, logger: log)) }
    let app = Application(
        router: router,
        server: WebSocketUpgradeChannel.builder(maxFrameSize: SimulationLimits.maxBodyBytes, limits: limits,
                                                connections: live.connections) { head, channel, logger in
            await runStream.accept(head, channel: channel, authenticator: authenticator, rateLimits: rateLimits,
                                   remoteAddress: channel.remoteAddress?.ipAddress, logger: logger)
        },
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "kairos",
                             availableConnectionsDelegate: MaximumAvailableConnections(limits.maxConnections + limits.refusalSlots)),
        services: services,
        onServerRunning: { channel in
            await playback.resumeAll()
            let port = channel.localAddress?.port ?? configuration.port
            logger.info("listening", metadata: ["address": .string("http://\(configuration.host):\(port)"),
                                                "storage": .string(storageName)])
            await onServerRunning(port)
        },
        logger: log)
    return (app, live)
}

/// Opens the existential so the wrapper is specialised for the concrete repository.
private func metered(_ repository: some SimulationRepository, metrics: ServerMetrics,
                     usage: UsageRecorder) -> any SimulationRepository {
    MeteredSimulationRepository(base: repository, metrics: metrics, usage: usage)
}

/// Wraps the repository so every stored change reaches the live event hub.
private func publishing(_ repository: some SimulationRepository, hub: SimulationEventHub) -> any SimulationRepository {
    PublishingSimulationRepository(base: repository, hub: hub)
}

/// Everything the router is built from.
struct RouterParts: Sendable {
    var repositories: ServerRepositories
    var tokens: TokenAuthority?
    var live: LiveServices
    var now: @Sendable () -> Int64 = ServerTime.nowMilliseconds
    var defaultEngineVersion = EngineRegistry.latest
    var rateLimitMultiplier = 1
    var metrics: ServerMetrics?
    var usage: UsageRecorder
    /// One per application: every router of the server (HTTP and WebSocket upgrades) must share it.
    var limiter: SlidingWindowLimiter
    var idempotencyOwner: String
    var logger: Logger
    var openEventStreams: @Sendable () async -> Int
    var playingSimulations: @Sendable () async -> Int
    var provisionOrganizations = false
    /// On PostgreSQL: what this replica shares with the others.
    var cluster: ClusterCoordinator? = nil

    /// The rate limits every router of the server (HTTP and WebSocket upgrades) charges.
    var rateLimits: RateLimitCharger {
        RateLimitCharger(limiter: limiter, multiplier: rateLimitMultiplier, usage: usage, now: now, cluster: cluster)
    }
}

/// The routes of `/v1` and `/metrics`, with the middleware every request passes through, in
/// this order: `APIResponseMiddleware` (request id, error envelope, log line, metrics) →
/// `RateLimitMiddleware` (authenticates protected routes, limits by identity or address, puts
/// the X-RateLimit headers on every response) → `IdempotencyMiddleware` (POSTs with a key) →
/// the groups' `AuthenticationMiddleware` (a guard: the identity is already there) → the route.
/// WebSocket upgrades (`/v1/simulations/run/stream`) never reach this router: the upgrade
/// channel authenticates them and charges them to the same windows (`RateLimitCharger`).
func buildRouter(_ parts: RouterParts) -> Router<KairosRequestContext> {
    // HEAD is served wherever GET is (RFC 9110 §9.3.2): the GET handler's status and headers,
    // Content-Length included, with no body; it is charged as a read.
    let router = Router(context: KairosRequestContext.self, options: .autoGenerateHeadEndpoints)
    let authenticator = Authenticator(identities: parts.repositories.identities, tokens: parts.tokens,
                                      provisionOrganizations: parts.provisionOrganizations, now: parts.now)
    let routes = RouteTable()
    router.add(middleware: APIResponseMiddleware(metrics: parts.metrics, routes: routes))
    router.add(middleware: RateLimitMiddleware(charger: parts.rateLimits, authenticator: authenticator))
    router.add(middleware: RequestIdCheckMiddleware())
    router.add(middleware: IdempotencyMiddleware(store: parts.repositories.idempotency, owner: parts.idempotencyOwner,
                                                 now: parts.now, logger: parts.logger))
    if let metrics = parts.metrics {
        MetricsController(metrics: metrics, openEventStreams: parts.openEventStreams,
                          playingSimulations: parts.playingSimulations).addRoutes(to: router)
    }
    let v1 = router.group("v1")
    HealthController(storageName: parts.repositories.simulations.storageName, defaultEngineVersion: parts.defaultEngineVersion)
        .addRoutes(to: v1)
    ScenariosController().addRoutes(to: v1)
    DocumentationController().addRoutes(to: v1)
    DashboardController().addRoutes(to: router)
    let protected = v1.group("simulations").add(middleware: AuthenticationMiddleware(authenticator: authenticator))
    addSimulationRoutes(parts.repositories.simulations, to: protected, live: parts.live, now: parts.now,
                        defaultEngineVersion: parts.defaultEngineVersion)
    OrganizationController(identities: parts.repositories.identities, simulations: parts.repositories.simulations,
                           usage: parts.usage, multiplier: parts.rateLimitMultiplier, now: parts.now)
        .addRoutes(to: v1.group("organization").add(middleware: AuthenticationMiddleware(authenticator: authenticator)))
    UsageController(recorder: parts.usage, now: parts.now)
        .addRoutes(to: v1.group("usage").add(middleware: AuthenticationMiddleware(authenticator: authenticator)))
    routes.load(router.routes.map { ($0.path.description, $0.method) })
    return router
}

/// Opens the existential so the controller is specialised for the concrete repository.
private func addSimulationRoutes(_ repository: some SimulationRepository, to group: RouterGroup<KairosRequestContext>,
                                 live: LiveServices, now: @escaping @Sendable () -> Int64, defaultEngineVersion: EngineVersion) {
    SimulationsController(repository: repository, live: live, now: now, defaultEngineVersion: defaultEngineVersion)
        .addRoutes(to: group)
}

/// Stops the background players when the server shuts down (statuses stay as stored, so the
/// next start resumes them).
struct PlaybackShutdown: Service {
    let playback: PlaybackScheduler

    func run() async throws {
        try? await gracefulShutdown()
        await playback.stopAll()
    }
}

/// Runs `app` until SIGTERM or SIGINT, then drains: no new connections, in-flight requests
/// finish, streams end (clients resume elsewhere). A connection that does not finish within
/// `drainTimeout` (an idle keep-alive a client never closes, a request whose bytes stopped
/// coming) is cut by cancelling the server, so the process always exits.
public func runUntilSignalled(_ app: some ApplicationProtocol, drainTimeout: Duration) async throws {
    var configuration = ServiceGroupConfiguration(services: [app], gracefulShutdownSignals: [.sigterm, .sigint], logger: app.logger)
    configuration.maximumGracefulShutdownDuration = drainTimeout
    do {
        try await ServiceGroup(configuration: configuration).run()
    } catch is CancellationError {
        app.logger.warning("drain deadline passed; the connections still open were closed", metadata: ["drainTimeout": "\(drainTimeout)"])
    }
}
