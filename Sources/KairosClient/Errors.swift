import KairosAPI
import KairosEngine

/// Every error the client throws: what went wrong, and — when a server answered — the HTTP
/// status, the error code of the envelope and the request id to quote to the operator.
/// Catch the concrete types (`RateLimitError`, `ValidationError`, …) to act on one kind.
public protocol KairosError: Error, Sendable, CustomStringConvertible {
    /// The HTTP status; nil when no response came (connection errors, client-side checks).
    var status: Int? { get }
    /// The envelope's `error.code` (`RATE_LIMITED`, …); nil when there was no envelope.
    var code: String? { get }
    /// The server's request id (`X-Request-Id`); nil when no response came.
    var requestId: String? { get }
    var message: String { get }
}

extension KairosError {
    public var description: String {
        var text = message
        var parts: [String] = []
        if let status { parts.append("HTTP \(status)") }
        if let code { parts.append(code) }
        if let requestId, !requestId.isEmpty { parts.append("request \(requestId)") }
        if !parts.isEmpty { text += " (" + parts.joined(separator: ", ") + ")" }
        return text
    }
}

/// What every error response carries.
public struct ErrorResponse: Sendable, Equatable {
    public var status: Int
    public var code: String?
    public var requestId: String?
    public var message: String
    public var details: JSONValue

    public init(status: Int, code: String?, requestId: String?, message: String, details: JSONValue = .null) {
        self.status = status
        self.code = code
        self.requestId = requestId
        self.message = message
        self.details = details
    }
}

/// An error the server answered with: status, code, request id and message are its
/// envelope's (`response`).
public protocol ResponseError: KairosError {
    var response: ErrorResponse { get }
}

extension ResponseError {
    public var status: Int? { response.status }
    public var code: String? { response.code }
    public var requestId: String? { response.requestId }
    public var message: String { response.message }
}

/// 401: the API key or token is missing, invalid or revoked, or the simulation belongs to
/// another organization.
public struct AuthenticationError: ResponseError {
    public let response: ErrorResponse
}

/// 403: the key lacks the scope the route needs.
public struct PermissionError: ResponseError {
    public let response: ErrorResponse
}

/// 404: no such simulation, scenario, domain adapter or trace.
public struct NotFoundError: ResponseError {
    public let response: ErrorResponse
}

/// 429 after every retry was spent (or with retries off).
public struct RateLimitError: ResponseError {
    public let response: ErrorResponse
    /// Seconds the server asked to wait (`Retry-After`), when it said.
    public let retryAfter: Double?
}

/// A scenario or request the API refuses: found by the client's pre-flight check before any
/// request (status nil), or a 400 VALIDATION_ERROR. `issues` name each bad field by path.
public struct ValidationError: KairosError {
    public let issues: [ValidationIssue]
    public let response: ErrorResponse?
    public var status: Int? { response?.status }
    public var code: String? { response?.code ?? APIErrorCode.validationError.rawValue }
    public var requestId: String? { response?.requestId }
    public var message: String {
        let list = issues.map { ($0.path.isEmpty ? "" : "\($0.path): ") + $0.message }.joined(separator: "; ")
        return (response == nil ? "invalid scenario (checked before sending): " : "invalid request: ") + list
    }

    public init(issues: [ValidationIssue], response: ErrorResponse? = nil) {
        self.issues = issues
        self.response = response
    }
}

/// The pinned engine version is not offered (400 ENGINE_VERSION_UNAVAILABLE); `available`
/// lists the versions the server offers.
public struct EngineVersionError: KairosError {
    public let requested: String
    public let available: [String]
    public let response: ErrorResponse?
    public var status: Int? { response?.status }
    public var code: String? { response?.code ?? APIErrorCode.engineVersionUnavailable.rawValue }
    public var requestId: String? { response?.requestId }
    public var message: String {
        "engine version \(requested) is not available; the server offers \(available.isEmpty ? "none" : available.joined(separator: ", "))"
    }
}

/// 409: IDEMPOTENCY_KEY_REUSE (the key was used with another body; never retried) or
/// IDEMPOTENCY_REQUEST_IN_PROGRESS still after every retry.
public struct IdempotencyError: ResponseError {
    public let response: ErrorResponse
    public let idempotencyKey: String?
}

/// The server could not compute the simulation or answer the call: 5xx (after retries of
/// 502 and 503), 413, or any other status the client has no type for.
public struct SimulationError: ResponseError {
    public let response: ErrorResponse
}

/// No usable answer: the server could not be reached, the connection dropped, the request
/// timed out, or the response could not be read.
public struct ConnectionError: KairosError {
    public let message: String
    /// The status when a response came but its body could not be read as the API's.
    public let status: Int?
    public let requestId: String?
    public var code: String? { nil }

    public init(_ message: String, status: Int? = nil, requestId: String? = nil) {
        self.message = message
        self.status = status
        self.requestId = requestId
    }
}

/// The client was configured with something it cannot use (a bad URL or engine version).
public struct ConfigurationError: KairosError {
    public let message: String
    public var status: Int? { nil }
    public var code: String? { nil }
    public var requestId: String? { nil }
    public init(_ message: String) { self.message = message }
}

enum ErrorMapping {
    /// The typed error for a non-2xx answer.
    static func error(status: Int, body: [UInt8], requestId headerRequestId: String?, retryAfter: Double?,
                      requestedEngine: String?, idempotencyKey: String?) -> any KairosError {
        let json = try? JSONParser.parse(body)
        let envelope = json.flatMap(APIErrorEnvelope.init(json:))
        let rawCode = json?["error"]?["code"]?.stringValue
        let requestId = envelope.map(\.requestId).flatMap { $0.isEmpty ? nil : $0 } ?? headerRequestId
        let message = envelope?.message ?? "HTTP \(status)" + (body.isEmpty ? "" : ": " + String(decoding: body.prefix(200), as: UTF8.self))
        let response = ErrorResponse(status: status, code: rawCode, requestId: requestId, message: message,
                                     details: envelope?.details ?? .null)
        switch (status, envelope?.code) {
        case (_, .engineVersionUnavailable?):
            let available = envelope?.details["available"]?.arrayValue?.compactMap(\.stringValue) ?? []
            return EngineVersionError(requested: requestedEngine ?? "?", available: available, response: response)
        case (_, .validationError?), (400, nil):
            var issues = envelope?.issues ?? []
            if issues.isEmpty { issues = [ValidationIssue(path: "", message: message)] }
            return ValidationError(issues: issues, response: response)
        case (401, _): return AuthenticationError(response: response)
        case (403, _): return PermissionError(response: response)
        case (404, _): return NotFoundError(response: response)
        case (409, _): return IdempotencyError(response: response, idempotencyKey: idempotencyKey)
        case (429, _): return RateLimitError(response: response, retryAfter: retryAfter)
        default: return SimulationError(response: response)
        }
    }
}
