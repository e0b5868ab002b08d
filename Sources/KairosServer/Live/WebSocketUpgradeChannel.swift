import HTTPTypes
import KairosAPI
import KairosEngine
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOWebSocket
@_spi(WSInternal) import WSCore

/// HTTP/1.1 with WebSocket upgrades on the same port, like HummingbirdWebSocket's
/// `HTTP1WebSocketUpgradeChannel`, with one difference: an upgrade request that is refused
/// (no or bad credential, missing scope, wrong path) is answered with the API's error
/// envelope (401/403/404, before any upgrade), rather than the bare 400 HummingbirdWebSocket
/// writes for every refused upgrade. (NIO's upgrade handler does not keep the request head of
/// an attempted upgrade, so a refused one cannot be handed to the HTTP router.)
struct WebSocketUpgradeChannel: ServerChildChannel, HTTPChannelHandler {
    /// Runs an accepted WebSocket connection.
    typealias Session = @Sendable (NIOAsyncChannel<WebSocketFrame, WebSocketFrame>, Logger) async -> Void

    /// What to do with an upgrade request.
    enum Decision: Sendable {
        case accept(Session)
        case refuse(APIError, requestId: String)
    }

    enum UpgradeResult: Sendable {
        case websocket(NIOAsyncChannel<WebSocketFrame, WebSocketFrame>, Session, Logger)
        case http(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
        case refused(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, APIError, requestId: String)
    }

    struct Value: ServerChildChannelValue {
        let upgradeResult: EventLoopFuture<UpgradeResult>
        let channel: any Channel
    }

    let responder: HTTPChannelHandler.Responder
    let accept: @Sendable (HTTPRequest, any Channel, Logger) async -> Decision
    let maxFrameSize: Int
    let limits: ConnectionLimits
    let connections: ConnectionCounter

    static func builder(maxFrameSize: Int, limits: ConnectionLimits, connections: ConnectionCounter,
                        accept: @escaping @Sendable (HTTPRequest, any Channel, Logger) async -> Decision)
        -> HTTPServerBuilder
    {
        HTTPServerBuilder { responder in
            WebSocketUpgradeChannel(responder: responder, accept: accept, maxFrameSize: maxFrameSize, limits: limits,
                                    connections: connections)
        }
    }

