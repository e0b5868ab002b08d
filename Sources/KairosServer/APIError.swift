import Hummingbird
import KairosAPI
import KairosEngine

/// An error answered with the API's envelope; it carries its code (and so its HTTP status).
/// The request id is added by `APIResponseMiddleware`, which renders every error.
public struct APIError: Error, Sendable {
    public var code: APIErrorCode
    public var message: String
    public var details: JSONValue
    /// Logged, never sent: what went wrong inside.
    public var internalReason: String?
    /// Headers the error response carries (e.g. `Retry-After` on 429).
    public var headers: HTTPFields

    public init(_ code: APIErrorCode, _ message: String, details: JSONValue = .null, internalReason: String? = nil,
                headers: HTTPFields = [:]) {
        self.code = code
        self.message = message
        self.details = details
        self.internalReason = internalReason
        self.headers = headers
    }

    public var status: HTTPResponse.Status { HTTPResponse.Status(code: code.httpStatus) }

    /// The API's envelope `{"error": {code, message, details, requestId}}` in canonical JSON:
    /// the body of every error response, WebSocket refusal and error frame.
    func envelopeJSON(requestId: String) -> [UInt8] {
        var w = CanonicalJSONWriter(capacity: 512)
        w.value(APIErrorEnvelope(code: code, message: message, details: details, requestId: requestId).jsonValue)
        return w.bytes
    }

    static func validation(_ issues: [ValidationIssue]) -> APIError {
        let limit = APIErrorEnvelope.maxListedIssues
        let message = issues.count > limit
            ? "Request validation failed: \(issues.count) issues, the first \(limit) listed (details.moreIssues: the rest)."
            : "Request validation failed."
        return APIError(.validationError, message, details: APIErrorEnvelope.issuesDetails(issues))
    }

    static func validation(path: String, _ message: String) -> APIError {
        validation([ValidationIssue(path: path, message: message)])
    }

    static func malformedJSON(_ error: JSONSyntaxError) -> APIError {
        APIError(.validationError, "Request validation failed.", details: .object([
            "issues": .array([.object([
                "path": .string(""),
                "message": .string("malformed JSON at line \(error.line), column \(error.column): \(error.message)"),
                "line": .number(Double(error.line)), "column": .number(Double(error.column)),
            ])]),
        ]))
    }

    static func engineVersionUnavailable(_ requested: String) -> APIError {
        APIError(.engineVersionUnavailable, "Engine version \(requested) is not available.",
                 details: .object(["requested": .string(requested),
                                   "available": .array(EngineRegistry.available.map { .string($0.description) })]))
    }

    static func unauthorized(_ message: String) -> APIError { APIError(.unauthorized, message) }

    static func forbidden(missing scope: APIScope) -> APIError {
        APIError(.forbidden, "This route needs the \(scope.rawValue) scope.", details: .object(["requiredScope": .string(scope.rawValue)]))
    }

    static let simulationNotFound = APIError(.notFound, "Simulation not found.")

    static let otherOrganization = APIError(.unauthorized, "Not authorized to access this simulation.")

    static func completed(_ record: SimulationRecord) -> APIError {
        validation(path: "", "the simulation is completed at tick \(record.tick); it takes no more steps, decrees or policy changes")
    }

    static func `internal`(_ reason: String) -> APIError {
        APIError(.internalError, "Internal server error.", internalReason: reason)
    }

    /// Maps a scenario request failure to its API error.
    static func from(_ failure: ScenarioRequest.Failure) -> APIError {
        switch failure {
        case .invalid(let v): validation(v.issues)
        case .unknownScenario(let id): APIError(.notFound, "Scenario \"\(id)\" not found.",
                                                details: .object(["scenarioId": .string(id)]))
        case .unknownDomain(let d): APIError(.notFound, "Domain adapter \"\(d)\" not found.",
                                             details: .object(["domain": .string(d),
                                                               "available": .array(DomainAdapters.identifiers.map { .string($0) })]))
        case .unavailableEngine(let v): engineVersionUnavailable(v)
        }
    }
}
