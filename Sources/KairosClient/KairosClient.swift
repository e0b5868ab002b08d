import AsyncHTTPClient
import Foundation
import KairosAPI
import KairosEngine
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// The Kairos API client (seed 000 "KairosClient Reference"): every endpoint of the REST API
/// as a typed async method, `run` for a whole trace, `streamRun` over the WebSocket route,
/// `events` over SSE, with retries of 429, 502 and 503.
///
/// ```swift
/// let client = try KairosClient()                        // KAIROS_URL, KAIROS_API_KEY
/// let trace = try await client.run(scenario: ScenarioSource.catalog("capability-divergence"), ticks: 500)
/// print(trace.finalPhase()!, trace.meanStability()!, trace.basinLosses().count)
/// ```
///
/// Retries: a 429 (after `Retry-After` seconds), 502, 503 and 409
/// IDEMPOTENCY_REQUEST_IN_PROGRESS are retried up to `maxRetries` times with exponential
/// backoff (`retryBackoff` × 2ⁿ seconds, plus up to `retryBackoff` of random jitter).
/// Every POST carries an `Idempotency-Key`, the same on each retry, so a POST whose
/// connection failed (the server may have executed it) is retried safely: the server replays
/// the stored answer instead of creating a second simulation. With `idempotencyKeys: false`
/// a POST is never retried after a connection error (the seed's default for
/// `simulation.create`). IDEMPOTENCY_KEY_REUSE is never retried.
public final class KairosClient: Sendable {
    /// The API root, ending in `/v1`.
    public let baseURL: String
    public let apiKey: String?
    /// A bearer JWT (`kairos token create`), used instead of an API key.
    public let token: String?
    /// Seconds a request may take (each attempt).
    public let timeout: Double
    /// Seconds to wait for a connection to the server (a dead or unreachable server fails
    /// this fast: failed connects are not retried).
    public let connectTimeout: Double
    /// The pinned engine version, sent with every create and run.
    public let engineVersion: String?
    public let maxRetries: Int
    /// Base delay in seconds of the exponential backoff.
    public let retryBackoff: Double
    /// Whether POSTs carry an `Idempotency-Key` (and so are retried after connection errors).
    public let idempotencyKeys: Bool

    let http: HTTPClient
    let hooks: Hooks

    /// What tests replace: the sleep between retries, the jitter's randomness (0 ..< 1), and
    /// the idempotency keys.
    public struct Hooks: Sendable {
        public var sleep: @Sendable (Double) async throws -> Void
        public var random: @Sendable () -> Double
        public var makeIdempotencyKey: @Sendable () -> String

        public init(sleep: @escaping @Sendable (Double) async throws -> Void = { seconds in
                        try await Task.sleep(nanoseconds: UInt64(max(0, seconds) * 1e9))
                    },
                    random: @escaping @Sendable () -> Double = { Double.random(in: 0 ..< 1) },
                    makeIdempotencyKey: @escaping @Sendable () -> String = { "kc-" + UUID().uuidString.lowercased() }) {
            self.sleep = sleep
            self.random = random
            self.makeIdempotencyKey = makeIdempotencyKey
        }
    }

    public static let defaultURL = "http://127.0.0.1:8080"
    public static let defaultConnectTimeout = 5.0

    private static let clients = Mutex<[Int64: HTTPClient]>([:])

    /// One process-wide `HTTPClient` per connect timeout (the shared one waits 90 s for a
    /// connection), kept for the life of the process like `HTTPClient.shared`.
    static func sharedClient(connectTimeout: Double) -> HTTPClient {
        let milliseconds = Int64((connectTimeout * 1000).rounded())
        return clients.withLock { clients in
            if let client = clients[milliseconds] { return client }
            var configuration = HTTPClient.Configuration.singletonConfiguration
            configuration.timeout = .init(connect: .milliseconds(milliseconds), read: .seconds(90))
            let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
            clients[milliseconds] = client
            return client
        }
    }

