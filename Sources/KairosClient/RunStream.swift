import AsyncAlgorithms
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import HTTPTypes
import HummingbirdWSClient
import KairosAPI
import KairosEngine
import Logging
import NIOCore

/// The steps of one run, computed by the server as they are read
/// (`GET /simulations/run/stream`, a WebSocket): the client asks for `stepsPerFrame` steps a
/// frame (256; a server that predates it gets asked again for one step a frame) and reads
/// the next frame only when the steps before it have been taken, so memory stays flat however
/// many ticks (up to 1 000 000). The digest of the frames is checked against the server's last frame; a
/// mismatch, an error frame or a dropped connection ends the iteration with an error.
/// Dropping the iterator (or cancelling its task) closes the socket and stops the run.
public struct RunStream: AsyncSequence, Sendable {
    public typealias Element = TraceStep

    let client: KairosClient
    let body: JSONValue
    let engine: String?

    public func makeAsyncIterator() -> Iterator {
        Iterator(pump: RunStreamPump(client: client, body: body, engine: engine))
    }

    public struct Iterator: AsyncIteratorProtocol {
        let pump: RunStreamPump
        var inner: AsyncThrowingChannel<[TraceStep], any Error>.AsyncIterator
        var batch: [TraceStep] = []
        var position = 0

        init(pump: RunStreamPump) {
            self.pump = pump
            inner = pump.channel.makeAsyncIterator()
        }

        public mutating func next() async throws -> TraceStep? {
            while position == batch.count {
                guard let more = try await inner.next() else { return nil }
                batch = more
                position = 0
            }
            defer { position += 1 }
            return batch[position]
        }

        /// The steps not yet taken, as the socket handed them over (up to a frame's worth or
        /// so), without taking them one by one; empty once the stream has ended.
        public mutating func nextBatch() async throws -> [TraceStep] {
            if position < batch.count {
                let rest = position == 0 ? batch : Array(batch[position...])
                batch = []
                position = 0
                return rest
            }
            batch = []
            position = 0
            return try await inner.next() ?? []
        }

        /// The run's outcome once the iteration has ended: its simulation id and digest.
        public var completion: RunStreamCompletion? { pump.completion }
    }
}

/// The server's last frame: `{"done": true, "simulationId", "engineVersion", "digest"}`.
public struct RunStreamCompletion: Sendable, Equatable {
    public var simulationId: String
    public var digest: String
    /// The engine the server ran; nil from a server that does not say (before engine 1.1.0).
    public var engineVersion: EngineVersion?
    public init(simulationId: String, digest: String, engineVersion: EngineVersion? = nil) {
        self.simulationId = simulationId
        self.digest = digest
        self.engineVersion = engineVersion
    }
}

/// Runs the socket in a task feeding a rendezvous channel (batches of at most
/// `RunStreamPump.batchSize` steps, so the hand-over costs little per step and memory stays
/// bounded); cancels it when the iterator goes.
final class RunStreamPump: Sendable {
    static let batchSize = 128
    /// Steps the client asks for in one frame (the request's `stepsPerFrame`).
    static let stepsPerFrame = 256
    let channel = AsyncThrowingChannel<[TraceStep], any Error>()
    private let task: Task<Void, Never>
    private let result = LockedSlot<RunStreamCompletion>()

    init(client: KairosClient, body: JSONValue, engine: String?) {
        let channel = channel
        let result = result
        task = Task {
            do {
                let done = try await client.streamSocket(body: body, engine: engine) { steps in
                    await channel.send(steps)
                    try Task.checkCancellation()
                }
                result.set(done)
                channel.finish()
            } catch {
                channel.fail(error)
            }
        }
    }

    var completion: RunStreamCompletion? { result.value }

    deinit { task.cancel() }
}

import Synchronization

/// A value set once by the socket's handler and read after it returns.
final class LockedSlot<Value: Sendable>: Sendable {
    private let state = Mutex<Value?>(nil)
    func set(_ value: Value) { state.withLock { $0 = value } }
    var value: Value? { state.withLock { $0 } }
}

extension KairosClient {
    /// Most ticks one streamed run may have.
    public static let maxStreamTicks = SimulationLimits.maxStreamTicks

    /// Streams a run over the WebSocket route (seed 000 `stream_run`): one step per frame,
    /// memory flat for 10⁶ ticks. The scenario is checked before the socket opens.
    public func streamRun(scenario: some ScenarioConvertible, ticks: Int? = nil, organizationId: String? = nil) throws(ValidationError)
        -> RunStream
    {
        let (body, engine) = try runRequest(scenario, ticks: ticks, organizationId: organizationId, maxTicks: Self.maxStreamTicks)
        return RunStream(client: self, body: body, engine: engine)
    }

    var webSocketURL: String {
        var url = baseURL
        if url.hasPrefix("https://") { url = "wss://" + url.dropFirst("https://".count) } else if url.hasPrefix("http://") {
            url = "ws://" + url.dropFirst("http://".count)
        }
        return url + "/simulations/run/stream"
    }

    /// Opens the socket, sends the request, hands each step to `deliver`, and returns the
    /// last frame once the digest of the frames matches it. Asks for `stepsPerFrame` steps a
    /// frame; a server that refuses the field (before issue 17) is asked again without it.
    func streamSocket(body: JSONValue, engine: String?, stepsPerFrame: Int = RunStreamPump.stepsPerFrame,
                      deliver: @escaping @Sendable ([TraceStep]) async throws -> Void) async throws
        -> RunStreamCompletion
    {
        var request = body
        if stepsPerFrame > 1, case .object(var members) = body {
            members.append(JSONMember(key: "stepsPerFrame", value: .number(Double(stepsPerFrame))))
            request = .object(members)
        }
        do {
            return try await streamSocketOnce(body: request, engine: engine, deliver: deliver)
        } catch let error as ValidationError where stepsPerFrame > 1 && error.issues.contains(where: { $0.path == "stepsPerFrame" }) {
            return try await streamSocketOnce(body: body, engine: engine, deliver: deliver)
        }
    }

