import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import KairosAPI
import KairosEngine
import NIOConcurrencyHelpers
import NIOCore
import NIOWebSocket
import Logging

/// `GET /v1/simulations/run/stream` (WebSocket, simulation:write): the first client message is
/// a run request exactly as `POST /simulations/run` takes it (ticks 1…1 000 000), plus an
/// optional `stepsPerFrame` (1…1000, default 1). With 1 the server sends one text frame per
/// step (the canonical NDJSON line without its newline); with more, binary frames of up to that
/// many whole NDJSON lines, each with its newline (and at most `frameBytes` unless one line is
/// longer), so a frame's bytes are a piece of the NDJSON trace and the digest is the SHA-256 of
/// all step frames in order. A last text frame `{"done": true, "simulationId", "engineVersion",
/// "digest"}` (engineVersion: which ran) ends the run. The run is computed and stored in chunks
/// of `chunkTicks` (each chunk one logged step, as every other route stores them), and the
/// frames go out through a `FrameWindow` (at most the channel's low water mark, 32 KiB, not yet
/// taken by the socket), so the server holds one chunk and the window at a time however long
/// the run or slow the reader.
struct RunStreamController: Sendable {
    let repository: any SimulationRepository
    /// Where each chunk is computed, hashed and split into frames (`EnginePool`).
    let engine: EnginePool
    let now: @Sendable () -> Int64
    /// The version of a request that names none (`ServerEnvironment.defaultEngineVersion`).
    let defaultEngineVersion: EngineVersion
    /// The server pings every `pingPeriod` and closes a session whose pong has not come back
    /// by the next ping (30 s; `ServerConfiguration.webSocketPingSeconds`).
    var pingPeriod: Duration = .seconds(30)
    static var maxTicks: Int { SimulationLimits.maxStreamTicks }
    static var chunkTicks: Int { 1000 }
    /// Most steps one frame may hold (`stepsPerFrame`).
    static var maxStepsPerFrame: Int { 1000 }
    /// A multi-step frame ends after the line that brings it to this many bytes.
    static var frameBytes: Int { 1 << 18 }

    /// Frames go to the channel in batches of at most about this many bytes (one event-loop
    /// turn, one flush), and at most the channel's low water mark (32 KiB) of them are handed to
    /// it and not yet taken by the socket (`FrameWindow`).
    static var batchBytes: Int { 1 << 14 }

    /// The slowest reader a run stream serves: the stream runs at most a ping period's worth of
    /// it ahead of what the client has read (`creditBytes`), so the client's pong to the
    /// server's automatic ping comes back within the period as long as it reads this fast.
    static let minimumReadRate = 64 << 10

    static func creditBytes(pingPeriod: Duration) -> Int {
        let seconds = Double(pingPeriod.components.seconds) + Double(pingPeriod.components.attoseconds) / 1e18
        return max(minimumReadRate, Int(seconds * Double(minimumReadRate)))
    }

    /// The WebSocket context of a run stream.
    struct Context: WebSocketContext {
        let logger: Logger
        /// The connection, which the step frames are written to directly (`FrameWindow`).
        let channel: any Channel
    }

    static let path = "/v1/simulations/run/stream"