    /// - Parameters:
    ///   - url: the server (`https://host`, `http://127.0.0.1:8080` or with `/v1`); default
    ///     `KAIROS_URL`, else `http://127.0.0.1:8080`.
    ///   - apiKey: default `KAIROS_API_KEY`.
    ///   - timeout: seconds per request attempt.
    ///   - connectTimeout: seconds to wait for a connection (default `KAIROS_CONNECT_TIMEOUT`,
    ///     else 5); a server that cannot be reached fails after it, without retries.
    ///   - engineVersion: pins every simulation to this engine (`EngineVersionError` if the
    ///     server does not offer it).
    ///   - maxRetries: retries of 429, 502, 503 and connection errors.
    ///   - retryBackoff: base delay in seconds.
    ///   - idempotencyKeys: whether every POST carries an `Idempotency-Key` (and so is
    ///     retried after a connection error).
    ///   - token: a bearer JWT instead of an API key (default `KAIROS_TOKEN` when no key is
    ///     given); the API takes exactly one of them.
    ///   - httpClient: an `HTTPClient` to use; by default the process-wide
    ///     `HTTPClient.shared`, which needs no shutdown.
    public init(url: String? = nil, apiKey: String? = nil, timeout: Double = 30, connectTimeout: Double? = nil, engineVersion: String? = nil,
                maxRetries: Int = 3, retryBackoff: Double = 1.0, idempotencyKeys: Bool = true, token: String? = nil,
                environment: [String: String] = ProcessInfo.processInfo.environment,
                httpClient: HTTPClient? = nil, hooks: Hooks = Hooks()) throws(ConfigurationError) {
        let raw = url ?? environment["KAIROS_URL"].flatMap { $0.isEmpty ? nil : $0 } ?? Self.defaultURL
        baseURL = try Self.apiRoot(raw)
        if apiKey != nil, token != nil { throw ConfigurationError("give an API key or a token, not both (the API takes exactly one)") }
        let key = apiKey ?? (token == nil ? environment["KAIROS_API_KEY"].flatMap { $0.isEmpty ? nil : $0 } : nil)
        self.apiKey = key
        self.token = token ?? (key == nil ? environment["KAIROS_TOKEN"].flatMap { $0.isEmpty ? nil : $0 } : nil)
        guard timeout > 0, timeout.isFinite else { throw ConfigurationError("timeout must be a positive number of seconds") }
        let connect: Double
        if let connectTimeout {
            connect = connectTimeout
        } else if let text = environment["KAIROS_CONNECT_TIMEOUT"], !text.isEmpty {
            guard let value = Double(text) else {
                throw ConfigurationError("KAIROS_CONNECT_TIMEOUT must be a number of seconds, got \"\(text)\"")
            }
            connect = value
        } else {
            connect = Self.defaultConnectTimeout
        }
        guard connect > 0, connect <= 3600 else { throw ConfigurationError("the connect timeout must be between 0 and 3600 seconds") }
        guard maxRetries >= 0 else { throw ConfigurationError("maxRetries must be 0 or more") }
        guard retryBackoff >= 0, retryBackoff.isFinite else { throw ConfigurationError("retryBackoff must be 0 or more seconds") }
        if let engineVersion, EngineVersion(engineVersion) == nil {
            throw ConfigurationError("engine version \"\(engineVersion)\" is not MAJOR.MINOR.PATCH")
        }
        self.timeout = timeout
        self.connectTimeout = connect
        self.engineVersion = engineVersion
        self.maxRetries = maxRetries
        self.retryBackoff = retryBackoff
        self.idempotencyKeys = idempotencyKeys
        self.http = httpClient ?? Self.sharedClient(connectTimeout: connect)
        self.hooks = hooks
    }