    private func streamSocketOnce(body: JSONValue, engine: String?, deliver: @escaping @Sendable ([TraceStep]) async throws -> Void)
        async throws -> RunStreamCompletion
    {
        var headers = HTTPFields()
        if let apiKey, let name = HTTPField.Name("X-Api-Key") { headers[name] = apiKey }
        if let token { headers[.authorization] = "Bearer " + token }
        headers[.userAgent] = "kairos-swift-client/\(KairosClientVersion.string)"
        let requestText = CanonicalJSON.string(body)
        let done = LockedSlot<RunStreamCompletion>()
        let failure = LockedSlot<any KairosError>()
        let url = webSocketURL
        do {
            try await WebSocketClient.connect(
                url: url,
                // Pings every 15 s: a server that stops answering mid-stream closes the socket
                // (and fails the run) instead of leaving it waiting forever.
                configuration: WebSocketClientConfiguration(maxFrameSize: 1 << 22, additionalHeaders: headers,
                                                            autoPing: .enabled(timePeriod: .seconds(15))),
                logger: Logger(label: "kairos-client", factory: { _ in SwiftLogNoOpLogHandler() })
            ) { inbound, outbound, _ in
                try await outbound.write(.text(requestText))
                var digest = TraceDigest()
                var count = 0
                var batch: [TraceStep] = []
                batch.reserveCapacity(RunStreamPump.batchSize)
                for try await message in inbound.messages(maxSize: 1 << 22) {
                    let text: String
                    switch message {
                    case .text(let t): text = t
                    case .binary(let buffer):
                        // Whole NDJSON lines, each with its newline: a piece of the trace.
                        let before = batch.count
                        let read = buffer.withUnsafeReadableBytes { raw -> Bool in
                            guard raw.last == 0x0A else { return false }
                            digest.add(lines: raw)
                            guard let base = raw.baseAddress else { return false }
                            var start = 0
                            // memchr is vectorised: a line feed every ~700 bytes.
                            while start < raw.count, let found = memchr(base + start, 0x0A, raw.count - start) {
                                let end = UnsafeRawPointer(found) - base
                                guard let step = TraceStep(canonicalLine: UnsafeRawBufferPointer(rebasing: raw[start ..< end])) else {
                                    return false
                                }
                                batch.append(step)
                                start = end + 1
                            }
                            return true
                        }
                        guard read else {
                            failure.set(ConnectionError("the frame after step \(count) of the stream is not whole NDJSON steps"))
                            return
                        }
                        count += batch.count - before
                        if batch.count >= RunStreamPump.batchSize {
                            try await deliver(batch)
                            batch.removeAll(keepingCapacity: true)
                        }
                        continue
                    }
                    let bytes = Array(text.utf8)
                    guard let json = try? JSONParser.parse(bytes) else {
                        failure.set(ConnectionError("frame \(count + 1) of the stream is not JSON"))
                        return
                    }
                    if json["error"] != nil {
                        failure.set(ErrorMapping.error(status: APIErrorEnvelope(json: json)?.code.httpStatus ?? 500, body: bytes,
                                                       requestId: nil, retryAfter: nil, requestedEngine: engine, idempotencyKey: nil))
                        return
                    }
                    if json["done"] == .bool(true) {
                        let id = json["simulationId"]?.stringValue ?? ""
                        let expected = json["digest"]?.stringValue ?? ""
                        let computed = digest.finalize()
                        guard computed == expected else {
                            failure.set(ConnectionError("the streamed steps do not match the server's digest (\(expected), computed \(computed))"))
                            return
                        }
                        if !batch.isEmpty { try await deliver(batch) }
                        done.set(RunStreamCompletion(simulationId: id, digest: expected,
                                                     engineVersion: json["engineVersion"]?.stringValue.flatMap(EngineVersion.init)))
                        try await outbound.close(.normalClosure, reason: nil)
                        return
                    }
                    guard let step = TraceStep(json: json) else {
                        failure.set(ConnectionError("frame \(count + 1) of the stream is not a step"))
                        return
                    }
                    digest.add(line: bytes)
                    count += 1
                    batch.append(step)
                    if batch.count == RunStreamPump.batchSize {
                        try await deliver(batch)
                        batch.removeAll(keepingCapacity: true)
                    }
                }
            }
        } catch let error as CancellationError {
            throw error
        } catch let error as WebSocketClientError where error == .webSocketUpgradeFailed {
            // The server answered with a status instead of upgrading: ask it again as plain
            // HTTP to learn why (401, 403, 404, 429 …).
            do {
                _ = try await send(Call(method: .GET, path: "/simulations/run/stream"))
            } catch let error as any KairosError where !(error is ConnectionError) {
                throw error
            } catch {}
            throw ConnectionError("GET \(url): the server refused the WebSocket upgrade")
        } catch let error as any KairosError {
            throw error
        } catch {
            if Task.isCancelled { throw CancellationError() }
            throw ConnectionError("\(url): \(Self.describe(error))")
        }
        if let error = failure.value { throw error }
        if Task.isCancelled { throw CancellationError() }
        guard let completion = done.value else { throw ConnectionError("\(url): the stream ended before its last frame") }
        return completion
    }
}