    /// Decides an upgrade request: a session for `GET /v1/simulations/run/stream` with a valid
    /// credential holding simulation:write; otherwise the API error to answer with (401, 403,
    /// 404), before any upgrade.
    /// Upgrades never pass the router's `RateLimitMiddleware`, so they are charged here to the
    /// same windows (class `create` per identity; failed credentials per address).
    func accept(_ head: HTTPRequest, channel: any Channel, authenticator: Authenticator, rateLimits: RateLimitCharger, remoteAddress: String?,
                logger: Logger) async -> WebSocketUpgradeChannel.Decision {
        let request = Request(head: head, body: RequestBody(buffer: ByteBuffer()))
        let requestId = request.headers[.requestID].flatMap(APIResponseMiddleware.acceptable) ?? "req_" + APIKeyMaterial.randomBase62(20)
        guard head.method == .get, request.uri.path == Self.path else {
            return .refuse(APIError(.notFound, "No WebSocket route here; the run stream is GET \(Self.path)."), requestId: requestId)
        }
        let routeClass = RouteClass.of(method: .get, path: Self.path)
        let time = rateLimits.now()
        let identity: Identity
        do {
            identity = try await authenticator.authenticate(request)
        } catch {
            return .refuse(rateLimits.refusingUnauthenticated(error, address: remoteAddress, routeClass, at: time), requestId: requestId)
        }
        let decision: SlidingWindowLimiter.Decision
        do {
            decision = try await rateLimits.admit(identity, routeClass, at: time)
        } catch {
            return .refuse(APIResponseMiddleware.apiError(for: error), requestId: requestId)
        }
        guard decision.allowed else { return .refuse(RateLimitCharger.refusal(decision), requestId: requestId) }
        guard identity.scopes.contains(.simulationWrite) else { return .refuse(.forbidden(missing: .simulationWrite), requestId: requestId) }
        var sessionLogger = logger
        sessionLogger[metadataKey: "request.id"] = .string(requestId)
        sessionLogger[metadataKey: "identity"] = .string(identity.subject)
        return .accept(WebSocketUpgradeChannel.session(context: Context(logger: sessionLogger, channel: channel), maxFrameSize: SimulationLimits.maxBodyBytes,
                                                              pingPeriod: pingPeriod) {
            inbound, outbound, context in
            try await run(inbound: inbound, outbound: outbound, channel: context.channel, identity: identity, requestId: requestId)
        })
    }