    /// `http://h:p`, `http://h:p/`, `http://h:p/v1` → `http://h:p/v1`.
    static func apiRoot(_ url: String) throws(ConfigurationError) -> String {
        var text = url
        while text.hasSuffix("/") { text.removeLast() }
        guard let parsed = URL(string: text), let scheme = parsed.scheme?.lowercased(), ["http", "https"].contains(scheme),
              parsed.host != nil else {
            throw ConfigurationError("\"\(url)\" is not an http:// or https:// URL")
        }
        if !text.hasSuffix("/v1") { text += "/v1" }
        return text
    }

    // MARK: Requests

    struct Call: Sendable {
        var method: HTTPMethod
        var path: String
        var query: [(String, String)] = []
        var body: JSONValue?
        var accept = "application/json"
        /// The engine version the body pins, for `EngineVersionError`.
        var engine: String?
    }

    struct Answer: Sendable {
        var status: Int
        var headers: HTTPHeaders
        var body: [UInt8]

        func json() throws(ConnectionError) -> JSONValue {
            do {
                return try JSONParser.parse(body)
            } catch {
                throw ConnectionError("the server's answer is not JSON: \(error)", status: status, requestId: requestId)
            }
        }

        var requestId: String? { headers.first(name: "X-Request-Id") }
    }

    static let maxResponseBytes = 1 << 30

    func url(_ call: Call) -> String {
        var text = baseURL + call.path
        if !call.query.isEmpty {
            text += "?" + call.query.map { Self.percentEncode($0.0) + "=" + Self.percentEncode($0.1) }.joined(separator: "&")
        }
        return text
    }

    static func percentEncode(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? s
    }

