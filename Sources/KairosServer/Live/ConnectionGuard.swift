import HTTPTypes
import KairosAPI
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// How long a connection may take and how many the server holds (`kairos serve --idle-timeout`,
/// `--read-timeout`, `--max-connections`).
public struct ConnectionLimits: Sendable, Equatable {
    /// A connection with no request in progress (and no bytes of one) is closed after this long:
    /// keep-alive idleness, and a connection that never sends anything.
    public var idleTimeout: Duration
    /// A request's head and body must arrive within this long of its first bytes, else 408 and
    /// close (slow heads and trickled bodies). A response being written (an SSE stream, a long
    /// run) is never timed out; WebSocket sessions have their pings instead.
    public var readTimeout: Duration
    /// Connections held at once; one more is answered 503 SERVICE_UNAVAILABLE (with
    /// `Retry-After`) and closed.
    public var maxConnections: Int

    public static let defaultIdleTimeout: Duration = .seconds(60)
    public static let defaultReadTimeout: Duration = .seconds(30)
    public static let defaultMaxConnections = 4096

    public init(idleTimeout: Duration = ConnectionLimits.defaultIdleTimeout,
                readTimeout: Duration = ConnectionLimits.defaultReadTimeout,
                maxConnections: Int = ConnectionLimits.defaultMaxConnections) {
        self.idleTimeout = idleTimeout
        self.readTimeout = readTimeout
        self.maxConnections = maxConnections
    }

    /// Connections accepted beyond `maxConnections` only to be refused; past them the server
    /// stops accepting (Hummingbird's `MaximumAvailableConnections`) and new ones wait in the
    /// listen backlog, so file descriptors stay bounded whatever the attacker does.
    var refusalSlots: Int { max(256, maxConnections / 4) }
}

/// Counts the connections of one server.
final class ConnectionCounter: Sendable {
    private let count = NIOLockedValueBox(0)
    private let peak = NIOLockedValueBox(0)

    /// Counts `channel` until it closes; false when the server already holds `limit`.
    func admit(_ channel: any Channel, limit: Int) -> Bool {
        let admitted = count.withLockedValue { n -> Bool in
            n += 1
            return n <= limit
        }
        if admitted { peak.withLockedValue { $0 = max($0, current) } }
        channel.closeFuture.whenComplete { [count] _ in count.withLockedValue { $0 -= 1 } }
        return admitted
    }

    var current: Int { count.withLockedValue { $0 } }
    var highest: Int { peak.withLockedValue { $0 } }
}

/// An HTTP/1.1 response with the API's error envelope, written outside the router (parse
/// errors, timeouts, refusals).
enum RawErrorResponse {
    static func head(_ error: APIError, requestId: String, bodyLength: Int) -> HTTPResponseHead {
        var headers = HTTPHeaders([("Content-Type", "application/json"), ("Content-Length", String(bodyLength)),
                                   ("Connection", "close"), ("X-Request-Id", requestId)])
        for field in error.headers { headers.add(name: field.name.rawName, value: field.value) }
        return HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: error.status.code), headers: headers)
    }

    /// The whole response as bytes (for a connection without an HTTP encoder).
    static func bytes(_ error: APIError) -> [UInt8] {
        let requestId = "req_" + APIKeyMaterial.randomBase62(20)
        let body = error.envelopeJSON(requestId: requestId)
        let head = Self.head(error, requestId: requestId, bodyLength: body.count)
        var text = "HTTP/1.1 \(head.status.code) \(head.status.reasonPhrase)\r\n"
        for (name, value) in head.headers { text += "\(name): \(value)\r\n" }
        return Array((text + "\r\n").utf8) + body
    }
}

