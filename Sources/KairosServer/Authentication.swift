import Crypto
import Foundation
import Hummingbird
import JWTKit
import KairosAPI

/// API keys: `krs_` + 40 base62 characters from the system's secure generator (only the
/// engine must be deterministic); stored as their SHA-256.
public enum APIKeyMaterial {
    public static let prefix = "krs_"
    public static let randomLength = 40
    static let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)

    /// `count` base62 characters, uniformly drawn (rejection sampling, no modulo bias).
    public static func randomBase62(_ count: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        var out: [UInt8] = []
        out.reserveCapacity(count)
        while out.count < count {
            let byte = UInt8.random(in: 0 ... 255, using: &generator)
            if byte < 248 { out.append(alphabet[Int(byte % 62)]) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func generate() -> String { prefix + randomBase62(randomLength) }

    public static func hash(_ key: String) -> [UInt8] { Array(SHA256.hash(data: Array(key.utf8))) }

    /// Whether `text` looks like a key at all (checked before any lookup).
    public static func isWellFormed(_ text: String) -> Bool {
        guard text.hasPrefix(prefix) else { return false }
        let rest = text.utf8.dropFirst(prefix.utf8.count)
        return rest.count >= 32 && rest.count <= 128 && rest.allSatisfy { alphabet.contains($0) }
    }
}

/// Creates, lists and revokes API keys (the library behind `kairos keys`).
public struct APIKeyIssuer: Sendable {
    let identities: any IdentityRepository
    let now: @Sendable () -> Int64

    public init(identities: any IdentityRepository, now: @escaping @Sendable () -> Int64 = ServerTime.nowMilliseconds) {
        self.identities = identities
        self.now = now
    }

    /// Creates a key (and the organization, or sets its tier); returns the record and the key,
    /// which is shown once and never stored.
    public func create(organizationId: String, tier: OrganizationTier, scopes: [APIScope]) async throws -> (APIKeyRecord, String) {
        let time = now()
        try await identities.upsertOrganization(OrganizationRecord(id: organizationId, tier: tier, createdAt: time))
        let key = APIKeyMaterial.generate()
        let record = APIKeyRecord(id: "key_" + APIKeyMaterial.randomBase62(16), organizationId: organizationId,
                                  keyHash: APIKeyMaterial.hash(key), prefix: String(key.prefix(8)), scopes: scopes,
                                  createdAt: time)
        try await identities.insertKey(record)
        return (record, key)
    }

    /// Whether `text` is a valid organization name: 1–64 of `A–Z a–z 0–9 . _ -`.
    public static func isValidOrganizationId(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 64
            && text.utf8.allSatisfy { APIKeyMaterial.alphabet.contains($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
    }
}

/// The claims of a Kairos bearer token (HS256): `sub`, `orgs`, `scopes`, `exp`.
public struct KairosTokenClaims: JWTPayload, Equatable {
    public var sub: SubjectClaim
    public var orgs: [String]
    public var scopes: [String]
    public var exp: ExpirationClaim

    public init(subject: String, organizationIds: [String], scopes: [APIScope], expires: Date) {
        sub = SubjectClaim(value: subject)
        orgs = organizationIds
        self.scopes = scopes.map(\.rawValue)
        exp = ExpirationClaim(value: expires)
    }

    public func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
    }
}

/// Signs and verifies bearer tokens with the HS256 secret of `KAIROS_JWT_SECRET`.
public struct TokenAuthority: Sendable {
    let keys: JWTKeyCollection

    /// HS256 needs a key at least as long as its output.
    public static let minimumSecretBytes = 32

    public struct WeakSecret: Error, CustomStringConvertible {
        public var description: String { "KAIROS_JWT_SECRET must be at least \(TokenAuthority.minimumSecretBytes) bytes" }
    }

    public init(secret: String) async throws(WeakSecret) {
        guard secret.utf8.count >= Self.minimumSecretBytes else { throw WeakSecret() }
        keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
    }

    public func sign(_ claims: KairosTokenClaims) async throws -> String { try await keys.sign(claims) }

    public func verify(_ token: String) async throws -> KairosTokenClaims { try await keys.verify(token, as: KairosTokenClaims.self) }
}

/// Turns a request's credentials into an identity: exactly one of `X-Api-Key` and
/// `Authorization: Bearer` (both or neither → 401).
///
/// A bearer token names organizations; each must exist on this server (`kairos keys create`
/// makes them) or the token is refused with 401, unless the operator turned provisioning on
/// (`kairos serve --provision-organizations`): then an organization a valid token names is
/// created on first use, at the community tier.
struct Authenticator: Sendable {
    let identities: any IdentityRepository
    let tokens: TokenAuthority?
    var provisionOrganizations = false
    var now: @Sendable () -> Int64 = ServerTime.nowMilliseconds

    func authenticate(_ request: Request) async throws(APIError) -> Identity {
        let apiKey = request.headers[.apiKey]
        let authorization = request.headers[.authorization]
        switch (apiKey, authorization) {
        case (nil, nil):
            throw APIError.unauthorized("Authentication required: send an X-Api-Key header or an Authorization: Bearer token.")
        case (.some, .some):
            throw APIError.unauthorized("Send exactly one of X-Api-Key and Authorization, not both.")
        case (.some(let key), nil):
            return try await identify(apiKey: key)
        case (nil, .some(let header)):
            return try await identify(authorization: header)
        }
    }

    private func identify(apiKey key: String) async throws(APIError) -> Identity {
        guard APIKeyMaterial.isWellFormed(key) else { throw APIError.unauthorized("Invalid API key.") }
        let record: APIKeyRecord?
        let organization: OrganizationRecord?
        do {
            record = try await identities.key(hash: APIKeyMaterial.hash(key))
            if let record {
                organization = try await identities.organization(id: record.organizationId)
            } else {
                organization = nil
            }
        } catch {
            throw APIError.internal("identity lookup failed: \(error)")
        }
        guard let record else { throw APIError.unauthorized("Invalid API key.") }
        guard record.revokedAt == nil else { throw APIError.unauthorized("This API key has been revoked.") }
        return Identity(credential: .apiKey(id: record.id), organizationIds: [record.organizationId], scopes: record.scopes,
                        tier: organization?.tier ?? .community)
    }

    private func identify(authorization header: String) async throws(APIError) -> Identity {
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw APIError.unauthorized("The Authorization header must be \"Bearer <token>\".")
        }
        guard let tokens else { throw APIError.unauthorized("Bearer tokens are not accepted by this server (no KAIROS_JWT_SECRET).") }
        let claims: KairosTokenClaims
        do {
            claims = try await tokens.verify(String(parts[1]))
        } catch {
            throw APIError.unauthorized("Invalid or expired bearer token.")
        }
        var tier = OrganizationTier.community
        for org in claims.orgs {
            guard APIKeyIssuer.isValidOrganizationId(org) else {
                throw APIError.unauthorized("The bearer token names an invalid organization id.")
            }
            let record: OrganizationRecord?
            do {
                record = try await identities.organization(id: org)
                if record == nil, provisionOrganizations {
                    try await identities.upsertOrganization(OrganizationRecord(id: org, tier: .community, createdAt: now()))
                }
            } catch {
                throw APIError.internal("organization lookup failed: \(error)")
            }
            guard record != nil || provisionOrganizations else {
                throw APIError.unauthorized("Organization \"\(org)\" does not exist on this server.")
            }
            if let record, OrganizationTier.allCases.firstIndex(of: record.tier) ?? 0 > OrganizationTier.allCases.firstIndex(of: tier) ?? 0 {
                tier = record.tier
            }
        }
        return Identity(credential: .token(subject: claims.sub.value), organizationIds: claims.orgs,
                        scopes: claims.scopes.compactMap(APIScope.init(rawValue:)), tier: tier)
    }
}

/// Authenticates every request of the routes it guards.
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = KairosRequestContext
    let authenticator: Authenticator

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // `RateLimitMiddleware` authenticates first (the limits need the identity); this guard
        // keeps every protected group closed should a route ever be reached without it.
        if context.identity != nil { return try await next(request, context) }
        var context = context
        let identity = try await authenticator.authenticate(request)
        context.identity = identity
        context.logger[metadataKey: "identity"] = .string(identity.subject)
        return try await next(request, context)
    }
}

/// Wall-clock time for records (the engine never reads it).
public enum ServerTime {
    public static func nowMilliseconds() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }

    /// `2025-06-15T10:30:00.000Z`.
    public static func iso8601(milliseconds: Int64) -> String {
        var seconds = time_t(milliseconds / 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ v: Int32, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(milliseconds % 1000), 3))Z"
    }
}