    /// Reads the inbound stream for the whole session in a child task — reading it is what takes
    /// in the client's pongs (the automatic pings close a session whose pongs go unread) and its
    /// close — and hands the first message, the run request, to `stream`. Later messages are ignored.
    private func run(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, channel: any Channel, identity: Identity,
                     requestId: String) async throws {
        let (firstMessage, delivery) = AsyncStream.makeStream(of: Result<WebSocketMessage?, any Error>.self)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                var messages = inbound.messages(maxSize: SimulationLimits.maxBodyBytes).makeAsyncIterator()
                do {
                    delivery.yield(.success(try await messages.next()))
                    delivery.finish()
                    while try await messages.next() != nil {}
                } catch {
                    delivery.yield(.failure(error))
                    delivery.finish()
                }
            }
            var first = firstMessage.makeAsyncIterator()
            try await stream(first: await first.next() ?? .success(nil), outbound: outbound, channel: channel, identity: identity,
                             requestId: requestId)
            try await group.waitForAll()
        }
    }

    private func stream(first received: Result<WebSocketMessage?, any Error>, outbound: WebSocketOutboundWriter,
                        channel: any Channel, identity: Identity, requestId: String) async throws {
        let first: WebSocketMessage?
        do {
            first = try received.get()
        } catch {
            return try await refuse(APIError(.payloadTooLarge, "The run request exceeds \(SimulationLimits.maxBodyBytes) bytes."),
                                    outbound: outbound, requestId: requestId, close: .messageTooLarge)
        }
        guard let first else { return }
        let bytes: [UInt8]
        switch first {
        case .text(let text): bytes = Array(text.utf8)
        case .binary(let buffer): bytes = Array(buffer.readableBytesView)
        }
        let request: ScenarioRequest
        let organizationId: String
        let ticks: Int
        let stepsPerFrame: Int
        do {
            var json: JSONValue
            do {
                json = try JSONParser.parse(bytes)
            } catch {
                throw APIError.malformedJSON(error)
            }
            (json, stepsPerFrame) = try Self.framing(json)
            (request, organizationId, ticks) = try CreationBody.parse(json, identity: identity, source: .run, maxTicks: Self.maxTicks)
            // Engine work only: the steps go out `chunkTicks` at a time (1 000 agents × 1 000
            // ticks is within the step-record budget), never held whole.
            try SimulationDriver.checkWork(request.scenario, ticks: ticks, path: request.scenarioId == nil ? "scenario.settings" : "scenarioId",
                                           output: false)
        } catch let error as APIError {
            return try await refuse(error, outbound: outbound, requestId: requestId, close: .policyViolation)
        }
        let start: SimulationChange
        do {
            let (id, version, time) = (UUID().uuidString.lowercased(), request.engineVersion ?? defaultEngineVersion, now())
            start = try await engine.compute {
                try SimulationDriver.start(id: id, organizationId: organizationId, request: request, version: version, ticks: 0, now: time)
            }
        } catch {
            let error = APIResponseMiddleware.apiError(for: error)
            return try await refuse(error, outbound: outbound, requestId: requestId, close: Self.closeCode(error))
        }
        try await repository.insert(start)
        let id = start.record.id
        var digest = TraceDigest()
        var done = 0
        // No more outstanding than the channel's low water mark: then the stream's own frames
        // never make the channel unwritable for long, and WSCore's pings — its NIOAsyncWriter
        // holds them while the channel is unwritable — go out behind at most that much.
        // (A window above the high water mark kept the channel unwritable for as long as the
        // reader was slow, the pings never left, and the session closed as a dead peer.)
        let waterMark = try await channel.getOption(ChannelOptions.writeBufferWaterMark).get()
        // And no more than `creditBytes` beyond what the client has read (`PongCredit`), so the
        // automatic pings are never queued behind more than a ping period's worth of a reader
        // at `minimumReadRate`: a slow reader is not taken for a dead one.
        let credit = try? await channel.eventLoop.submit {
            try channel.pipeline.syncOperations.handler(type: PongCreditObserver.self).ledger
        }.get()
        var window = FrameWindow(channel: channel, limit: max(waterMark.low, 1 << 12), credit: credit,
                                 creditBytes: Self.creditBytes(pingPeriod: pingPeriod), creditWait: pingPeriod * 2)
        do {
            while done < ticks {
                let count = min(Self.chunkTicks, ticks - done)
                let time = now()
                let engine = engine
                guard let segment = try await repository.update(id: id, { current in
                    let change = try await engine.compute { try SimulationDriver.advanceStreamed(current, ticks: count, now: time) }
                    return (change, change.segment)
                }), let segment else { throw APIError.simulationNotFound }
                // The chunk's lines, hashed and split with `memchr` on the engine pool; each
                // frame a slice of one copy of the chunk. The window, not the awaited write,
                // bounds how far the server runs ahead of a slow reader (`FrameWindow`).
                let (hashed, chunk, frames) = try await engine.compute { [digest] in
                    var hashed = digest
                    segment.lines.withUnsafeBytes { hashed.add(lines: $0) }
                    return (hashed, ByteBuffer(bytes: segment.lines), Self.frames(segment.lines, stepsPerFrame: stepsPerFrame))
                }
                digest = hashed
                var batch: [WebSocketFrame] = []
                var batchBytes = 0
                for frame in frames {
                    if stepsPerFrame == 1 {
                        // A text frame: the line without its newline.
                        batch.append(WebSocketFrame(fin: true, opcode: .text,
                                                    data: chunk.getSlice(at: frame.lowerBound, length: frame.count - 1)!))
                    } else {
                        batch.append(WebSocketFrame(fin: true, opcode: .binary, data: chunk.getSlice(at: frame.lowerBound, length: frame.count)!))
                    }
                    batchBytes += frame.count
                    if batchBytes >= min(Self.batchBytes, window.limit / 2) {
                        try await window.write(batch, bytes: batchBytes)
                        batch.removeAll(keepingCapacity: true)
                        batchBytes = 0
                    }
                }
                if !batch.isEmpty { try await window.write(batch, bytes: batchBytes) }
                done += count
            }
            // Every step frame is with the kernel before the last frame goes through WSCore's writer.
            try await window.drain()
            let time = now()
            _ = try await repository.update(id: id) { current in
                guard current.tick >= SimulationLimits.maxTicks else { return (SimulationChange(record: current), ()) }
                return (SimulationDriver.setStatus(.completed, speed: nil, record: current, now: time), ())
            }
        } catch let error as APIError {
            return try await refuse(error, outbound: outbound, requestId: requestId, close: Self.closeCode(error))
        }
        let doneFrame: JSONValue = .object(["done": .bool(true), "simulationId": .string(id),
                                            "engineVersion": .string(start.record.engineVersion.description),
                                            "digest": .string(digest.finalize())])
        try await outbound.write(.text(CanonicalJSON.string(doneFrame)))
        try await outbound.close(.normalClosure, reason: nil)
    }

    /// The request without its `stepsPerFrame` member, and that member (1 when absent).
    static func framing(_ json: JSONValue) throws(APIError) -> (JSONValue, Int) {
        guard case .object(var members) = json, let index = members.firstIndex(where: { $0.key == "stepsPerFrame" }) else {
            return (json, 1)
        }
        guard case .number(let n) = members[index].value, n == n.rounded(.towardZero), n >= 1,
              n <= Double(maxStepsPerFrame) else {
            throw APIError.validation([ValidationIssue(path: "stepsPerFrame",
                                                       message: "must be an integer from 1 to \(maxStepsPerFrame)")])
        }
        members.remove(at: index)
        return (.object(members), Int(n))
    }

    /// The byte ranges of the frames of a chunk of NDJSON lines: each holds whole lines with
    /// their newlines, at most `stepsPerFrame` of them and, past one line, at most `frameBytes`.
    static func frames(_ lines: [UInt8], stepsPerFrame: Int) -> [Range<Int>] {
        var frames: [Range<Int>] = []
        var start = 0
        var count = 0
        lines.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            var i = 0
            // memchr is vectorised: a line feed every ~700 bytes.
            while i < buffer.count, let found = memchr(base + i, 0x0A, buffer.count - i) {
                let lineFeed = UnsafeRawPointer(found).assumingMemoryBound(to: UInt8.self) - base
                count += 1
                if count == stepsPerFrame || lineFeed + 1 - start >= frameBytes {
                    frames.append(start ..< lineFeed + 1)
                    start = lineFeed + 1
                    count = 0
                }
                i = lineFeed + 1
            }
        }
        if start < lines.count { frames.append(start ..< lines.count) }
        return frames
    }

    /// The close code of a run refused with `error`.
    static func closeCode(_ error: APIError) -> WebSocketErrorCode {
        switch error.code {
        case .internalError: .unexpectedServerError
        case .serviceUnavailable: .goingAway
        default: .policyViolation
        }
    }

    /// One error frame (the API's envelope), then close.
    private func refuse(_ error: APIError, outbound: WebSocketOutboundWriter, requestId: String,
                        close code: WebSocketErrorCode) async throws {
        try await outbound.write(.text(String(decoding: error.envelopeJSON(requestId: requestId), as: UTF8.self)))
        try await outbound.close(code, reason: error.code.rawValue)
    }
}

