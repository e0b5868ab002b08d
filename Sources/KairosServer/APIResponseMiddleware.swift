import Foundation
import Hummingbird
import KairosAPI
import KairosEngine
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// The outermost middleware: gives every request an id (the client's `X-Request-Id` when it
/// is sensible, else a new one), echoes it on every response, renders every error as the
/// API's envelope (never leaking internals), and logs one structured line per request.
struct APIResponseMiddleware: RouterMiddleware {
    typealias Context = KairosRequestContext
    /// Where responses are counted and timed by route template (nil: not measured).
    var metrics: ServerMetrics?
    /// The routes, for 405 and `Allow` on a known path with another method.
    var routes = RouteTable()

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let sent = request.headers[values: .requestID]
        let requestId = sent.count == 1 ? Self.acceptable(sent[0]) ?? Self.newRequestId() : Self.newRequestId()
        context.requestId = requestId
        context.logger[metadataKey: "request.id"] = .string(requestId)
        let started = ContinuousClock.now
        var response: Response
        var failure: APIError?
        do {
            response = try await next(request, context)
        } catch {
            var apiError = Self.apiError(for: error)
            if apiError.code == .notFound, context.endpointPath == "NotFound" {
                let allowed = routes.allowed(request.uri.path)
                if !allowed.isEmpty, !allowed.contains(request.method) {
                    let headers = apiError.headers  // X-RateLimit-*, like every response
                    apiError = Self.methodNotAllowed(request.method, allowed: allowed)
                    for field in headers { apiError.headers[field.name] = field.value }
                }
            }
            failure = apiError
            response = Self.render(apiError, requestId: requestId)
        }
        response.headers[.requestID] = requestId
        let elapsed = ContinuousClock.now - started
        if let metrics {
            // The router stores the matched route's template in the context it was given.
            let route = context.endpointPath.map { $0 == "NotFound" ? "unmatched" : $0 } ?? "unmatched"
            metrics.recordRequest(method: request.method.rawValue, route: route, status: Int(response.status.code), duration: elapsed)
        }
        let milliseconds = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        var metadata: Logger.Metadata = [
            "http.method": .string(request.method.rawValue), "http.path": .string(request.uri.path),
            "http.status": .stringConvertible(response.status.code),
            "duration.ms": .string(CanonicalJSON.number((milliseconds * 1000).rounded() / 1000)),
        ]
        if let failure {
            metadata["error.code"] = .string(failure.code.rawValue)
            if let reason = failure.internalReason { metadata["error.reason"] = .string(reason) }
        }
        if let identity = context.identity { metadata["identity"] = .string(identity.subject) }
        context.logger.log(level: failure?.code == .internalError ? .error : .info, "request", metadata: metadata)
        return response
    }

    static func methodNotAllowed(_ method: HTTPRequest.Method, allowed: [HTTPRequest.Method]) -> APIError {
        let list = allowed.map(\.rawValue).joined(separator: ", ")
        var headers: HTTPFields = [:]
        headers[.allow] = list
        return APIError(.methodNotAllowed, "This route does not take \(method.rawValue); it takes \(list).",
                        details: .object(["allowed": .array(allowed.map { .string($0.rawValue) })]), headers: headers)
    }

    static func newRequestId() -> String { "req_" + APIKeyMaterial.randomBase62(20) }

    /// A client-sent id is kept when it is 1–128 visible ASCII characters.
    static func acceptable(_ value: String) -> String? {
        guard !value.isEmpty, value.utf8.count <= 128, value.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return nil }
        return value
    }

    static func apiError(for error: any Error) -> APIError {
        switch error {
        case let e as APIError:
            return e
        case is NIOTooManyBytesError:
            return APIError(.payloadTooLarge, "Request body exceeds \(SimulationLimits.maxBodyBytes) bytes.",
                            details: .object(["limit": .number(Double(SimulationLimits.maxBodyBytes))]))
        case let e as any HTTPResponseError:
            switch e.status.code {
            case 404: return APIError(.notFound, "No such route.")
            case 405: return APIError(.methodNotAllowed, "Method not allowed on this route.")
            case 413: return APIError(.payloadTooLarge, "Request body exceeds \(SimulationLimits.maxBodyBytes) bytes.")
            case 400 ..< 500: return APIError(.validationError, "Bad request.", details: APIErrorEnvelope.issuesDetails([
                ValidationIssue(path: "", message: "the request could not be read (HTTP \(e.status.code))")]))
            default: return APIError.internal("HTTP error \(e.status.code): \(e)")
            }
        default:
            return APIError.internal("\(type(of: error)): \(error)")
        }
    }

    static func render(_ error: APIError, requestId: String) -> Response {
        JSONResponse.bytes(error.envelopeJSON(requestId: requestId), status: error.status, headers: error.headers)
    }
}

