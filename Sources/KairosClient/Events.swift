import AsyncHTTPClient
import KairosAPI
import KairosEngine
import NIOCore

/// Reads a `text/event-stream` body (the WHATWG rules: `field: value` lines, `data` lines
/// joined by newlines, a blank line ends an event, `:` lines are comments, CRLF or LF).
public struct ServerSentEventParser: Sendable {
    public struct Event: Sendable, Equatable {
        public var id: String?
        public var event: String
        public var data: String
    }

    private var line: [UInt8] = []
    private var sawCR = false
    private var id: String?
    private var event = ""
    private var data: [String] = []

    public init() {}

    /// Feeds bytes; returns the events they complete.
    public mutating func feed(_ bytes: some Sequence<UInt8>) -> [Event] {
        var events: [Event] = []
        for b in bytes {
            if sawCR {
                sawCR = false
                if b == 0x0A { continue }
            }
            if b == 0x0A || b == 0x0D {
                sawCR = b == 0x0D
                if let e = endLine() { events.append(e) }
            } else {
                line.append(b)
            }
        }
        return events
    }

    private mutating func endLine() -> Event? {
        defer { line.removeAll(keepingCapacity: true) }
        if line.isEmpty {
            defer {
                event = ""
                data = []
            }
            guard !data.isEmpty || !event.isEmpty else { return nil }
            return Event(id: id, event: event.isEmpty ? "message" : event, data: data.joined(separator: "\n"))
        }
        if line.first == UInt8(ascii: ":") { return nil }
        let text = String(decoding: line, as: UTF8.self)
        let field: Substring
        var value: Substring
        if let colon = text.firstIndex(of: ":") {
            field = text[..<colon]
            value = text[text.index(after: colon)...]
            if value.first == " " { value = value.dropFirst() }
        } else {
            field = text[...]
            value = ""
        }
        switch field {
        case "id": if !value.contains("\0") { id = String(value) }
        case "event": event = String(value)
        case "data": data.append(String(value))
        default: break
        }
        return nil
    }
}

extension KairosClient {
    /// The live events of a simulation (`GET /simulations/{id}/events`, seed 003): those
    /// from now on, or — with `lastEventId` — every event after that id (the server replays
    /// them from the stored trace), then live ones. When the connection drops the client
    /// reconnects with `Last-Event-ID` set to the last event it delivered, so nothing is lost
    /// or repeated; reconnects back off like retries and give up after `maxRetries` failures
    /// in a row. Heartbeats are not delivered. The sequence ends after the
    /// `simulation:status` event saying `completed`, or when the task iterating it is
    /// cancelled (or breaks out of its loop).
    public func events(simulationId: String, lastEventId: String? = nil) -> AsyncThrowingStream<SimulationEvent, any Error> {
        let (stream, continuation) = AsyncThrowingStream<SimulationEvent, any Error>.makeStream(bufferingPolicy: .unbounded)
        let task = Task {
            do {
                try await self.pumpEvents(simulationId: simulationId, lastEventId: lastEventId) { event in
                    continuation.yield(event)
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    /// Reads events until the simulation completes, reconnecting as `events` says.
    func pumpEvents(simulationId: String, lastEventId: String?, deliver: (SimulationEvent) -> Void) async throws {
        var last = lastEventId
        var failures = 0
        let call = Call(method: .GET, path: Self.simulationPath(simulationId) + "/events", accept: "text/event-stream")
        while true {
            try Task.checkCancellation()
            var headers: [(String, String)] = [("Cache-Control", "no-cache")]
            if let last { headers.append(("Last-Event-ID", last)) }
            let response: HTTPClientResponse
            do {
                // No deadline on the stream itself: it is open as long as the simulation lives.
                response = try await http.execute(request(call, idempotencyKey: nil, extraHeaders: headers), timeout: .hours(24 * 365))
            } catch let error as CancellationError {
                throw error
            } catch {
                if Task.isCancelled { throw CancellationError() }
                guard failures < maxRetries else {
                    throw ConnectionError("GET \(url(call)): \(Self.describe(error))")
                }
                try await hooks.sleep(backoff(failures))
                failures += 1
                continue
            }
            let status = Int(response.status.code)
            guard status == 200 else {
                let body = (try? await response.body.collect(upTo: 1 << 20)).map { Array(buffer: $0) } ?? []
                let answer = Answer(status: status, headers: response.headers, body: body)
                if failures < maxRetries, let delay = retryDelay(answer, attempt: failures) {
                    try await hooks.sleep(delay)
                    failures += 1
                    continue
                }
                throw ErrorMapping.error(status: status, body: body, requestId: answer.requestId,
                                         retryAfter: Self.retryAfter(response.headers), requestedEngine: nil, idempotencyKey: nil)
            }
            var parser = ServerSentEventParser()
            do {
                for try await chunk in response.body {
                    for e in parser.feed(chunk.readableBytesView) {
                        guard let kind = SimulationEvent.Kind(rawValue: e.event) else { continue }
                        if let id = e.id, !id.isEmpty { last = id }
                        failures = 0
                        if kind == .heartbeat { continue }
                        let data = e.data.isEmpty ? nil : try? JSONParser.parse(e.data)
                        let event = SimulationEvent(id: e.id.flatMap(SimulationEventID.init), kind: kind, data: data)
                        deliver(event)
                        // The server keeps the stream open (heartbeats) after completion.
                        if kind == .status, data?["status"]?.stringValue == SimulationStatus.completed.rawValue { return }
                    }
                }
            } catch let error as CancellationError {
                throw error
            } catch {
                if Task.isCancelled { throw CancellationError() }
                // Dropped mid-stream: reconnect from the last event delivered.
            }
            guard failures < maxRetries else {
                throw ConnectionError("GET \(url(call)): the event stream keeps closing")
            }
            try await hooks.sleep(backoff(failures))
            failures += 1
        }
    }
}
