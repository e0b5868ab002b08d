import Hummingbird
import KairosAPI
import KairosEngine
import NIOConcurrencyHelpers
import NIOCore
import ServiceLifecycle

/// What the live parts of the server share: the event hub, playback, and the SSE stream
/// slots. `openEventStreams` and `playingSimulations` are cheap reads for `/metrics`.
public final class LiveServices: Sendable {
    let hub: SimulationEventHub
    let playback: PlaybackScheduler
    /// Where the engine's work runs (`EnginePool`).
    let engine: EnginePool
    let streams: StreamSlots
    let rateLimitMultiplier: Int
    /// On PostgreSQL: SSE slots are counted there, across every live replica.
    let cluster: ClusterCoordinator?
    /// The server's connections (the cap of `ConnectionLimits.maxConnections`).
    let connections = ConnectionCounter()

    /// Connections open right now, and the most held at once since the start.
    public var openConnections: Int { connections.current }
    public var peakConnections: Int { connections.highest }

    init(hub: SimulationEventHub, playback: PlaybackScheduler, engine: EnginePool, rateLimitMultiplier: Int,
         cluster: ClusterCoordinator? = nil) {
        self.engine = engine
        self.cluster = cluster
        self.hub = hub
        self.playback = playback
        streams = StreamSlots()
        self.rateLimitMultiplier = rateLimitMultiplier
    }

    /// SSE streams open right now (all identities).
    public var openEventStreams: Int { streams.open }

    /// Simulations this server is advancing in the background right now.
    public var playingSimulations: Int { playback.playingCount }
}

/// Concurrent SSE streams per identity (`Identity.subject`): the tier's `concurrentStreams`
/// × the server's rate-limit multiplier. A lease frees its slot once, when released or dropped.
final class StreamSlots: Sendable {
    private let counts = NIOLockedValueBox<[String: Int]>([:])

    var open: Int { counts.withLockedValue { $0.values.reduce(0, +) } }

    /// A slot for `subject`, or nil when it already holds `limit`.
    func acquire(_ subject: String, limit: Int) -> StreamLease? {
        let granted = counts.withLockedValue { counts -> Bool in
            let held = counts[subject] ?? 0
            guard held < limit else { return false }
            counts[subject] = held + 1
            return true
        }
        return granted ? StreamLease(slots: self, subject: subject) : nil
    }

    fileprivate func release(_ subject: String) {
        counts.withLockedValue { counts in
            let held = (counts[subject] ?? 1) - 1
            counts[subject] = held > 0 ? held : nil
        }
    }
}

final class StreamLease: Sendable {
    private let slots: StreamSlots
    private let subject: String
    private let released = NIOLockedValueBox(false)
    /// Gives back the cluster-wide slot too (PostgreSQL).
    private let releaseShared = NIOLockedValueBox<(@Sendable () -> Void)?>(nil)

    fileprivate init(slots: StreamSlots, subject: String) {
        self.slots = slots
        self.subject = subject
    }

    func alsoRelease(_ body: @escaping @Sendable () -> Void) { releaseShared.withLockedValue { $0 = body } }

    func release() {
        guard released.withLockedValue({ r in defer { r = true }; return !r }) else { return }
        slots.release(subject)
        releaseShared.withLockedValue { $0 }?()
    }

    deinit { release() }
}