/// Refuses an `X-Request-Id` the schema does not allow (one value of 1–128 visible ASCII
/// characters) with 400; runs behind `RateLimitMiddleware`, so the refusal carries the
/// rate-limit headers like every response (`APIResponseMiddleware` has already answered it
/// under a new id).
struct RequestIdCheckMiddleware: RouterMiddleware {
    typealias Context = KairosRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let sent = request.headers[values: .requestID]
        if !sent.isEmpty, sent.count > 1 || APIResponseMiddleware.acceptable(sent[0]) == nil {
            throw APIError.validation(path: "X-Request-Id", sent.count > 1 ? "send one X-Request-Id"
                                        : "must be 1–128 visible ASCII characters")
        }
        return try await next(request, context)
    }
}

/// Compact JSON responses (the canonical writer: sorted keys, no whitespace).
enum JSONResponse {
    static func make(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        var w = CanonicalJSONWriter(capacity: 1024)
        w.value(value)
        return bytes(w.bytes, status: status)
    }

    static func bytes(_ bytes: [UInt8], status: HTTPResponse.Status = .ok, contentType: String = "application/json",
                      headers extra: HTTPFields = [:]) -> Response {
        buffer(ByteBuffer(bytes: bytes), status: status, contentType: contentType, headers: extra)
    }

    /// A body already laid out in the buffer NIO writes from.
    static func buffer(_ body: ByteBuffer, status: HTTPResponse.Status = .ok, contentType: String = "application/json",
                       headers extra: HTTPFields = [:]) -> Response {
        var headers = extra
        headers[.contentType] = contentType
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: body))
    }
}

