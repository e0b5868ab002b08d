import KairosEngine

/// The error codes of the API (API.md "Errors"), each with its HTTP status.
public enum APIErrorCode: String, Sendable, CaseIterable {
    case validationError = "VALIDATION_ERROR"
    case unauthorized = "UNAUTHORIZED"
    case forbidden = "FORBIDDEN"
    case notFound = "NOT_FOUND"
    case methodNotAllowed = "METHOD_NOT_ALLOWED"
    case idempotencyKeyReuse = "IDEMPOTENCY_KEY_REUSE"
    case idempotencyRequestInProgress = "IDEMPOTENCY_REQUEST_IN_PROGRESS"
    case payloadTooLarge = "PAYLOAD_TOO_LARGE"
    /// A body in another media type than the route's (`application/json`).
    case unsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE"
    /// The request (head and body) did not arrive within the server's read timeout.
    case requestTimeout = "REQUEST_TIMEOUT"
    /// The request's header section is over the server's limit.
    case headersTooLarge = "REQUEST_HEADER_FIELDS_TOO_LARGE"
    /// A request method HTTP/1.1 servers do not know (e.g. `FOO`).
    case notImplemented = "NOT_IMPLEMENTED"
    /// The server holds as many connections as it is configured to; retry after `Retry-After`.
    case serviceUnavailable = "SERVICE_UNAVAILABLE"
    case rateLimited = "RATE_LIMITED"
    case engineVersionUnavailable = "ENGINE_VERSION_UNAVAILABLE"
    case internalError = "INTERNAL_ERROR"

    public var httpStatus: Int {
        switch self {
        case .validationError, .engineVersionUnavailable: 400
        case .unauthorized: 401
        case .forbidden: 403
        case .notFound: 404
        case .methodNotAllowed: 405
        case .idempotencyKeyReuse, .idempotencyRequestInProgress: 409
        case .requestTimeout: 408
        case .payloadTooLarge: 413
        case .unsupportedMediaType: 415
        case .headersTooLarge: 431
        case .rateLimited: 429
        case .internalError: 500
        case .notImplemented: 501
        case .serviceUnavailable: 503
        }
    }
}

/// The body of every error response: `{"error": {code, message, details, requestId}}`.
public struct APIErrorEnvelope: Sendable, Equatable {
    public var code: APIErrorCode
    public var message: String
    /// `{issues: [...]}` for VALIDATION_ERROR, `{available: [...]}` for
    /// ENGINE_VERSION_UNAVAILABLE, else null.
    public var details: JSONValue
    public var requestId: String

    public init(code: APIErrorCode, message: String, details: JSONValue = .null, requestId: String) {
        self.code = code
        self.message = message
        self.details = details
        self.requestId = requestId
    }

    public var jsonValue: JSONValue {
        .object([
            "error": .object([
                "code": .string(code.rawValue), "message": .string(message), "details": details,
                "requestId": .string(requestId),
            ]),
        ])
    }

    /// Reads an error body; nil when `json` is not one (a proxy's page, say).
    public init?(json: JSONValue) {
        guard let e = json["error"], let codeText = e["code"]?.stringValue,
              let message = e["message"]?.stringValue else { return nil }
        self.init(code: APIErrorCode(rawValue: codeText) ?? .internalError, message: message,
                  details: e["details"] ?? .null, requestId: e["requestId"]?.stringValue ?? "")
    }

    /// The validation issues of a VALIDATION_ERROR (empty otherwise).
    public var issues: [ValidationIssue] {
        (details["issues"]?.arrayValue ?? []).compactMap { item in
            guard let path = item["path"]?.stringValue, let message = item["message"]?.stringValue else { return nil }
            return ValidationIssue(path: path, message: message)
        }
    }

    /// At most this many issues are listed in one error (`details.moreIssues` counts the rest).
    public static let maxListedIssues = 50
    /// Paths longer than this many characters are cut (with `…`) in an error.
    public static let maxPathCharacters = 256

    /// `details` of a VALIDATION_ERROR: the first `maxListedIssues` issues, and `moreIssues`
    /// (how many were left out) when there were more, so a body with 50 000 unknown keys gets
    /// a short answer.
    public static func issuesDetails(_ issues: [ValidationIssue]) -> JSONValue {
        var members: [JSONMember] = [JSONMember(key: "issues", value: .array(issues.prefix(maxListedIssues).map { issue in
            let path = issue.path.count > maxPathCharacters ? String(issue.path.prefix(maxPathCharacters)) + "…" : issue.path
            return .object(["path": .string(path), "message": .string(issue.message)])
        }))]
        if issues.count > maxListedIssues {
            members.append(JSONMember(key: "moreIssues", value: .number(Double(issues.count - maxListedIssues))))
        }
        return .object(members)
    }
}
