import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import KairosAPI
import KairosEngine
import Logging
import NIOCore
import Synchronization

/// A small Kairos API on loopback that misbehaves on command: each request to a route
/// first takes the next fault queued for it (a status, a dropped connection after the work
/// was done …) and otherwise answers as the real server does, computing traces with the
/// real engine and keeping idempotency keys as API.md says. It records every request.
final class FaultServer: Sendable {
    enum Fault: Sendable {
        /// Answer this status with an envelope (and `Retry-After` when given).
        case status(Int, code: String, retryAfter: String? = nil)
        /// Do the work (and store it under the idempotency key), then drop the connection
        /// before the body is sent.
        case dropAfterProcessing
        /// SSE: send this many events, then drop the connection.
        case dropEventsAfter(Int)
        /// WebSocket: end with a wrong digest.
        case wrongDigest
    }

    struct Seen: Sendable {
        var method: String
        var path: String
        var idempotencyKey: String?
        var lastEventId: String?
    }

    struct State {
        var faults: [String: [Fault]] = [:]
        var seen: [Seen] = []
        /// Idempotency key → stored (status, body).
        var stored: [String: (Int, [UInt8])] = [:]
        /// Simulations actually created, by id.
        var created: [String] = []
        var framesSent = 0
        var refusedRequests = 0
        var runDelay: UInt64 = 0
        var holdRunsUntilInFlight = 0
        var runsInFlight = 0
        var maxRunsInFlight = 0
    }

    /// Makes every run take `milliseconds` longer (to observe concurrency).
    func delayRuns(milliseconds: UInt64) { state.withLock { $0.runDelay = milliseconds * 1_000_000 } }
    /// Holds every run until `count` runs have been in flight at once (or 5 s passed): a
    /// client that allows `count` concurrent runs reaches it however loaded the machine is.
    func holdRuns(untilInFlight count: Int) { state.withLock { $0.holdRunsUntilInFlight = count } }
    var maxRunsInFlight: Int { state.withLock { $0.maxRunsInFlight } }

    private let state = Mutex(State())
    private let task = Mutex<Task<Void, any Error>?>(nil)
    private let portState = Mutex(0)
    var port: Int { portState.withLock { $0 } }

    /// The events `GET /simulations/{id}/events` serves: the steps of this run, then
    /// `simulation:status` completed.
    let eventSteps: [TraceStep]

    init() async throws {
        let entry = ScenarioCatalog.scenario(id: "capability-divergence")!
        eventSteps = Array(Trace.run(entry.scenario, ticks: 40)!.steps)
        let portBox = Mutex<Int?>(nil)
        let router = Router()
        addRoutes(router)
        let app = Application(router: router, server: .http1WebSocketUpgrade { [self] head, _, _ in
                                  guard head.path == "/v1/simulations/run/stream" else { return .dontUpgrade }
                                  return .upgrade([:]) { inbound, outbound, _ in try await self.streamRun(inbound, outbound) }
                              },
                              configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { channel in portBox.withLock { $0 = channel.localAddress?.port } },
                              logger: Logger(label: "fault-server", factory: { _ in SwiftLogNoOpLogHandler() }))
        let running = Task { try await app.run() }
        task.withLock { $0 = running }
        var found: Int?
        for _ in 0 ..< 500 {
            found = portBox.withLock { $0 }
            if found != nil { break }
            try await Task.sleep(nanoseconds: 10_000_000)
        }
        guard let found else {
            running.cancel()
            throw CancellationError()
        }
        portState.withLock { $0 = found }
    }

    func stop() { task.withLock { $0?.cancel() } }

    var url: String { "http://127.0.0.1:\(port)" }

    func queue(_ route: String, _ faults: Fault...) { state.withLock { $0.faults[route, default: []] += faults } }
    var seen: [Seen] { state.withLock { $0.seen } }
    var created: [String] { state.withLock { $0.created } }

    private func next(_ route: String, _ request: Request) -> Fault? {
        take(route, Seen(method: request.method.rawValue, path: request.uri.path,
                         idempotencyKey: request.headers[HTTPField.Name("Idempotency-Key")!],
                         lastEventId: request.headers[HTTPField.Name("Last-Event-ID")!]))
    }

    /// Records `seen` and takes the next fault queued for `route`.
    private func take(_ route: String, _ seen: Seen) -> Fault? {
        state.withLock { s in
            s.seen.append(seen)
            guard var list = s.faults[route], !list.isEmpty else { return nil }
            let fault = list.removeFirst()
            s.faults[route] = list
            return fault
        }
    }

