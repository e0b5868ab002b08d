import DequeModule
import Hummingbird
import KairosAPI
import NIOConcurrencyHelpers

/// Seed 002's route classes: what a request costs against its identity's limits.
///
/// - create: every `POST` except `/step` (`/simulations`, `/from-domain`, `/run`, `/{id}/decrees`
///   — seed 002 lists decrees with creating) and the WebSocket `GET /simulations/run/stream`.
/// - step: `POST /simulations/{id}/step` and every `PUT` (`/time-control`, `/agent-policy`).
/// - read: every other `GET`, and any other method.
///
/// An authenticated SSE connection (`GET /simulations/{id}/events`) counts against the tier's
/// concurrent-stream limit, not the per-minute rate limit (seed 003): it carries the read
/// window's headers without using it up (`RateLimitPolicy.isEventStream`).
public enum RouteClass: String, Sendable, CaseIterable {
    case create, step, read

    public static func of(method: HTTPRequest.Method, path: String) -> RouteClass {
        var path = Substring(path)
        while path.count > 1, path.last == "/" { path.removeLast() }
        switch method {
        case .post:
            return path.hasPrefix("/v1/simulations/") && path.hasSuffix("/step") ? .step : .create
        case .put, .patch, .delete:
            return .step
        case .get:
            return path == "/v1/simulations/run/stream" ? .create : .read
        default:
            return .read
        }
    }

    /// This class's requests per window in `limits`.
    public func limit(in limits: TierLimits) -> Int {
        switch self {
        case .create: limits.create
        case .step: limits.step
        case .read: limits.read
        }
    }
}

/// The rate-limit policy: which routes need an identity, and the limits of callers without one.
public enum RateLimitPolicy {
    /// Sliding window length.
    public static let windowMilliseconds: Int64 = 60_000

    /// Callers identified only by their address (public routes, and failed authentication on
    /// protected ones) get the community tier's limits per class (× the server's multiplier).
    public static let anonymousTier = OrganizationTier.community

    /// The SSE route: limited by concurrent streams, not by the per-minute window.
    static func isEventStream(method: HTTPRequest.Method, path: String) -> Bool {
        guard method == .get, path.hasPrefix("/v1/simulations/") else { return false }
        var path = Substring(path)
        while path.count > 1, path.last == "/" { path.removeLast() }
        return path.hasSuffix("/events")
    }

    /// Routes behind authentication; everything else is public.
    static func isProtected(_ path: String) -> Bool {
        for prefix in ["/v1/simulations", "/v1/organization", "/v1/usage"] where path.hasPrefix(prefix) {
            let rest = path.utf8.dropFirst(prefix.utf8.count)
            if rest.isEmpty || rest.first == UInt8(ascii: "/") { return true }
        }
        return false
    }
}

/// Exact sliding-window counting (a sliding log with one entry per millisecond that saw
/// requests): a request at time t is counted until t + 60 s. Memory per (identity, class) is
/// bounded by min(limit, 60 000) entries; identities idle for a whole window are evicted.
/// The table is split into shards with a lock each, so requests of different identities
/// rarely meet on a lock and no request touches the database.
public final class SlidingWindowLimiter: Sendable {
    public struct Decision: Sendable, Equatable {
        public var allowed: Bool
        public var limit: Int
        public var remaining: Int
        /// When the oldest counted request leaves the window (Remaining goes up), milliseconds since 1970.
        public var resetMilliseconds: Int64
        /// On refusal: whole seconds until a request would be admitted (≥ 1).
        public var retryAfterSeconds: Int

        /// `X-RateLimit-Limit/-Remaining/-Reset` (Unix seconds, rounded up), and `Retry-After` on refusal.
        public var headers: HTTPFields {
            var h: HTTPFields = [:]
            h[.rateLimitLimit] = String(limit)
            h[.rateLimitRemaining] = String(remaining)
            h[.rateLimitReset] = String((resetMilliseconds + 999) / 1000)
            if !allowed { h[.retryAfter] = String(retryAfterSeconds) }
            return h
        }
    }

    struct Window {
        /// (millisecond, requests admitted in it), oldest first.
        var entries: Deque<(time: Int64, count: Int)> = []
        var total = 0