/// Reading request bodies and query strings with the API's errors.
enum RequestReading {
    /// The body as JSON: 413 above 1 MiB, VALIDATION_ERROR with the position when malformed.
    static func json(_ request: Request) async throws -> JSONValue {
        try checkContentType(request)
        try checkDeclaredLength(request)
        let buffer = try await request.body.collect(upTo: SimulationLimits.maxBodyBytes)
        let bytes = Array(buffer.readableBytesView)
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            throw APIError.validation(path: "", "a JSON object body is required")
        }
        do {
            return try JSONParser.parse(bytes)
        } catch {
            throw APIError.malformedJSON(error)
        }
    }

    /// 415 UNSUPPORTED_MEDIA_TYPE when the body is declared as anything but JSON in UTF-8
    /// (`application/json`, or `application/…+json`, with no charset or `utf-8`); a body without
    /// `Content-Type` is read as JSON.
    static func checkContentType(_ request: Request) throws(APIError) {
        for value in request.headers[values: .contentType] where !isJSON(value) {
            let shown = value.count > 100 ? String(value.prefix(100)) + "…" : value
            throw APIError(.unsupportedMediaType, "This route takes a JSON body: send Content-Type: application/json.",
                           details: .object(["contentType": .string(shown), "supported": .array(["application/json"])]))
        }
    }

    static func isJSON(_ contentType: String) -> Bool {
        let parts = contentType.split(separator: ";", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard let media = parts.first, media == "application/json" || (media.hasPrefix("application/") && media.hasSuffix("+json"))
        else { return false }
        for parameter in parts.dropFirst() where parameter.hasPrefix("charset=") {
            let charset = parameter.dropFirst("charset=".count).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            if charset != "utf-8" && charset != "utf8" { return false }
        }
        return true
    }

    /// 413 PAYLOAD_TOO_LARGE when the declared `Content-Length` is over 1 MiB (before reading).
    static func checkDeclaredLength(_ request: Request) throws(APIError) {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > SimulationLimits.maxBodyBytes {
            throw APIError(.payloadTooLarge, "Request body exceeds \(SimulationLimits.maxBodyBytes) bytes.",
                           details: .object(["limit": .number(Double(SimulationLimits.maxBodyBytes))]))
        }
    }

    /// The body read as JSON and parsed into a request type; its issues become VALIDATION_ERROR.
    static func body<T>(_ request: Request, _ parse: (JSONValue) throws(ValidationFailure) -> T) async throws -> T {
        let json = try await json(request)
        do {
            return try parse(json)
        } catch {
            throw APIError.validation(error.issues)
        }
    }

    /// Query parameters in order, percent-decoded.
    static func query(_ request: Request) -> [(name: String, value: String)] {
        guard let query = request.uri.query, !query.isEmpty else { return [] }
        return query.split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(parts[0]).removingPercentEncoding ?? String(parts[0])
            let value = parts.count > 1 ? (String(parts[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(parts[1])) : ""
            return (name, value)
        }
    }

    /// Whether the client asked for NDJSON.
    static func wantsNDJSON(_ request: Request) -> Bool {
        request.headers[values: .accept].contains { $0.lowercased().contains("application/x-ndjson") }
    }

    /// Refuses a query string on routes that take none.
    static func noQuery(_ request: Request) throws(APIError) {
        let parameters = query(request)
        if !parameters.isEmpty {
            throw APIError.validation(parameters.map { ValidationIssue(path: $0.name, message: "unknown query parameter") })
        }
    }
}

/// The router's routes by path template, to answer a known path with a method it does not
/// serve: 405 METHOD_NOT_ALLOWED with `Allow` (the router itself answers 404). Filled once,
/// when the router is built; matches as the router does (a literal segment before a capture).
final class RouteTable: Sendable {
    private struct Route: Sendable {
        /// nil: a capture (`{id}`, `:id`) or a wildcard.
        var segments: [String?]
        var methods: [HTTPRequest.Method]
    }

    private let routes = NIOLockedValueBox<[Route]>([])

    func load(_ list: [(path: String, method: HTTPRequest.Method)]) {
        var byPath: [String: Route] = [:]
        var order: [String] = []
        for (path, method) in list {
            if byPath[path] == nil {
                order.append(path)
                byPath[path] = Route(segments: path.split(separator: "/").map { segment in
                    segment.hasPrefix(":") || segment.hasPrefix("{") || segment.contains("*") ? nil : String(segment)
                },
                                     methods: [])
            }
            byPath[path]?.methods.append(method)
            // The router answers HEAD wherever it answers GET (`autoGenerateHeadEndpoints`).
            if method == .get { byPath[path]?.methods.append(.head) }
        }
        routes.withLockedValue { $0 = order.compactMap { byPath[$0] } }
    }

    /// The methods the router serves at `path` (empty: an unknown path).
    func allowed(_ path: String) -> [HTTPRequest.Method] {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        let candidates = routes.withLockedValue { $0 }.filter { route in
            route.segments.count == parts.count
                && zip(route.segments, parts).allSatisfy { segment, part in segment == nil || segment == part }
        }
        // The router prefers a literal segment to a capture, left to right.
        guard let best = candidates.max(by: { a, b in
            for (x, y) in zip(a.segments, b.segments) where (x == nil) != (y == nil) { return x == nil }
            return false
        }) else { return [] }
        let order: [HTTPRequest.Method] = [.get, .head, .post, .put, .patch, .delete, .options]
        return best.methods.sorted { (order.firstIndex(of: $0) ?? 99) < (order.firstIndex(of: $1) ?? 99) }
    }
}
