import Crypto
import Foundation
import GRDB
import Hummingbird
import KairosAPI
import KairosEngine
import Logging
import NIOCore
import ServiceLifecycle

/// A response kept for an idempotency key: status, the headers that matter, and the body.
public struct StoredResponse: Sendable, Equatable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public static func == (a: StoredResponse, b: StoredResponse) -> Bool {
        a.status == b.status && a.body == b.body && a.headers.elementsEqual(b.headers) { $0.name == $1.name && $0.value == $1.value }
    }

    /// Headers a replay needs; the rest (request id, rate limits) belong to the new request.
    static let keptHeaders: [HTTPFields.Element.Name] = [.contentType, .location, .simulationID, .traceDigest]

    /// Headers as stored: `[[name, value], …]` in canonical JSON.
    var headersJSON: [UInt8] {
        var w = CanonicalJSONWriter(capacity: 128)
        w.value(.array(headers.map { .array([.string($0.name), .string($0.value)]) }))
        return w.bytes
    }

    static func headers(json bytes: [UInt8]) -> [(name: String, value: String)] {
        guard let parsed = try? JSONParser.parse(bytes), let list = parsed.arrayValue else { return [] }
        return list.compactMap { pair in
            guard let items = pair.arrayValue, items.count == 2, let n = items[0].stringValue, let v = items[1].stringValue else { return nil }
            return (n, v)
        }
    }

    var response: Response {
        var fields: HTTPFields = [:]
        for (name, value) in headers {
            if let field = HTTPFields.Element.Name(name) { fields[field] = value }
        }
        return Response(status: HTTPResponse.Status(code: status), headers: fields,
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// Collects a response's whole body (NDJSON included) and its kept headers.
    static func collect(_ response: Response) async throws -> StoredResponse {
        let sink = BodySink()
        try await response.body.write(CollectingBodyWriter(sink: sink))
        let headers = keptHeaders.compactMap { name in response.headers[name].map { (name.canonicalName, $0) } }
        return StoredResponse(status: Int(response.status.code), headers: headers, body: sink.bytes)
    }
}

private final class BodySink {
    var bytes: [UInt8] = []
}

private struct CollectingBodyWriter: ResponseBodyWriter {
    let sink: BodySink

    mutating func write(_ buffer: ByteBuffer) async throws { sink.bytes += buffer.readableBytesView }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
}

/// What an idempotency key names: identity, method, path and the client's key.
public struct IdempotencyScope: Sendable, Hashable {
    public var subject: String
    public var method: String
    public var path: String
    public var key: String

    public init(subject: String, method: String, path: String, key: String) {
        self.subject = subject
        self.method = method
        self.path = path
        self.key = key
    }
}

/// The outcome of presenting a key.
public enum IdempotencyClaim: Sendable, Equatable {
    /// No live record: this request now holds the key and executes.
    case claimed
    /// Same body, finished before: its response.
    case replay(StoredResponse)
    /// Same body, still executing.
    case inProgress
    /// A different body was sent with this key.
    case mismatch
}

/// Where idempotency records live: a table next to the simulations (SQLite) or memory.
public protocol IdempotencyStore: Sendable {
    /// Atomically: a record created after `liveAfter` answers replay / inProgress / mismatch;
    /// otherwise (none, or expired) the key is recorded in flight for `owner` and `.claimed`.
    func claim(_ scope: IdempotencyScope, fingerprint: [UInt8], owner: String, now: Int64,
               liveAfter: Int64) async throws -> IdempotencyClaim

    /// Stores the response of a claimed key.
    func complete(_ scope: IdempotencyScope, owner: String, response: StoredResponse) async throws

    /// Gives every record left in flight by another owner (a process that stopped mid-request)
    /// `response`; returns how many.
    func settleAbandoned(exceptOwner owner: String, response: StoredResponse) async throws -> Int

    /// Deletes records created at or before `time`.
    func removeExpired(createdAtOrBefore time: Int64) async throws
}

/// Idempotency records in memory (`.memory` storage and tests).
public actor InMemoryIdempotencyStore: IdempotencyStore {
    private struct Record {
        var fingerprint: [UInt8]
        var createdAt: Int64
        var owner: String
        var response: StoredResponse?
    }

    private var records: [IdempotencyScope: Record] = [:]

    public init() {}

    public func claim(_ scope: IdempotencyScope, fingerprint: [UInt8], owner: String, now: Int64,
                      liveAfter: Int64) -> IdempotencyClaim {
        if let record = records[scope], record.createdAt > liveAfter {
            guard record.fingerprint == fingerprint else { return .mismatch }
            return record.response.map { .replay($0) } ?? .inProgress
        }
        records[scope] = Record(fingerprint: fingerprint, createdAt: now, owner: owner)
        return .claimed
    }

    public func complete(_ scope: IdempotencyScope, owner: String, response: StoredResponse) {
        guard records[scope]?.owner == owner, records[scope]?.response == nil else { return }
        records[scope]?.response = response
    }

    public func settleAbandoned(exceptOwner owner: String, response: StoredResponse) -> Int {
        var count = 0
        for (scope, record) in records where record.response == nil && record.owner != owner {
            records[scope]?.response = response
            count += 1
        }
        return count
    }

    public func removeExpired(createdAtOrBefore time: Int64) {
        records = records.filter { $0.value.createdAt > time }
    }

    /// Records held (tests).
    public var count: Int { records.count }
}

/// Idempotency records in the `idempotency_key` table of the server's SQLite database, so a
/// replay survives a restart.
public struct SQLiteIdempotencyStore: IdempotencyStore {
    let database: KairosDatabase

    public init(database: KairosDatabase) { self.database = database }

    public func claim(_ scope: IdempotencyScope, fingerprint: [UInt8], owner: String, now: Int64,
                      liveAfter: Int64) async throws -> IdempotencyClaim {
        let arguments: StatementArguments = [scope.subject, scope.method, scope.path, scope.key]
        return try await database.writer.write { db in
            if let row = try Row.fetchOne(db, sql: """
                SELECT fingerprint, created_at, status, headers, body FROM idempotency_key
                WHERE scope = ? AND method = ? AND path = ? AND key = ?
                """, arguments: arguments) {
                let createdAt: Int64 = row["created_at"]
                if createdAt > liveAfter {
                    let stored: Data = row["fingerprint"]
                    guard [UInt8](stored) == fingerprint else { return .mismatch }
                    guard let status: Int = row["status"] else { return .inProgress }
                    let headers: Data = row["headers"] ?? Data()
                    let body: Data = row["body"] ?? Data()
                    return .replay(StoredResponse(status: status, headers: StoredResponse.headers(json: [UInt8](headers)),
                                                  body: [UInt8](body)))
                }
                try db.execute(sql: "DELETE FROM idempotency_key WHERE scope = ? AND method = ? AND path = ? AND key = ?",
                               arguments: arguments)
            }
            try db.execute(sql: """
                INSERT INTO idempotency_key (scope, method, path, key, fingerprint, created_at, owner) VALUES (?, ?, ?, ?, ?, ?, ?)
                """, arguments: arguments + [Data(fingerprint), now, owner])
            return .claimed
        }
    }

    public func complete(_ scope: IdempotencyScope, owner: String, response: StoredResponse) async throws {
        try await database.writer.write { db in
            try db.execute(sql: """
                UPDATE idempotency_key SET status = ?, headers = ?, body = ?
                WHERE scope = ? AND method = ? AND path = ? AND key = ? AND owner = ? AND status IS NULL
                """, arguments: [response.status, Data(response.headersJSON), Data(response.body),
                                 scope.subject, scope.method, scope.path, scope.key, owner])
        }
    }

    public func settleAbandoned(exceptOwner owner: String, response: StoredResponse) async throws -> Int {
        try await database.writer.write { db in
            try db.execute(sql: "UPDATE idempotency_key SET status = ?, headers = ?, body = ? WHERE status IS NULL AND owner != ?",
                           arguments: [response.status, Data(response.headersJSON), Data(response.body), owner])
            return db.changesCount
        }
    }

    public func removeExpired(createdAtOrBefore time: Int64) async throws {
        try await database.writer.write { db in
            try db.execute(sql: "DELETE FROM idempotency_key WHERE created_at <= ?", arguments: [time])
        }
    }
}

/// `Idempotency-Key` on POST (API.md "Idempotency"): scope identity + method + path, the body's
/// SHA-256 as its fingerprint. Same key and body → the stored status, kept headers and body
/// with `Idempotency-Replayed: true`; another body → 409 IDEMPOTENCY_KEY_REUSE; the first still
/// executing → 409 IDEMPOTENCY_REQUEST_IN_PROGRESS. Whatever the route answered once it began
/// executing (errors, 5xx included) is stored for 24 h. NDJSON bodies are stored whole and
/// replayed byte for byte.
struct IdempotencyMiddleware: RouterMiddleware {
    typealias Context = KairosRequestContext
    let store: any IdempotencyStore
    /// This process (a fresh id per application), so a restart can tell its own keys in flight from abandoned ones.
    let owner: String
    let now: @Sendable () -> Int64
    let logger: Logger

    static let lifetimeMilliseconds: Int64 = 24 * 3600 * 1000
    static let maxKeyLength = 255

    /// What a key left in flight by a stopped process answers from then on: its outcome is
    /// unknown (the simulation may or may not exist), so it is neither re-executed (which could
    /// create a second resource) nor left blocking; clients check and retry with a new key.
    static func abandoned(requestId: String) -> StoredResponse {
        let error = APIError(.internalError,
                             "The server stopped while the first request with this Idempotency-Key was executing; its outcome is unknown. "
                                 + "Check before retrying with a new key.")
        return StoredResponse(status: 500, headers: [("Content-Type", "application/json")], body: error.envelopeJSON(requestId: requestId))
    }

    /// 1–255 printable ASCII characters (space to tilde).
    static func isValidKey(_ key: String) -> Bool {
        !key.isEmpty && key.utf8.count <= maxKeyLength && key.utf8.allSatisfy { $0 >= 0x20 && $0 <= 0x7E }
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.method == .post else { return try await next(request, context) }
        let values = request.headers[values: .idempotencyKey]
        guard let key = values.first else { return try await next(request, context) }
        guard values.count == 1 else { throw APIError.validation(path: "Idempotency-Key", "send one Idempotency-Key header") }
        guard Self.isValidKey(key) else {
            throw APIError.validation(path: "Idempotency-Key", "must be 1–\(Self.maxKeyLength) printable ASCII characters")
        }
        // Every POST route is protected, so there is an identity to scope the key to; without
        // one (no such route) the request goes on to its 404/405.
        guard let identity = context.identity else { return try await next(request, context) }
        try RequestReading.checkDeclaredLength(request)
        var request = request
        let body = try await request.collectBody(upTo: SimulationLimits.maxBodyBytes)
        let fingerprint = Array(SHA256.hash(data: Array(body.readableBytesView)))
        let scope = IdempotencyScope(subject: identity.subject, method: request.method.rawValue, path: request.uri.path, key: key)
        let time = now()
        switch try await store.claim(scope, fingerprint: fingerprint, owner: owner, now: time,
                                     liveAfter: time - Self.lifetimeMilliseconds) {
        case .replay(let stored):
            var response = stored.response
            response.headers[.idempotencyReplayed] = "true"
            return response
        case .mismatch:
            throw APIError(.idempotencyKeyReuse,
                           "This Idempotency-Key was used with a different request body; use a new key for a new request.")
        case .inProgress:
            throw APIError(.idempotencyRequestInProgress, "A request with this Idempotency-Key is still executing; retry later.")
        case .claimed:
            break
        }
        let stored: StoredResponse
        do {
            stored = try await StoredResponse.collect(try await next(request, context))
        } catch {
            let apiError = APIResponseMiddleware.apiError(for: error)
            await complete(scope, try await StoredResponse.collect(APIResponseMiddleware.render(apiError, requestId: context.requestId)))
            throw apiError
        }
        await complete(scope, stored)
        return stored.response
    }

    /// Stores the outcome; should that fail, the client still gets its response and the key
    /// stays in flight until the next start settles it.
    private func complete(_ scope: IdempotencyScope, _ response: StoredResponse) async {
        do {
            try await store.complete(scope, owner: owner, response: response)
        } catch {
            logger.error("storing an idempotent response failed", metadata: ["error": .string("\(error)")])
        }
    }
}

/// Deletes expired idempotency records every `interval` while the server runs.
struct IdempotencyExpiryService: Service {
    let store: any IdempotencyStore
    let interval: Duration
    let now: @Sendable () -> Int64
    let logger: Logger

    func run() async throws {
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            do {
                try await store.removeExpired(createdAtOrBefore: now() - IdempotencyMiddleware.lifetimeMilliseconds)
            } catch {
                logger.error("removing expired idempotency keys failed", metadata: ["error": .string("\(error)")])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