/// Notices that the client went away — its end of the connection closed (`inputClosed`, the
/// server allows half-closure) or the connection dropped — while the stream is idle, so the
/// slot is freed at once rather than at the next failed write.
final class DisconnectWatcher: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = NIOAny
    private let signals: AsyncStream<EventSignal>.Continuation

    init(_ signals: AsyncStream<EventSignal>.Continuation) { self.signals = signals }

    func handlerAdded(context: ChannelHandlerContext) {
        if !context.channel.isActive { signals.yield(.closed) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed { signals.yield(.closed) }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        signals.yield(.closed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        signals.yield(.closed)
        context.fireErrorCaught(error)
    }
}

/// `GET /v1/simulations/{id}/events`: one SSE stream.
enum EventStream {
    static let lastEventIDHeader = HTTPFields.Element.Name("Last-Event-ID")!

    /// The position to resume after: the `Last-Event-ID` header (EventSource sends it on
    /// reconnects), else the `lastEventId` query parameter (a first connect from a browser,
    /// which cannot set headers). No other query parameter is accepted.
    static func resumePoint(_ request: Request) throws(APIError) -> SimulationEventID? {
        var fromQuery: String?
        var issues: [ValidationIssue] = []
        for (name, value) in RequestReading.query(request) {
            if name == "lastEventId" { fromQuery = value } else { issues.append(ValidationIssue(path: name, message: "unknown query parameter")) }
        }
        if !issues.isEmpty { throw APIError.validation(issues) }
        if let header = request.headers[lastEventIDHeader] {
            let trimmed = String(header.filter { $0 != " " })
            if trimmed.isEmpty { return fromQuery.flatMap(SimulationEventID.init) }
            guard let id = SimulationEventID(trimmed) else {
                throw APIError.validation(path: "Last-Event-ID", "must be an event id <tick>-<n> as sent in an event's id field")
            }
            return id
        }
        guard let fromQuery else { return nil }
        guard let id = SimulationEventID(fromQuery) else {
            throw APIError.validation(path: "lastEventId", "must be an event id <tick>-<n> as sent in an event's id field")
        }
        return id
    }

    static func response(simulationId: String, identity: Identity, resumeAfter: SimulationEventID?,
                         context: KairosRequestContext, live: LiveServices) async throws(APIError) -> Response {
        let limit = identity.tier.limits.concurrentStreams * live.rateLimitMultiplier
        let tooMany = APIError(.rateLimited, "Too many concurrent event streams: the \(identity.tier.rawValue) tier allows \(limit).",
                               details: .object(["limit": .number(Double(limit)), "scope": .string("concurrentStreams")]),
                               headers: [.retryAfter: "5"])
        guard let lease = live.streams.acquire(identity.subject, limit: limit) else { throw tooMany }
        if let cluster = live.cluster {
            let granted: Bool
            do {
                granted = try await cluster.acquireStream(identity.subject, limit: limit)
            } catch {
                lease.release()
                throw APIResponseMiddleware.apiError(for: error)
            }
            guard granted else {
                lease.release()
                throw tooMany
            }
            let subject = identity.subject
            lease.alsoRelease { Task { await cluster.releaseStream(subject) } }
        }
        var headers: HTTPFields = [:]
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        headers[HTTPFields.Element.Name("X-Accel-Buffering")!] = "no"
        let channel = context.channel
        let hub = live.hub
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            defer { lease.release() }
            try await stream(simulationId, after: resumeAfter, hub: hub, channel: channel, writer: &writer)
            try await writer.finish(nil)
        })
    }

    private static func stream(_ id: String, after: SimulationEventID?, hub: SimulationEventHub, channel: any Channel,
                               writer: inout any ResponseBodyWriter) async throws {
        let (signals, continuation) = AsyncStream.makeStream(of: EventSignal.self, bufferingPolicy: .bufferingNewest(8))
        let watcher = DisconnectWatcher(continuation)
        try? await channel.pipeline.addHandler(watcher, position: .first).get()
        let (events, token, liveCursor) = try await hub.subscribe(id, signals: continuation)
        do {
            var cursor = liveCursor
            if let after {
                if let buffered = await events.cursor(after: after) {
                    cursor = buffered
                } else {
                    cursor = try await replay(id, from: 0, after: after, hub: hub, writer: &writer)
                }
            }
            cursor = try await drain(id, events: events, cursor: cursor, hub: hub, writer: &writer)
            // A server shutting down ends its streams (clients reconnect with Last-Event-ID).
            try await withGracefulShutdownHandler {
                try await follow(id, events: events, cursor: cursor, hub: hub, signals: signals, writer: &writer)
            } onGracefulShutdown: {
                continuation.yield(.closed)
            }
        } catch {
            await finish(id, events: events, token: token, hub: hub, watcher: watcher, channel: channel)
            throw error
        }
        await finish(id, events: events, token: token, hub: hub, watcher: watcher, channel: channel)
    }

    private static func follow(_ id: String, events: SimulationEventChannel, cursor: EventCursor, hub: SimulationEventHub,
                               signals: AsyncStream<EventSignal>, writer: inout any ResponseBodyWriter) async throws {
        var cursor = cursor
        loop: for await signal in signals {
            switch signal {
            case .wake:
                cursor = try await drain(id, events: events, cursor: cursor, hub: hub, writer: &writer)
            case .heartbeat:
                try await writer.write(EventFrame.heartbeat)
            case .closed:
                break loop
            }
        }
    }

    private static func finish(_ id: String, events: SimulationEventChannel, token: Int, hub: SimulationEventHub,
                               watcher: DisconnectWatcher, channel: any Channel) async {
        await hub.unsubscribe(id, channel: events, token: token)
        try? await channel.pipeline.removeHandler(watcher).get()
    }

    /// Writes what the live buffer holds after `cursor`, replaying from the repository when
    /// the subscriber fell behind it.
    private static func drain(_ id: String, events: SimulationEventChannel, cursor: EventCursor, hub: SimulationEventHub,
                              writer: inout any ResponseBodyWriter) async throws -> EventCursor {
        var cursor = cursor
        while true {
            switch await events.read(after: cursor) {
            case .frames(let frames, let next):
                try await write(frames, writer: &writer)
                return next
            case .behind:
                cursor = try await replay(id, from: cursor.sequence, after: cursor.lastId, hub: hub, writer: &writer)
            }
        }
    }

    private static func replay(_ id: String, from sequence: Int, after: SimulationEventID?, hub: SimulationEventHub,
                               writer: inout any ResponseBodyWriter) async throws -> EventCursor {
        let (frames, next) = try await hub.durableFrames(id, fromSequence: sequence, after: after)
        try await write(frames, writer: &writer)
        return EventCursor(sequence: next, lastId: frames.last?.id ?? after)
    }

    private static func write(_ frames: [EventFrame], writer: inout any ResponseBodyWriter) async throws {
        guard !frames.isEmpty else { return }
        if frames.count == 1 { return try await writer.write(frames[0].bytes) }
        var buffer = ByteBuffer()
        buffer.reserveCapacity(frames.reduce(0) { $0 + $1.bytes.readableBytes })
        for frame in frames {
            var bytes = frame.bytes
            buffer.writeBuffer(&bytes)
        }
        try await writer.write(buffer)
    }
}