/// Sits behind the HTTP/1.1 decoder of every connection (removed when it becomes a WebSocket):
///
/// - a request the parser refuses gets an answer in the API's envelope — 431 for a header
///   section over the decoder's limit, 501 for an unknown method, 400 for the rest (control
///   characters, a raw space in the path, a bad Content-Length, a TLS hello…) — and the
///   connection is closed;
/// - a connection idle for `idleTimeout` is closed; a request not read whole within
///   `readTimeout` of its first bytes gets 408 and the connection is closed. Nothing is timed
///   while a response is being written.
///
/// Closing half-closes first (FIN after the answer) and reads what the client still sends for a
/// moment, so the client sees the answer rather than a reset.
final class HTTPRequestGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let limits: ConnectionLimits
    private let logger: Logger
    /// A request head was read and its end not yet.
    private var requestOpen = false
    /// Requests read whose response has not ended: its end not yet written, or written and not
    /// yet handed to the kernel (a large body goes out long after the handler has returned).
    private var awaitingResponse = 0
    /// The server drains (SIGTERM): close as soon as nothing is under way.
    private var quiescing = false
    /// A response was written whole on this connection.
    private var answered = false
    /// A response head was written and its end not yet.
    private var responseOpen = false
    /// When the idle period began (no request in progress).
    private var idleSince = NIODeadline.now()
    /// When the first bytes of the request being read arrived.
    private var readingSince: NIODeadline?
    /// Whether the current read cycle delivered a request part.
    private var partInCycle = false
    private var closing = false
    /// An upgrade request is being decided (held by the upgrade handler, not forwarded): the
    /// server is working, nothing is timed.
    private var upgradePending = false
    private var timer: Scheduled<Void>?

    init(limits: ConnectionLimits, logger: Logger) {
        self.limits = limits
        self.logger = logger
    }

    private var tick: TimeAmount {
        let nanos = TimeAmount(min(limits.idleTimeout, limits.readTimeout)).nanoseconds
        return .nanoseconds(min(max(nanos / 4, 50_000_000), 5_000_000_000))
    }

    func handlerAdded(context: ChannelHandlerContext) {
        idleSince = .now()
        schedule(context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    private func schedule(_ context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: tick) {
            let (handler, context) = loopBound.value
            handler.timer = nil
            handler.check(context)
        }
    }

    /// Called (on the event loop) when a WebSocket upgrade request is being decided.
    func upgradeRequested() {
        upgradePending = true
        readingSince = nil
    }

    private func check(_ context: ChannelHandlerContext) {
        guard !closing, context.channel.isActive else { return }
        let now = NIODeadline.now()
        if upgradePending {
            // Waiting for the server's decision, not for the client.
        } else if let since = readingSince, requestOpen || awaitingResponse == 0 {
            if now - since >= TimeAmount(limits.readTimeout) {
                refuse(context, APIError(.requestTimeout, "The request did not arrive whole within \(limits.readTimeout)."))
                return
            }
        } else if awaitingResponse == 0, !requestOpen, now - idleSince >= TimeAmount(limits.idleTimeout) {
            logger.debug("closing an idle connection")
            closing = true
            context.close(promise: nil)
            return
        }
        schedule(context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        partInCycle = true
        switch unwrapInboundIn(data) {
        case .head:
            upgradePending = false  // refused: the upgrade handler forwards the request
            requestOpen = true
            awaitingResponse += 1
            if readingSince == nil { readingSince = .now() }
        case .body:
            break
        case .end:
            requestOpen = false
            readingSince = nil
        }
        context.fireChannelRead(data)
    }

    /// The server drains (SIGTERM): a connection with no request under way is closed at once —
    /// one a client opened and never used (browsers open spare ones) would otherwise hold the
    /// drain until its idle timeout. A request being read or answered is left to finish.
    /// A response under way — its last bytes included, which may still be queued long after the
    /// handler returned (a 168 MB run answer) — is left to finish, then the connection closes.
    /// The event stops here: Hummingbird's connection handler behind this one would close the
    /// connection as soon as the response's end was handed over, failing the bytes still queued
    /// (the client got a 200 with a cut body). An upgrade being decided passes it on as before.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ChannelShouldQuiesceEvent, !upgradePending else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        quiescing = true
        closeIfDrained(context)
    }

    private func closeIfDrained(_ context: ChannelHandlerContext) {
        // A request still open with every response out was answered before its body came whole
        // (413 for an oversize body): nothing more will be answered on it.
        guard quiescing, !closing, awaitingResponse == 0, requestOpen || readingSince == nil, !upgradePending else { return }
        closing = true
        timer?.cancel()
        timer = nil
        if answered {
            logger.debug("closing the connection: its last response is out and the server drains")
            Self.linger(context)
        } else {
            logger.debug("closing an unused connection: the server drains")
            context.close(promise: nil)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        // Bytes that made no request part: the start of a head (or the rest of a refused one).
        if !partInCycle, !requestOpen, readingSince == nil { readingSince = .now() }
        partInCycle = false
        context.fireChannelReadComplete()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head):
            if head.status.code >= 200 { responseOpen = true }
        case .body:
            break
        case .end:
            responseOpen = false
            // The response has ended once its last bytes are in the kernel: until then a drain
            // must not close the connection under it (the client would get a cut body).
            let written = promise ?? context.eventLoop.makePromise(of: Void.self)
            context.write(data, promise: written)
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            written.futureResult.whenComplete { _ in
                let (handler, context) = loopBound.value
                handler.answered = true
                handler.awaitingResponse = max(0, handler.awaitingResponse - 1)
                guard handler.awaitingResponse == 0 else { return }
                handler.idleSince = .now()
                handler.closeIfDrained(context)
            }
            return
        }
        context.write(data, promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parserError = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        guard !closing else { return }
        refuse(context, Self.apiError(for: parserError))
    }

    static func apiError(for error: HTTPParserError) -> APIError {
        switch error {
        case .headerOverflow:
            return APIError(.headersTooLarge, "The request's header section is too large.")
        case .invalidMethod:
            return APIError(.notImplemented, "Unknown request method.")
        case .invalidContentLength, .unexpectedContentLength:
            return APIError.validation(path: "Content-Length", "invalid Content-Length header")
        default:
            return APIError.validation(path: "", "malformed HTTP request: \(error.debugDescription)")
        }
    }

    /// Answers `error` (when no response is under way), then closes.
    private func refuse(_ context: ChannelHandlerContext, _ error: APIError) {
        closing = true
        timer?.cancel()
        timer = nil
        logger.debug("refusing a request", metadata: ["error.code": .string(error.code.rawValue)])
        guard !responseOpen else {
            context.close(promise: nil)
            return
        }
        let requestId = "req_" + APIKeyMaterial.randomBase62(20)
        let body = error.envelopeJSON(requestId: requestId)
        context.write(wrapOutboundOut(.head(RawErrorResponse.head(error, requestId: requestId, bodyLength: body.count))),
                      promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil)
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: written)
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        written.futureResult.whenComplete { _ in
            Self.linger(loopBound.value)
        }
    }

    /// FIN after the answer, then a full close a moment later (what the client still sends is
    /// dropped meanwhile), so the answer is not lost to a reset.
    static func linger(_ context: ChannelHandlerContext) {
        let channel = context.channel
        channel.close(mode: .output, promise: nil)
        channel.eventLoop.scheduleTask(in: .seconds(1)) { channel.close(promise: nil) }
    }
}

/// The only handler of a connection over `maxConnections`: answers 503 at once, then closes.
final class ConnectionRefusal: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    static let retryAfterSeconds = 1

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { refuse(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        refuse(context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    private var refused = false

    private func refuse(_ context: ChannelHandlerContext) {
        guard !refused else { return }
        refused = true
        var headers: HTTPFields = [:]
        headers[.retryAfter] = String(Self.retryAfterSeconds)
        let error = APIError(.serviceUnavailable, "The server holds as many connections as it may; retry shortly.",
                             headers: headers)
        let channel = context.channel
        channel.writeAndFlush(ByteBuffer(bytes: RawErrorResponse.bytes(error))).whenComplete { _ in
            channel.close(mode: .output, promise: nil)
            channel.eventLoop.scheduleTask(in: .seconds(1)) { channel.close(promise: nil) }
        }
    }
}