/// Writes a run's step frames to the channel directly, a batch per event-loop turn with one
/// flush, and waits before a batch that would leave more than `limit` bytes handed to the
/// channel but not yet written to the socket.
///
/// Why not `WebSocketOutboundWriter.write`: its awaited write returns as soon as the frame is
/// queued for the event loop (NIOAsyncWriter hops with `eventLoop.execute` and suspends only once
/// the channel has reported itself unwritable). The channel's writability counts the bytes it
/// has been given (64 KiB high-water mark), not the frames still queued on the event loop, so
/// a producer faster than the event loop — a run's frames come ~1 µs apart — queues frames
/// there without bound while the channel still looks writable, ~0.9 KB a tick for one step a
/// frame. A write's promise completes only when its bytes are in the socket, so awaiting the
/// promises bounds both queues. Frames reach the same pipeline (WebSocketFrameEncoder) as
/// WSCore's; its pings and close may come between them, never inside one.
struct FrameWindow {
    let channel: any Channel
    let limit: Int
    /// Pongs of the credit pings (nil: no credit, only the channel window).
    let credit: PongCredit?
    let creditBytes: Int
    /// How long to wait for a credit pong before going on regardless: the credit paces a slow
    /// reader, it never stalls a session (a dead peer is the automatic ping's to find).
    let creditWait: Duration
    private var pending: [(bytes: Int, written: EventLoopFuture<Void>)] = []
    private var pendingBytes = 0
    /// Bytes of frames written so far, where each unanswered credit ping was sent, and how far
    /// the client has read (the offset of the last ping it answered).
    private var offset = 0
    private var marks: [(sequence: UInt64, offset: Int)] = []
    private var readOffset = 0
    private var nextSequence: UInt64 = 1