    static func envelope(_ status: Int, _ code: String, _ message: String, details: JSONValue = .null,
                         retryAfter: String? = nil) -> Response {
        let body = CanonicalJSON.string(.object(["error": .object(["code": .string(code), "message": .string(message),
                                                                    "details": details, "requestId": "req-fault"])]))
        var headers: HTTPFields = [.contentType: "application/json"]
        headers[HTTPField.Name("X-Request-Id")!] = "req-fault"
        if let retryAfter { headers[HTTPField.Name("Retry-After")!] = retryAfter }
        return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    struct Dropped: Error {}

    enum Parsed {
        case success(ScenarioRequest)
        case failure(Response)
    }

    /// Applies `fault`, or runs `work` (once per idempotency key) and answers its result.
    private func answer(_ fault: Fault?, _ request: Request, work: () throws -> (Int, [UInt8])) rethrows -> Response {
        if case .status(let status, let code, let retryAfter) = fault {
            return Self.envelope(status, code, "injected \(status)", retryAfter: retryAfter)
        }
        let key = request.headers[HTTPField.Name("Idempotency-Key")!]
        var replayed = false
        var result: (Int, [UInt8])
        if let key, let stored = state.withLock({ $0.stored[key] }) {
            result = stored
            replayed = true
        } else {
            result = try work()
            if let key { state.withLock { $0.stored[key] = result } }
        }
        var headers: HTTPFields = [.contentType: "application/json"]
        if replayed { headers[HTTPField.Name("Idempotency-Replayed")!] = "true" }
        if case .dropAfterProcessing = fault {
            // The work is done and stored; the client never sees the answer.
            return Response(status: .init(code: result.0), headers: headers, body: ResponseBody { _ in throw Dropped() })
        }
        return Response(status: .init(code: result.0), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: result.1)))
    }

    /// A route taking a scenario request: the injected fault, else a parse error, else `work`'s
    /// answer (stored under the request's Idempotency-Key).
    private func answerScenario(_ route: String, _ request: Request, work: (ScenarioRequest) throws -> (Int, [UInt8])) async throws
        -> Response
    {
        let fault = next(route, request)
        if case .status = fault { return answer(fault, request) { (0, []) } }
        switch try await parse(request) {
        case .failure(let response): return response
        case .success(let parsed): return try answer(fault, request) { try work(parsed) }
        }
    }

    private func parse(_ request: Request) async throws -> Parsed {
        let buffer = try await request.body.collect(upTo: 1 << 20)
        guard let json = try? JSONParser.parse(Array(buffer: buffer)) else {
            return .failure(Self.envelope(400, "VALIDATION_ERROR", "not JSON"))
        }
        do throws(ScenarioRequest.Failure) {
            return .success(try ScenarioRequest.parse(json))
        } catch {
            switch error {
            case .invalid(let f):
                return .failure(Self.envelope(400, "VALIDATION_ERROR", "invalid", details: APIErrorEnvelope.issuesDetails(f.issues)))
            case .unavailableEngine(let v):
                return .failure(Self.envelope(400, "ENGINE_VERSION_UNAVAILABLE", "Engine version \(v) is not available.",
                                              details: .object(["available": .array(EngineRegistry.available.map { .string($0.description) })])))
            default:
                return .failure(Self.envelope(404, "NOT_FOUND", "not found"))
            }
        }
    }

    /// Frames written by the WebSocket route so far.
    var framesSent: Int { state.withLock { $0.framesSent } }
    /// Stream requests refused as invalid (a `stepsPerFrame` this server predates).
    var refusedRequests: Int { state.withLock { $0.refusedRequests } }

    /// The WebSocket run route: a run request, one frame per step, the done frame.
    private func streamRun(_ inbound: WebSocketInboundStream, _ outbound: WebSocketOutboundWriter) async throws {
        var messages = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
        guard case .text(let text)? = try await messages.next() else { return }
        // A server from before issue 17: one step a frame, `stepsPerFrame` refused as an unknown
        // field (the client then asks again without it).
        let request: ScenarioRequest
        do throws(ScenarioRequest.Failure) {
            request = try ScenarioRequest.parse(try! JSONParser.parse(text), maxTicks: 1_000_000)
        } catch {
            guard case .invalid(let failure) = error else { return }
            state.withLock { $0.refusedRequests += 1 }
            let envelope = APIErrorEnvelope(code: .validationError, message: "invalid request",
                                            details: APIErrorEnvelope.issuesDetails(failure.issues), requestId: "req-ws")
            try await outbound.write(.text(CanonicalJSON.string(envelope.jsonValue)))
            try await outbound.close(.policyViolation, reason: nil)
            return
        }
        let fault = take("stream", Seen(method: "GET", path: "/v1/simulations/run/stream", idempotencyKey: nil, lastEventId: nil))
        if case .status(_, let code, _) = fault {
            let envelope = APIErrorEnvelope(code: APIErrorCode(rawValue: code) ?? .internalError, message: "injected",
                                            details: APIErrorEnvelope.issuesDetails([ValidationIssue(path: "ticks", message: "injected")]),
                                            requestId: "req-ws")
            try await outbound.write(.text(CanonicalJSON.string(envelope.jsonValue)))
            try await outbound.close(.policyViolation, reason: nil)
            return
        }
        let sim = EngineRegistry.start(request.scenario, version: request.engineVersion)!
        var digest = TraceDigest()
        var writer = CanonicalJSONWriter(capacity: 1024)
        for _ in 0 ..< (request.ticks ?? 1) {
            writer.reset()
            writer.step(sim.step())
            digest.add(line: writer.bytes)
            try await outbound.write(.text(String(decoding: writer.bytes, as: UTF8.self)))
            state.withLock { $0.framesSent += 1 }
        }
        var final = digest.finalize()
        if case .wrongDigest = fault { final = "sha256:" + String(repeating: "0", count: 64) }
        try await outbound.write(.text(CanonicalJSON.string(.object(["done": true, "simulationId": "ws-sim", "digest": .string(final)]))))
        try await outbound.close(.normalClosure, reason: nil)
    }

    private func addRoutes(_ router: Router<BasicRequestContext>) {
        router.get("/v1/health") { request, _ -> Response in
            if let fault = self.next("health", request), case .status(let s, let c, let r) = fault {
                return Self.envelope(s, c, "injected", retryAfter: r)
            }
            let body = CanonicalJSON.string(HealthStatus(status: "ok", version: "fault", engineVersions: EngineRegistry.available,
                                                         storage: "memory").jsonValue)
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
        }
        router.post("/v1/simulations") { request, _ -> Response in
            try await self.answerScenario("create", request) { parsed in
                let id = UUID().uuidString.lowercased()
                self.state.withLock { $0.created.append(id) }
                let sim = EngineRegistry.start(parsed.scenario, version: parsed.engineVersion)!
                let resource = SimulationResource(id: id, scenarioId: parsed.scenarioId, organizationId: "acme",
                                                  engineVersion: sim.engineVersion, status: .paused, tick: 0,
                                                  createdAt: "2026-01-01T00:00:00.000Z", state: sim.snapshot().jsonValue)
                return (201, Array(CanonicalJSON.string(resource.jsonValue).utf8))
            }
        }
        router.post("/v1/simulations/run") { request, _ -> Response in
            let delay = self.state.withLock { s in
                s.runsInFlight += 1
                s.maxRunsInFlight = max(s.maxRunsInFlight, s.runsInFlight)
                return s.runDelay
            }
            defer { self.state.withLock { $0.runsInFlight -= 1 } }
            let held = ContinuousClock.now
            while self.state.withLock({ $0.maxRunsInFlight < $0.holdRunsUntilInFlight }), ContinuousClock.now - held < .seconds(5) {
                try await Task.sleep(for: .milliseconds(5))
            }
            if delay > 0 { try await Task.sleep(nanoseconds: delay) }
            return try await self.answerScenario("run", request) { parsed in
                let id = UUID().uuidString.lowercased()
                self.state.withLock { $0.created.append(id) }
                let trace = Trace.run(parsed.scenario, ticks: parsed.ticks ?? 1, version: parsed.engineVersion)!
                let body: JSONValue = .object(["simulationId": .string(id), "engineVersion": .string(trace.metadata.engineVersion.description),
                                               "trace": trace.jsonValue])
                return (200, Array(CanonicalJSON.string(body).utf8))
            }
        }
        router.get("/v1/simulations/:id/events") { request, _ -> Response in
            let fault = self.next("events", request)
            if case .status(let s, let c, let r) = fault { return Self.envelope(s, c, "injected", retryAfter: r) }
            var events = self.eventSteps.flatMap { SimulationEvent.events(of: $0) }
            let lastTick = self.eventSteps.last!.tick
            events.append(SimulationEvent(id: SimulationEventID(tick: lastTick + 1, index: 0), kind: .status,
                                          data: .object(["status": "completed", "tick": .number(Double(lastTick + 1))])))
            if let last = request.headers[HTTPField.Name("Last-Event-ID")!].flatMap(SimulationEventID.init) {
                events = events.filter { $0.id! > last }
            }
            var limit = events.count
            if case .dropEventsAfter(let n) = fault { limit = min(n, events.count) }
            let chosen = Array(events.prefix(limit))
            let drop = limit < events.count
            return Response(status: .ok, headers: [.contentType: "text/event-stream"], body: ResponseBody { writer in
                // A heartbeat first, as a real server may send one at any time.
                try await writer.write(ByteBuffer(string: "event: heartbeat\ndata:\n\n"))
                for e in chosen { try await writer.write(ByteBuffer(string: e.serverSentEvent)) }
                if drop {
                    // Let the events reach the client before the connection goes.
                    try await Task.sleep(nanoseconds: 100_000_000)
                    throw Dropped()
                }
                try await writer.finish(nil)
            })
        }
    }
}