    func request(_ call: Call, idempotencyKey: String?, extraHeaders: [(String, String)] = []) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: url(call))
        request.method = call.method
        request.headers.add(name: "Accept", value: call.accept)
        request.headers.add(name: "User-Agent", value: "kairos-swift-client/\(KairosClientVersion.string)")
        if let apiKey { request.headers.add(name: "X-Api-Key", value: apiKey) }
        if let token { request.headers.add(name: "Authorization", value: "Bearer " + token) }
        if let idempotencyKey { request.headers.add(name: "Idempotency-Key", value: idempotencyKey) }
        for (name, value) in extraHeaders { request.headers.add(name: name, value: value) }
        if let body = call.body {
            var writer = CanonicalJSONWriter(capacity: 1024)
            writer.value(body)
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: writer.bytes))
        }
        return request
    }

    /// Sends `call` with the retry policy; returns the 2xx answer or throws the typed error.
    func send(_ call: Call) async throws -> Answer {
        let key = call.method == .POST && idempotencyKeys ? hooks.makeIdempotencyKey() : nil
        var attempt = 0
        while true {
            try Task.checkCancellation()
            let answer: Answer
            do {
                let response = try await http.execute(request(call, idempotencyKey: key), timeout: .milliseconds(Int64(timeout * 1000)))
                let body = try await response.body.collect(upTo: Self.maxResponseBytes)
                answer = Answer(status: Int(response.status.code), headers: response.headers, body: Array(buffer: body))
            } catch let error as CancellationError {
                throw error
            } catch {
                if Task.isCancelled { throw CancellationError() }
                // No connection at all: the server is down or unreachable, and waiting again
                // only delays the report (the connect timeout bounds this attempt).
                if Self.isConnectFailure(error) {
                    throw ConnectionError("cannot connect to \(baseURL.dropLast(3)): \(Self.describe(error))")
                }
                // A POST may have been executed before the connection failed: only its
                // Idempotency-Key makes sending it again safe.
                let retriable = call.method != .POST || key != nil
                if retriable, attempt < maxRetries {
                    try await hooks.sleep(backoff(attempt))
                    attempt += 1
                    continue
                }
                throw ConnectionError("\(call.method.rawValue) \(url(call)): \(Self.describe(error))")
            }
            if (200 ..< 300).contains(answer.status) { return answer }
            if attempt < maxRetries, let delay = retryDelay(answer, attempt: attempt) {
                try await hooks.sleep(delay)
                attempt += 1
                continue
            }
            let error = ErrorMapping.error(status: answer.status, body: answer.body, requestId: answer.requestId,
                                           retryAfter: Self.retryAfter(answer.headers), requestedEngine: call.engine ?? engineVersion,
                                           idempotencyKey: key)
            // A server that does not list the versions it offers in the error still does in /health.
            if let e = error as? EngineVersionError, e.available.isEmpty, call.path != "/health",
               let health = try? await self.health() {
                throw EngineVersionError(requested: e.requested, available: health.engineVersions.map(\.description), response: e.response)
            }
            throw error
        }
    }

    /// The delay before retrying `answer`, or nil when it is not retried.
    func retryDelay(_ answer: Answer, attempt: Int) -> Double? {
        switch answer.status {
        case 429: return Self.retryAfter(answer.headers) ?? backoff(attempt)
        case 502, 503: return backoff(attempt)
        case 409:
            let code = (try? JSONParser.parse(answer.body))?["error"]?["code"]?.stringValue
            return code == APIErrorCode.idempotencyRequestInProgress.rawValue ? backoff(attempt) : nil
        default: return nil
        }
    }

    /// `retryBackoff` × 2^attempt (at most 60 s), plus up to `retryBackoff` of jitter.
    func backoff(_ attempt: Int) -> Double {
        min(retryBackoff * Double(1 << min(attempt, 30)), 60) + hooks.random() * retryBackoff
    }

    /// `Retry-After` in seconds (the delta-seconds form).
    static func retryAfter(_ headers: HTTPHeaders) -> Double? {
        guard let text = headers.first(name: "Retry-After"), let seconds = Double(text.trimmingCharacters(in: .whitespaces)),
              seconds >= 0, seconds.isFinite else { return nil }
        return seconds
    }

    /// A failure to open the connection (refused, unreachable, timed out connecting), as
    /// opposed to one that broke an open connection.
    static func isConnectFailure(_ error: any Error) -> Bool {
        if let e = error as? HTTPClientError, e == .connectTimeout { return true }
        if error is NIOConnectionError { return true }
        if let e = error as? ChannelError, case .connectTimeout = e { return true }
        if let e = error as? IOError, [ECONNREFUSED, ENETUNREACH, EHOSTUNREACH, ETIMEDOUT].contains(e.errnoCode) { return true }
        let text = "\(error)"
        return text.contains("connectionRefused") || text.contains("Connection refused")
    }

    static func describe(_ error: any Error) -> String {
        if let e = error as? HTTPClientError {
            switch e {
            case .remoteConnectionClosed: return "the server closed the connection"
            case .deadlineExceeded, .readTimeout: return "timed out"
            case .connectTimeout: return "timed out connecting"
            default: return "\(e)"
            }
        }
        let text = "\(error)"
        if text.contains("connectionRefused") || text.contains("Connection refused") { return "connection refused" }
        return text
    }

    func json(_ call: Call) async throws -> JSONValue {
        try await send(call).json()
    }

    func decode<T>(_ json: JSONValue, _ what: String, _ make: (JSONValue) -> T?) throws -> T {
        guard let value = make(json) else { throw ConnectionError("the server's answer is not a valid \(what)") }
        return value
    }

    /// A `{"data": [...]}` list whose every item decodes (else the whole answer is invalid).
    func decodeList<T>(_ json: JSONValue, _ what: String, _ make: (JSONValue) -> T?) throws -> [T] {
        try decode(json, what) { j in
            j["data"]?.arrayValue.flatMap { items in
                let decoded = items.compactMap(make)
                return decoded.count == items.count ? decoded : nil
            }
        }
    }
}

public enum KairosClientVersion {
    public static let string = "0.1.0"
}
