import Foundation
import Hummingbird
import KairosAPI
import Logging
import ServiceLifecycle

/// How `kairos serve` (and every test) builds the server.
public struct ServerConfiguration: Sendable {
    public enum Storage: Sendable, Equatable {
        /// SQLite at a path (`:memory:` for a private in-memory database).
        case sqlite(path: String)
        /// The in-memory repositories (tests).
        case memory
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
    /// Seconds between SSE heartbeats (30; `KAIROS_SSE_HEARTBEAT_SECONDS` overrides it, read
    /// once at startup by `kairos serve` — tests set it small).
    public var sseHeartbeatSeconds: Double

    public init(host: String = "127.0.0.1", port: Int = 8080, storage: Storage = .sqlite(path: "kairos.db"),
                jwtSecret: String? = nil, logLevel: Logger.Level = .info, rateLimitMultiplier: Int = 1,
                sseHeartbeatSeconds: Double = 30) {
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

    public init(simulations: any SimulationRepository, identities: any IdentityRepository) {
        self.simulations = simulations
        self.identities = identities
    }

    /// Opens the repositories `storage` names.
    public static func open(_ storage: ServerConfiguration.Storage) throws -> ServerRepositories {
        switch storage {
        case .memory:
            return ServerRepositories(simulations: InMemorySimulationRepository(), identities: InMemoryIdentityRepository())
        case .sqlite(let path):
            let database = try KairosDatabase(path: path)
            return ServerRepositories(simulations: SQLiteSimulationRepository(database: database),
                                      identities: SQLiteIdentityRepository(database: database))
        }
    }
}

/// Builds the application: the one function production and tests share.
/// `onServerRunning` receives the bound port (useful with port 0).
public func buildApplication(
    _ configuration: ServerConfiguration,
    repositories: ServerRepositories? = nil,
    logger: Logger? = nil,
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) async throws -> some ApplicationProtocol {
    try await buildLiveApplication(configuration, repositories: repositories, logger: logger, onServerRunning: onServerRunning).0
}

/// `buildApplication` with its live services (`LiveServices.openEventStreams`,
/// `.playingSimulations` for `/metrics`).
public func buildLiveApplication(
    _ configuration: ServerConfiguration,
    repositories: ServerRepositories? = nil,
    logger: Logger? = nil,
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) async throws -> (some ApplicationProtocol, LiveServices) {
    var log = logger ?? Logger(label: "kairos.server")
    log.logLevel = configuration.logLevel
    let stored = try repositories ?? ServerRepositories.open(configuration.storage)
    let tokens: TokenAuthority? = if let secret = configuration.jwtSecret { try await TokenAuthority(secret: secret) } else { nil }
    let hub = SimulationEventHub(repository: stored.simulations, heartbeatSeconds: configuration.sseHeartbeatSeconds)
    let repositories = ServerRepositories(simulations: publishing(stored.simulations, hub: hub), identities: stored.identities)
    let playback = PlaybackScheduler(repository: repositories.simulations, now: ServerTime.nowMilliseconds, logger: log)
    let live = LiveServices(hub: hub, playback: playback, rateLimitMultiplier: configuration.rateLimitMultiplier)
    let router = buildRouter(repositories: repositories, tokens: tokens, live: live)
    let runStream = runStreamController(repositories.simulations)
    let authenticator = Authenticator(identities: repositories.identities, tokens: tokens)
    let logger = log
    let app = Application(
        router: router,
        server: WebSocketUpgradeChannel.builder(maxFrameSize: SimulationLimits.maxBodyBytes) { head, _, logger in
            await runStream.accept(head, authenticator: authenticator, logger: logger)
        },
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "kairos"),
        services: [PlaybackShutdown(playback: playback)],
        onServerRunning: { channel in
            await playback.resumeAll()
            let port = channel.localAddress?.port ?? configuration.port
            logger.info("listening", metadata: ["address": .string("http://\(configuration.host):\(port)"),
                                                "storage": .string(repositories.simulations.storageName)])
            await onServerRunning(port)
        },
        logger: log)
    return (app, live)
}

/// Wraps the repository so every stored change reaches the live event hub.
private func publishing(_ repository: some SimulationRepository, hub: SimulationEventHub) -> any SimulationRepository {
    PublishingSimulationRepository(base: repository, hub: hub)
}

/// The routes of `/v1`, with the middleware every request passes through.
func buildRouter(repositories: ServerRepositories, tokens: TokenAuthority?, live: LiveServices,
                 now: @escaping @Sendable () -> Int64 = ServerTime.nowMilliseconds) -> Router<KairosRequestContext> {
    let router = Router(context: KairosRequestContext.self)
    // Part 2 slots in here, in this order: rate limits (they need the identity, so they sit
    // inside authentication on protected routes and by IP on public ones), then idempotency.
    router.add(middleware: APIResponseMiddleware())
    let v1 = router.group("v1")
    HealthController(storageName: repositories.simulations.storageName).addRoutes(to: v1)
    ScenariosController().addRoutes(to: v1)
    DocumentationController().addRoutes(to: v1)
    let authenticator = Authenticator(identities: repositories.identities, tokens: tokens)
    let protected = v1.group("simulations").add(middleware: AuthenticationMiddleware(authenticator: authenticator))
    addSimulationRoutes(repositories.simulations, to: protected, live: live, now: now)
    OrganizationController(identities: repositories.identities)
        .addRoutes(to: v1.group("organization").add(middleware: AuthenticationMiddleware(authenticator: authenticator)))
    return router
}

/// `GET /v1/simulations/run/stream`, specialised for the concrete repository.
private func runStreamController(_ repository: any SimulationRepository) -> RunStreamController {
    RunStreamController(repository: repository, now: ServerTime.nowMilliseconds)
}

/// Opens the existential so the controller is specialised for the concrete repository.
private func addSimulationRoutes(_ repository: some SimulationRepository, to group: RouterGroup<KairosRequestContext>,
                                 live: LiveServices, now: @escaping @Sendable () -> Int64) {
    SimulationsController(repository: repository, live: live, now: now).addRoutes(to: group)
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