    /// A connection over `ConnectionLimits.maxConnections`, answered 503 by `ConnectionRefusal`.
    struct Refused: Error {}

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let accept = accept
        let limits = limits
        let connections = connections
        return channel.eventLoop.makeCompletedFuture {
            guard connections.admit(channel, limit: limits.maxConnections) else {
                try channel.pipeline.syncOperations.addHandler(ConnectionRefusal())
                return Value(upgradeResult: channel.eventLoop.makeFailedFuture(Refused()), channel: channel)
            }
            let chosen = NIOLockedValueBox<Decision?>(nil)
            let upgrader = NIOTypedWebSocketServerUpgrader<UpgradeResult>(
                maxFrameSize: maxFrameSize,
                shouldUpgrade: { channel, head in
                    // The request is read whole; deciding (authentication, limits) is the server's time.
                    (try? channel.pipeline.syncOperations.handler(type: HTTPRequestGuard.self))?.upgradeRequested()
                    let promise = channel.eventLoop.makePromise(of: HTTPHeaders?.self)
                    promise.completeWithTask {
                        let decision: Decision
                        if let request = try? HTTPRequest(head, secure: false, splitCookie: false) {
                            decision = await accept(request, channel, logger)
                        } else {
                            decision = .refuse(APIError.validation(path: "", "malformed upgrade request"), requestId: "req_" + APIKeyMaterial.randomBase62(20))
                        }
                        chosen.withLockedValue { $0 = decision }
                        guard case .accept = decision else { return nil }
                        return HTTPHeaders()
                    }
                    return promise.futureResult
                },
                upgradePipelineHandler: { channel, _ in
                    channel.eventLoop.makeCompletedFuture {
                        // A WebSocket has its pings instead of the HTTP guard's timeouts.
                        if let guardHandler = try? channel.pipeline.syncOperations.handler(type: HTTPRequestGuard.self) {
                            _ = channel.pipeline.syncOperations.removeHandler(guardHandler)
                        }
                        // Sees the pongs of a run stream's credit pings (`PongCredit`).
                        try channel.pipeline.syncOperations.addHandler(PongCreditObserver())
                        let asyncChannel = try NIOAsyncChannel<WebSocketFrame, WebSocketFrame>(
                            wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
                        guard case .accept(let session) = chosen.withLockedValue({ $0 }) else {
                            throw ChannelError.inappropriateOperationForState
                        }
                        return UpgradeResult.websocket(asyncChannel, session, logger)
                    }
                })
            let upgrades = NIOTypedHTTPServerUpgradeConfiguration(
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
                        // No idle timer here: HTTPRequestGuard keeps it, counting from when a
                        // response's last bytes are out (this one counts from the handler's end,
                        // and cut a slow reader's large body off mid-way).
                        try channel.pipeline.syncOperations.addHandler(HTTPConnectionStateHandler(idleTimeout: nil,
                                                                                                   logger: logger))
                        let http = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                            wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
                        if case .refuse(let error, let requestId) = chosen.withLockedValue({ $0 }) {
                            return UpgradeResult.refused(http, error, requestId: requestId)
                        }
                        return UpgradeResult.http(http)
                    }
                })
            var configuration = NIOUpgradableHTTPServerPipelineConfiguration<UpgradeResult>(upgradeConfiguration: upgrades)
            configuration.enablePipelining = false // NIOAsyncChannel pipelines HTTP
            configuration.enableErrorHandling = false // Hummingbird handles errors
            configuration.enableResponseHeaderValidation = false
            let result = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(configuration: configuration)
            // Behind the upgrade handler: sees the decoder's errors from the first byte on.
            try channel.pipeline.syncOperations.addHandler(HTTPRequestGuard(limits: limits, logger: logger))
            return Value(upgradeResult: result, channel: channel)
        }
    }

    func handle(value: Value, logger: Logger) async {
        do {
            // A future ignores cancellation: when the drain deadline cancels the server, a
            // connection whose request never came whole is closed, which fails the future.
            let channel = value.channel
            let upgradeResult = try await withTaskCancellationHandler {
                try await value.upgradeResult.get()
            } onCancel: {
                channel.close(promise: nil)
            }
            switch upgradeResult {
            case .http(let http1):
                await handleHTTP(asyncChannel: http1, logger: logger)
            case .websocket(let asyncChannel, let session, let logger):
                await session(asyncChannel, logger)
            case .refused(let http1, let error, let requestId):
                try await http1.executeThenClose { _, outbound in
                    let body = error.envelopeJSON(requestId: requestId)
                    var headers: HTTPFields = [.connection: "close", .contentType: "application/json",
                                               .contentLength: String(body.count)]
                    headers[.requestID] = requestId
                    for field in error.headers { headers[field.name] = field.value }  // Retry-After, X-RateLimit-*
                    try await outbound.write(contentsOf: [
                        .head(HTTPResponse(status: error.status, headerFields: headers)), .body(ByteBuffer(bytes: body)), .end(nil),
                    ])
                }
            }
        } catch is Refused {
            // ConnectionRefusal answers and closes.
        } catch {
            logger.debug("connection ended before a request", metadata: ["error": .string("\(error)")])
            value.channel.close(promise: nil)
        }
    }

    /// Runs `handler` on an accepted connection (server side, automatic pings every `pingPeriod`).
    static func session<Context: WebSocketContext>(context: Context, maxFrameSize: Int, pingPeriod: Duration = .seconds(30),
                                                   handler: @escaping WebSocketDataHandler<Context>) -> Session {
        { asyncChannel, logger in
            do {
                _ = try await WebSocketHandler.handle(
                    type: .server,
                    configuration: .init(extensions: [], autoPing: .enabled(timePeriod: pingPeriod), validateUTF8: false,
                                         maxFrameSize: maxFrameSize),
                    asyncChannel: asyncChannel, context: context, handler: handler)
            } catch {
                logger.debug("WebSocket session failed", metadata: ["error": .string("\(error)")])
            }
        }
    }
}
