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
        case .payloadTooLarge: 413
        case .rateLimited: 429
        case .internalError: 500
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

    /// `details` of a VALIDATION_ERROR.
    public static func issuesDetails(_ issues: [ValidationIssue]) -> JSONValue {
        .object(["issues": .array(issues.map { .object(["path": .string($0.path), "message": .string($0.message)]) })])
    }
}
