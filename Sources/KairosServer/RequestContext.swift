import Hummingbird
import KairosAPI
import Logging
import NIOCore

/// Who is calling: an API key of one organization, or a token naming one or more.
public struct Identity: Sendable, Equatable {
    public enum Credential: Sendable, Equatable {
        case apiKey(id: String)
        case token(subject: String)
    }

    public var credential: Credential
    public var organizationIds: [String]
    public var scopes: [APIScope]
    public var tier: OrganizationTier

    public init(credential: Credential, organizationIds: [String], scopes: [APIScope], tier: OrganizationTier) {
        self.credential = credential
        self.organizationIds = organizationIds
        self.scopes = scopes
        self.tier = tier
    }

    /// A stable name for rate limits, idempotency scopes and logs (`key:…`, `sub:…`).
    public var subject: String {
        switch credential {
        case .apiKey(let id): "key:\(id)"
        case .token(let subject): "sub:\(subject)"
        }
    }

    public var isAPIKey: Bool {
        if case .apiKey = credential { return true }
        return false
    }

    public func belongs(to organizationId: String) -> Bool { organizationIds.contains(organizationId) }

    /// The organization a request acts for: `requested` when the identity belongs to it (401
    /// otherwise), else its only one (a token naming several must say which: 400).
    func organization(_ requested: String?) throws(APIError) -> String {
        if let requested {
            guard belongs(to: requested) else { throw APIError.unauthorized("Not authorized for organization \"\(requested)\".") }
            return requested
        }
        guard let only = organizationIds.first else { throw APIError.unauthorized("The credential names no organization.") }
        guard organizationIds.count == 1 else {
            throw APIError.validation(path: "organizationId", "is required: the token names several organizations")
        }
        return only
    }
}

/// The request context of every route: the request id (set first by
/// `APIResponseMiddleware`) and, on protected routes, the authenticated identity.
public struct KairosRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var requestId = ""
    public var identity: Identity?
    /// The peer's address, for per-IP limits on public routes.
    public let remoteAddress: String?
    /// The connection (SSE watches it to free a stream's slot the moment the client leaves).
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress?.ipAddress
        channel = source.channel
    }

    public var maxUploadSize: Int { SimulationLimits.maxBodyBytes }

    /// The identity, which must hold `scope` (403 otherwise).
    public func require(_ scope: APIScope) throws(APIError) -> Identity {
        guard let identity else { throw APIError.unauthorized("Authentication required.") }
        guard identity.scopes.contains(scope) else { throw APIError.forbidden(missing: scope) }
        return identity
    }
}

extension HTTPFields.Element.Name {
    static let requestID = named("X-Request-Id")
    static let apiKey = named("X-Api-Key")
    static let simulationID = named("X-Simulation-Id")
    static let traceDigest = named("X-Trace-Digest")
    static let retryAfter = named("Retry-After")
    static let rateLimitLimit = named("X-RateLimit-Limit")
    static let rateLimitRemaining = named("X-RateLimit-Remaining")
    static let rateLimitReset = named("X-RateLimit-Reset")
    static let idempotencyKey = named("Idempotency-Key")
    static let idempotencyReplayed = named("Idempotency-Replayed")

    private static func named(_ name: String) -> HTTPFields.Element.Name {
        guard let value = HTTPFields.Element.Name(name) else { preconditionFailure("invalid header name \(name)") }
        return value
    }
}