        mutating func evict(before now: Int64, window: Int64) {
            while let first = entries.first, first.time + window <= now {
                total -= first.count
                entries.removeFirst()
            }
        }

        /// Where the window stands at `now`, counting nothing.
        mutating func peek(limit: Int, now: Int64, window: Int64) -> Decision {
            evict(before: now, window: window)
            return Decision(allowed: true, limit: limit, remaining: max(0, limit - total),
                            resetMilliseconds: entries.first.map { $0.time + window } ?? now, retryAfterSeconds: 0)
        }

        mutating func acquire(limit: Int, now: Int64, window: Int64) -> Decision {
            evict(before: now, window: window)
            if total < limit {
                if let last = entries.last, last.time >= now {
                    entries[entries.count - 1].count += 1
                } else {
                    entries.append((now, 1))
                }
                total += 1
                let oldest = entries.first?.time ?? now
                return Decision(allowed: true, limit: limit, remaining: limit - total, resetMilliseconds: oldest + window,
                                retryAfterSeconds: 0)
            }
            // Refused (and not counted): admitted again once total − limit + 1 requests have left.
            var leaving = total - limit + 1
            var freeAt = now + window
            for entry in entries {
                leaving -= entry.count
                if leaving <= 0 {
                    freeAt = entry.time + window
                    break
                }
            }
            let wait = max(1, (freeAt - now + 999) / 1000)
            return Decision(allowed: false, limit: limit, remaining: 0, resetMilliseconds: freeAt, retryAfterSeconds: Int(wait))
        }
    }

    struct Shard {
        var windows: [String: Window] = [:]
        var lastSweep: Int64?
    }

    private let shards: [NIOLockedValueBox<Shard>]
    let window: Int64

    public init(shardCount: Int = 64, windowMilliseconds: Int64 = RateLimitPolicy.windowMilliseconds) {
        shards = (0 ..< max(1, shardCount)).map { _ in NIOLockedValueBox(Shard()) }
        window = windowMilliseconds
    }

    /// Counts one request of `key` if it is within `limit` requests per window at `now`.
    public func acquire(key: String, limit: Int, now: Int64) -> Decision {
        let shard = shards[Int(UInt(bitPattern: key.hashValue) % UInt(shards.count))]
        let window = window
        return shard.withLockedValue { shard in
            if let last = shard.lastSweep, now - last < window {
                // Swept less than a window ago.
            } else {
                // Idle identities (nothing left in their window) go; at most one sweep per window per shard.
                shard.windows = shard.windows.filter { _, w in w.entries.last.map { $0.time + window > now } ?? false }
                shard.lastSweep = now
            }
            return shard.windows[key, default: Window()].acquire(limit: max(1, limit), now: now, window: window)
        }
    }

    /// The window of `key` at `now` without counting a request (headers for uncounted routes).
    public func peek(key: String, limit: Int, now: Int64) -> Decision {
        let shard = shards[Int(UInt(bitPattern: key.hashValue) % UInt(shards.count))]
        let window = window
        return shard.withLockedValue { shard in
            guard var existing = shard.windows[key] else {
                return Decision(allowed: true, limit: max(1, limit), remaining: max(1, limit), resetMilliseconds: now, retryAfterSeconds: 0)
            }
            let decision = existing.peek(limit: max(1, limit), now: now, window: window)
            shard.windows[key] = existing
            return decision
        }
    }

    /// How many identities × classes are tracked (tests of eviction).
    public var trackedCount: Int { shards.reduce(0) { $0 + $1.withLockedValue { $0.windows.count } } }
}

/// Charges requests to the sliding windows — an identity's per class at its tier's limits, or
/// an address's at the anonymous tier, × the server's multiplier — and counts what an identity
/// was admitted for in its organizations' usage. One per application: the HTTP middleware and
/// the WebSocket upgrade (`RunStreamController`) charge the same windows through it.
struct RateLimitCharger: Sendable {
    let limiter: SlidingWindowLimiter
    let multiplier: Int
    let usage: UsageRecorder
    let now: @Sendable () -> Int64
    /// On PostgreSQL: identities' windows are counted there, across every replica (addresses'
    /// windows stay per replica).
    var cluster: ClusterCoordinator? = nil