    init(channel: any Channel, limit: Int, credit: PongCredit? = nil, creditBytes: Int = .max, creditWait: Duration = .seconds(30)) {
        self.channel = channel
        self.limit = limit
        self.credit = credit
        self.creditBytes = creditBytes
        self.creditWait = creditWait
    }

    mutating func write(_ frames: [WebSocketFrame], bytes: Int) async throws {
        if let credit {
            // Wait for the client to read up to a ping, while it is more than `creditBytes` behind.
            while let mark = marks.first, offset + bytes - readOffset > creditBytes {
                try await credit.wait(for: mark.sequence, atMost: creditWait)
                readOffset = mark.offset
                marks.removeFirst()
            }
        }
        while !pending.isEmpty, pendingBytes + bytes > limit {
            let first = pending.removeFirst()
            try await first.written.get()
            pendingBytes -= first.bytes
        }
        offset += bytes
        // A credit ping after every half of the credit, behind the frames it follows.
        let ping: WebSocketFrame?
        if credit != nil, offset - (marks.last?.offset ?? readOffset) >= creditBytes / 2 {
            ping = WebSocketFrame(fin: true, opcode: .ping, data: PongCredit.payload(nextSequence))
            marks.append((nextSequence, offset))
            nextSequence += 1
        } else {
            ping = nil
        }
        let channel = channel
        let promise = channel.eventLoop.makePromise(of: Void.self)
        channel.eventLoop.execute {
            for frame in frames.dropLast() { channel.write(frame, promise: nil) }
            if let last = frames.last { channel.write(last, promise: promise) } else { promise.succeed() }
            if let ping { channel.write(ping, promise: nil) }
            channel.flush()
        }
        pending.append((bytes, promise.futureResult))
        pendingBytes += bytes
    }

    /// Waits until every frame written is with the kernel.
    mutating func drain() async throws {
        while !pending.isEmpty {
            let first = pending.removeFirst()
            try await first.written.get()
            pendingBytes -= first.bytes
        }
    }
}

/// How far the client has read a run stream: the server sends a ping with a sequence number
/// (`payload`) after every half credit of frames, and the client's pong (RFC 6455: same
/// payload, sent when the client's WebSocket reads that far) acknowledges it.
/// `PongCreditObserver` sees the pongs in the channel; the stream waits here.
final class PongCredit: Sendable {
    private struct State {
        var acknowledged: UInt64 = 0
        var closed = false
    }

    private let state = NIOLockedValueBox(State())

    static let prefix: [UInt8] = Array("kairos-credit:".utf8)

    static func payload(_ sequence: UInt64) -> ByteBuffer {
        var buffer = ByteBuffer(bytes: prefix)
        buffer.writeInteger(sequence)
        return buffer
    }

    /// The sequence number of a pong payload of ours.
    static func sequence(_ payload: ByteBuffer) -> UInt64? {
        guard payload.readableBytes == prefix.count + 8,
              payload.getBytes(at: payload.readerIndex, length: prefix.count) == prefix else { return nil }
        return payload.getInteger(at: payload.readerIndex + prefix.count, as: UInt64.self)
    }

    func acknowledge(_ sequence: UInt64) {
        state.withLockedValue { $0.acknowledged = max($0.acknowledged, sequence) }
    }

    /// The connection ended: nothing more will be acknowledged.
    func close() {
        state.withLockedValue { $0.closed = true }
    }

    /// Returns once ping `sequence` is acknowledged or `timeout` has passed; throws once the
    /// connection has ended. Polls every 2 ms (only while a reader is a credit behind).
    func wait(for sequence: UInt64, atMost timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        while true {
            let (acknowledged, closed) = state.withLockedValue { ($0.acknowledged >= sequence, $0.closed) }
            if acknowledged { return }
            if closed { throw ChannelError.ioOnClosedChannel }
            if ContinuousClock.now >= deadline { return }
            try await Task.sleep(for: .milliseconds(2))
        }
    }
}

/// In a WebSocket connection's pipeline, in front of the session: hands the pongs of credit
/// pings to `ledger` (and passes every frame on).
final class PongCreditObserver: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame

    let ledger = PongCredit()

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        if frame.opcode == .pong, let sequence = PongCredit.sequence(frame.unmaskedData) { ledger.acknowledge(sequence) }
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        ledger.close()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        ledger.close()
    }
}