    /// One request of `identity` in `routeClass` at `time`. `spendsWindow: false` (an SSE
    /// connection, limited by concurrent streams instead) reads the window without counting.
    func admit(_ identity: Identity, _ routeClass: RouteClass, at time: Int64, spendsWindow: Bool = true) async throws
        -> SlidingWindowLimiter.Decision
    {
        let key = identity.subject + " " + routeClass.rawValue
        let limit = routeClass.limit(in: identity.tier.limits) * multiplier
        let decision = if let cluster {
            try await cluster.acquireRate(key: key, limit: max(1, limit), now: time, count: spendsWindow)
        } else {
            spendsWindow ? limiter.acquire(key: key, limit: limit, now: time) : limiter.peek(key: key, limit: limit, now: time)
        }
        if decision.allowed { usage.countRequest(organizations: identity.organizationIds, routeClass, at: time) }
        return decision
    }

    /// One request of an address without an identity (a public route) in `routeClass` at `time`.
    func admit(address: String?, _ routeClass: RouteClass, at time: Int64) -> SlidingWindowLimiter.Decision {
        let limit = routeClass.limit(in: RateLimitPolicy.anonymousTier.limits) * multiplier
        return limiter.acquire(key: "ip:" + (address ?? "unknown") + " " + routeClass.rawValue, limit: limit, now: time)
    }

    /// What a failed authentication answers: it is charged to the address, so guessing keys
    /// costs a request each; the error carries the address's headers, or is a 429 once the
    /// address has used its window.
    func refusingUnauthenticated(_ error: any Error, address: String?, _ routeClass: RouteClass, at time: Int64) -> APIError {
        let decision = admit(address: address, routeClass, at: time)
        guard decision.allowed else { return Self.refusal(decision) }
        return Self.adding(decision.headers, to: error)
    }

    /// 429 RATE_LIMITED with `Retry-After` and the X-RateLimit headers.
    static func refusal(_ decision: SlidingWindowLimiter.Decision) -> APIError {
        var error = APIError(.rateLimited, "Rate limit exceeded: \(decision.limit) requests per 60 s; retry in \(decision.retryAfterSeconds) s.",
                             details: .object(["limit": .number(Double(decision.limit)),
                                               "retryAfter": .number(Double(decision.retryAfterSeconds))]))
        error.headers = decision.headers
        return error
    }

    static func adding(_ headers: HTTPFields, to error: any Error) -> APIError {
        var apiError = APIResponseMiddleware.apiError(for: error)
        for field in headers { apiError.headers[field.name] = field.value }
        return apiError
    }
}

/// Authenticates protected routes (so the identity is known before anything runs), charges
/// the request to its identity and class — or to the client address on public routes and
/// when authentication fails — and puts the rate-limit headers on every response, errors
/// included. A refused request is answered 429 RATE_LIMITED with `Retry-After` and is not
/// counted. Admitted requests of an identity count in its organizations' usage.
struct RateLimitMiddleware: RouterMiddleware {
    typealias Context = KairosRequestContext
    let charger: RateLimitCharger
    let authenticator: Authenticator

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let path = request.uri.path
        let routeClass = RouteClass.of(method: request.method, path: path)
        let time = charger.now()
        let decision: SlidingWindowLimiter.Decision
        if RateLimitPolicy.isProtected(path) {
            let identity: Identity
            do {
                identity = try await authenticator.authenticate(request)
            } catch {
                throw charger.refusingUnauthenticated(error, address: context.remoteAddress, routeClass, at: time)
            }
            context.identity = identity
            context.logger[metadataKey: "identity"] = .string(identity.subject)
            decision = try await charger.admit(identity, routeClass, at: time,
                                               spendsWindow: !RateLimitPolicy.isEventStream(method: request.method, path: path))
        } else {
            decision = charger.admit(address: context.remoteAddress, routeClass, at: time)
        }
        guard decision.allowed else { throw RateLimitCharger.refusal(decision) }
        do {
            var response = try await next(request, context)
            for field in decision.headers { response.headers[field.name] = field.value }
            return response
        } catch {
            throw RateLimitCharger.adding(decision.headers, to: error)
        }
    }
}
