import Foundation
import Hummingbird
import KairosAPI
import KairosEngine

/// `/v1/simulations…` (seed 001 and API.md): every route authenticates (the group's
/// middleware), checks its scope, and — per simulation — answers another organization's
/// simulation with 401 exactly as a missing permission.
struct SimulationsController<Repository: SimulationRepository>: Sendable {
    let repository: Repository
    let live: LiveServices
    let now: @Sendable () -> Int64
    /// The version of a request that names none (`ServerEnvironment.defaultEngineVersion`).
    let defaultEngineVersion: EngineVersion
    /// Deterministic results of `/run`, reused by identical requests (see `RunMemo`).
    var runs = RunMemo()

    func addRoutes(to group: RouterGroup<KairosRequestContext>) {
        group.post("/", use: create)
        group.post("/from-domain", use: createFromDomain)
        group.post("/run", use: run)
        group.get("/", use: list)
        group.get("/:id", use: get)
        group.post("/:id/step", use: step)
        group.post("/:id/fork", use: fork)
        group.get("/:id/trace", use: trace)
        group.put("/:id/agent-policy", use: agentPolicy)
        group.put("/:id/time-control", use: timeControl)
        group.post("/:id/decrees", use: decree)
        group.get("/:id/prophecies", use: prophecies)
        group.get("/:id/events", use: events)
        group.get("/run/stream", use: runStreamWithoutUpgrade)
    }

    // MARK: Creating

    /// Reads and checks a create/run body; the organization it bills is resolved against the identity.
    private func parseCreation(_ request: Request, context: KairosRequestContext, source: CreationSource) async throws
        -> (ScenarioRequest, organizationId: String, ticks: Int)
    {
        let identity = try context.require(.simulationWrite)
        try RequestReading.noQuery(request)
        let json = try await RequestReading.json(request)
        return try CreationBody.parse(json, identity: identity, source: source)
    }

    /// Where the engine's work and the layout of large answers run (`EnginePool`, off the
    /// cooperative pool).
    private var engine: EnginePool { live.engine }

    private func insert(_ parsed: ScenarioRequest, organizationId: String, ticks: Int) async throws -> SimulationChange {
        let (id, version, time) = (UUID().uuidString.lowercased(), parsed.engineVersion ?? defaultEngineVersion, now())
        let change = try await engine.compute {
            try SimulationDriver.start(id: id, organizationId: organizationId, request: parsed, version: version, ticks: ticks, now: time)
        }
        try await repository.insert(change)
        return change
    }

    @Sendable func create(_ request: Request, context: KairosRequestContext) async throws -> Response {
        let (parsed, org, _) = try await parseCreation(request, context: context, source: .scenario)
        let change = try await insert(parsed, organizationId: org, ticks: 0)
        return try JSONResponse.make(Self.resource(change.record).jsonValue, status: .created)
    }

    @Sendable func createFromDomain(_ request: Request, context: KairosRequestContext) async throws -> Response {
        let (parsed, org, _) = try await parseCreation(request, context: context, source: .domain)
        let change = try await insert(parsed, organizationId: org, ticks: 0)
        return try JSONResponse.make(Self.resource(change.record).jsonValue, status: .created)
    }

    @Sendable func run(_ request: Request, context: KairosRequestContext) async throws -> Response {
        let (parsed, org, ticks) = try await parseCreation(request, context: context, source: .run)
        let (change, digest) = try await insertRun(parsed, organizationId: org, ticks: ticks)
        let segments = change.segment.map { [$0] } ?? []
        var headers: HTTPFields = [:]
        headers[.simulationID] = change.record.id
        let record = change.record
        if RequestReading.wantsNDJSON(request) {
            headers[.traceDigest] = digest
            let body = try await engine.compute { TraceDocument.ndjsonBuffer(segments) }
            return JSONResponse.buffer(body, contentType: "application/x-ndjson", headers: headers)
        }
        // Laid out once, from the stored lines, in the buffer NIO writes (no intermediate copies).
        let body = try await engine.compute { TraceDocument.runAnswer(record, segments: segments, digest: digest) }
        return JSONResponse.buffer(body, headers: headers)
    }

    /// Starts and computes a run, or takes what an identical earlier run computed (`RunMemo`):
    /// either way a new simulation is stored. Answers the change and its steps' digest.
    private func insertRun(_ parsed: ScenarioRequest, organizationId: String, ticks: Int) async throws
        -> (SimulationChange, String)
    {
        let key = RunMemo.Key(scenario: SimulationDriver.canonical(parsed.scenario.jsonValue),
                              version: parsed.engineVersion ?? defaultEngineVersion, ticks: ticks)
        let id = UUID().uuidString.lowercased()
        let time = now()
        if let entry = runs.lookup(key) {
            var change = entry.change
            change.record.id = id
            change.record.organizationId = organizationId
            change.record.scenarioId = parsed.scenarioId
            change.record.createdAt = time
            for i in change.log.indices { change.log[i].createdAt = time }
            try await repository.insert(change)
            return (change, entry.digest)
        }
        let (change, digest) = try await engine.compute {
            try SimulationDriver.startRun(id: id, organizationId: organizationId, request: parsed, scenarioJSON: key.scenario,
                                          version: key.version, ticks: ticks, now: time)
        }
        try await repository.insert(change)
        runs.remember(RunMemo.Entry(change: change, digest: digest), for: key)
        return (change, digest)
    }

    /// `POST /v1/simulations/{id}/fork` `{"tick": T}`: a new simulation in the same
    /// organization at the original's state after tick T − 1 (`SimulationDriver.fork`).
    @Sendable func fork(_ request: Request, context: KairosRequestContext) async throws -> Response {
        let identity = try context.require(.simulationWrite)
        try RequestReading.noQuery(request)
        let id = try Self.simulationId(context)
        let json = try await RequestReading.json(request)
        let tick = try ForkBody.parse(json)
        guard let original = try await repository.find(id: id) else { throw APIError.simulationNotFound }
        guard identity.belongs(to: original.organizationId) else { throw APIError.otherOrganization }
        let log = try await repository.log(simulationId: id, from: 0)
        let (forkId, time) = (UUID().uuidString.lowercased(), now())
        let change = try await engine.compute { try SimulationDriver.fork(original, log: log, at: tick, id: forkId, now: time) }
        try await repository.insert(change)
        return try JSONResponse.make(Self.resource(change.record).jsonValue, status: .created)
    }

    // MARK: Reading

    @Sendable func list(_ request: Request, context: KairosRequestContext) async throws -> Response {
        let identity = try context.require(.simulationRead)
        let query: SimulationListQuery
        do {
            query = try SimulationListQuery.parse(RequestReading.query(request))
        } catch {
            throw APIError.validation(error.issues)
        }
        var organizations = identity.organizationIds
        if let requested = query.organizationId { organizations = [try identity.organization(requested)] }
        let (records, total) = try await repository.list(organizationIds: organizations, limit: query.limit, offset: query.offset)
        let page = SimulationPage(data: try records.map(Self.resource), limit: query.limit, offset: query.offset, total: total)
        return JSONResponse.make(page.jsonValue)
    }

    /// The simulation named by the path, if the identity may see it.
    private func owned(_ request: Request, context: KairosRequestContext, scope: APIScope) async throws
        -> (Identity, SimulationRecord)
    {
        let identity = try context.require(scope)
        let id = try Self.simulationId(context)
        guard let record = try await repository.find(id: id) else { throw APIError.simulationNotFound }
        guard identity.belongs(to: record.organizationId) else { throw APIError.otherOrganization }
        return (identity, record)
    }

    static func simulationId(_ context: KairosRequestContext) throws(APIError) -> String {
        guard let id = context.parameters.get("id") else { throw APIError.simulationNotFound }
        return id
    }

    @Sendable func get(_ request: Request, context: KairosRequestContext) async throws -> Response {
        let (_, record) = try await owned(request, context: context, scope: .simulationRead)
        try RequestReading.noQuery(request)
        return try JSONResponse.make(Self.resource(record).jsonValue)
    }

    @Sendable func trace(_ request: Request, context: KairosRequestContext) async throws -> Response {
        let (_, record) = try await owned(request, context: context, scope: .simulationRead)
        let fromTick = try TraceQuery.fromTick(request, tick: record.tick)
        guard record.tick > 0 else {
            throw APIError(.notFound, "Trace not yet available: the simulation has computed no ticks.")
        }
        let segments = try await trace(of: record, fromTick: fromTick)
        var headers: HTTPFields = [:]
        headers[.simulationID] = record.id
        if RequestReading.wantsNDJSON(request) {
            // The stored lines copied once, into the buffer NIO sends (as `run` does).
            let (digest, body) = try await engine.compute { (TraceDocument.digest(segments), TraceDocument.ndjsonBuffer(segments)) }
            headers[.traceDigest] = digest
            return JSONResponse.buffer(body, contentType: "application/x-ndjson", headers: headers)
        }
        let body = try await engine.compute { TraceDocument.json(record, segments: segments) }
        return JSONResponse.bytes(body, headers: headers)
    }

    /// The trace as of `record` from tick `fromTick` on: stored segments, or the log replayed up
    /// to the record's entry.
    private func trace(of record: SimulationRecord, fromTick: Int = 0) async throws -> [TraceSegment] {
        if record.storesTrace {
            return try await repository.traceSegments(simulationId: record.id, fromTick: fromTick).compactMap { $0.from(tick: fromTick) }
        }
        let log = try await repository.log(simulationId: record.id, from: 0)
        let lines = try await engine.compute { try SimulationDriver.replay(record, log: log, fromTick: fromTick) }
        return [TraceSegment(firstTick: fromTick, tickCount: record.tick - fromTick, lines: lines)]
    }

    @Sendable func prophecies(_ request: Request, context: KairosRequestContext) async throws -> Response {
        let (_, record) = try await owned(request, context: context, scope: .simulationRead)
        try RequestReading.noQuery(request)
        let (list, losses) = try await repository.prophecies(simulationId: record.id)
        let records = list.map { ProphecyRecord.resolve($0, lossTicks: losses, nextTick: record.tick) }
        return JSONResponse.make(.object(["data": .array(records.map(\.jsonValue))]))
    }

    // MARK: Live

    /// `GET /simulations/{id}/events`: the SSE stream (seed 003).
    @Sendable func events(_ request: Request, context: KairosRequestContext) async throws -> Response {
        let (identity, record) = try await owned(request, context: context, scope: .simulationRead)
        let resumeAfter = try EventStream.resumePoint(request)
        return try await EventStream.response(simulationId: record.id, identity: identity, resumeAfter: resumeAfter,
                                        context: context, live: live)
    }

    /// `GET /simulations/run/stream` without a WebSocket upgrade (the upgrade is answered by
    /// the WebSocket router before this one; a failed upgrade's request also lands here, so
    /// authentication and scope errors come back as the usual envelope).
    @Sendable func runStreamWithoutUpgrade(_ request: Request, context: KairosRequestContext) async throws -> Response {
        _ = try context.require(.simulationWrite)
        throw APIError.validation(path: "", "this route is a WebSocket: connect with Upgrade: websocket and send a run request as the first message")
    }

    // MARK: Changing

    @Sendable func step(_ request: Request, context: KairosRequestContext) async throws -> Response {
        let (_, record) = try await owned(request, context: context, scope: .simulationWrite)
        try RequestReading.noQuery(request)
        let body = try await RequestReading.body(request, StepRequest.parse)
        let time = now()
        let engine = engine
        guard let updated = try await repository.update(id: record.id, { current in
            let change = try await engine.compute { try SimulationDriver.advance(current, ticks: body.ticks, now: time) }
            return (change, change.record)
        }) else { throw APIError.simulationNotFound }
        let result = StepResult(state: try Self.json(updated.state), ticks: body.ticks, tick: updated.tick)
        return JSONResponse.make(result.jsonValue)
    }

    @Sendable func decree(_ request: Request, context: KairosRequestContext) async throws -> Response {
        let decreeId = "dec_" + APIKeyMaterial.randomBase62(20)
        let record = try await queue(request, context: context, kind: .decree) { json, agentIDs throws(ValidationFailure) in
            let action = try ScenarioValidator.validateDecree(json, agentIDs: agentIDs)
            return (action, .object(["id": .string(decreeId), "decree": action.jsonValue]))
        }
        let decree = DecreeRecord(id: decreeId, simulationId: record.simulationId, tick: record.tick, decree: record.action)
        return JSONResponse.make(decree.jsonValue, status: .created)
    }

    @Sendable func agentPolicy(_ request: Request, context: KairosRequestContext) async throws -> Response {
        let record = try await queue(request, context: context, kind: .policy) { json, agentIDs throws(ValidationFailure) in
            let policy = try AgentPolicyRequest.parse(json, agentIDs: agentIDs)
            return (policy.action, .object(["agentId": .string(policy.agentId), "decree": policy.action.jsonValue]))
        }
        return JSONResponse.make(Acknowledgement(status: record.status, tick: record.tick).jsonValue)
    }

    /// What queuing a decree or policy change did.
    struct Queued: Sendable {
        var simulationId: String
        var action: Action
        var tick: Int
        var status: SimulationStatus
    }

    /// Reads a body that `parse` turns into an action (validated against the simulation's
    /// agents) and its log payload, and queues it for the next tick.
    private func queue(
        _ request: Request, context: KairosRequestContext, kind: SimulationLogEntry.Kind,
        parse: @escaping @Sendable (JSONValue, [String]) throws(ValidationFailure) -> (Action, JSONValue)
    ) async throws -> Queued {
        let (_, record) = try await owned(request, context: context, scope: .simulationWrite)
        try RequestReading.noQuery(request)
        let json = try await RequestReading.json(request)
        let time = now()
        guard let queued = try await repository.update(id: record.id, { current throws in
            let agentIDs = try SimulationDriver.scenario(of: current).agents.map(\.id)
            let (action, payload): (Action, JSONValue)
            do throws(ValidationFailure) {
                (action, payload) = try parse(json, agentIDs)
            } catch {
                throw APIError.validation(error.issues)
            }
            let (change, tick) = try SimulationDriver.queue(action, kind: kind, payload: payload, record: current, now: time)
            return (change, Queued(simulationId: current.id, action: action, tick: tick, status: change.record.status))
        }) else { throw APIError.simulationNotFound }
        return queued
    }

    @Sendable func timeControl(_ request: Request, context: KairosRequestContext) async throws -> Response {
        let (_, record) = try await owned(request, context: context, scope: .simulationWrite)
        try RequestReading.noQuery(request)
        let body = try await RequestReading.body(request, TimeControlRequest.parse)
        let time = now()
        let engine = engine
        guard let updated = try await repository.update(id: record.id, { current in
            switch body.action {
            case .play:
                if current.status == .completed { throw APIError.completed(current) }
                let change = SimulationDriver.setStatus(.playing, speed: body.speed, record: current, now: time)
                return (change, change.record)
            case .pause:
                let change = SimulationDriver.setStatus(current.status == .completed ? .completed : .paused, speed: body.speed,
                                                        record: current, now: time)
                return (change, change.record)
            case .step:
                var change = SimulationDriver.setStatus(.paused, speed: body.speed, record: current, now: time)
                let paused = change.record
                let stepped = try await engine.compute { try SimulationDriver.advance(paused, ticks: 1, now: time) }
                change.record = stepped.record
                change.log += stepped.log
                change.segment = stepped.segment
                change.prophecies = stepped.prophecies
                change.lossTicks = stepped.lossTicks
                return (change, change.record)
            }
        }) else { throw APIError.simulationNotFound }
        if updated.status == .playing { await live.playback.play(updated.id) }
        return JSONResponse.make(Acknowledgement(status: updated.status, tick: updated.tick).jsonValue)
    }

    // MARK: Shapes

    static func resource(_ record: SimulationRecord) throws -> SimulationResource {
        SimulationResource(id: record.id, scenarioId: record.scenarioId, organizationId: record.organizationId,
                           engineVersion: record.engineVersion, status: record.status, tick: record.tick,
                           createdAt: ServerTime.iso8601(milliseconds: record.createdAt), state: try json(record.state),
                           forkedFrom: record.forkedFrom)
    }

    static func json(_ bytes: [UInt8]) throws(APIError) -> JSONValue {
        do {
            return try JSONParser.parse(bytes)
        } catch {
            throw APIError.internal("stored JSON does not parse: \(error)")
        }
    }
}

/// What a create or run body may hold.
enum CreationSource {
    /// `POST /simulations`: `scenarioId` or `scenario`.
    case scenario
    /// `POST /simulations/from-domain`: `domain` and `input`.
    case domain
    /// `POST /simulations/run`: any of them, with `ticks`.
    case run
}

enum CreationBody {
    /// Checks a create/run body (also the first message of `/simulations/run/stream`, which
    /// allows up to `maxTicks` ticks).
    static func parse(_ json: JSONValue, identity: Identity, source: CreationSource,
                      maxTicks: Int = ScenarioRequest.maxTicks) throws(APIError)
        -> (ScenarioRequest, organizationId: String, ticks: Int)
    {
        var issues: [ValidationIssue] = []
        if case .object(let members) = json {
            let keys = members.map(\.key)
            switch source {
            case .scenario:
                if keys.contains("domain") { issues.append(.init(path: "domain", message: "use POST /v1/simulations/from-domain for domain input")) }
                if keys.contains("input") { issues.append(.init(path: "input", message: "use POST /v1/simulations/from-domain for domain input")) }
                if keys.contains("ticks") { issues.append(.init(path: "ticks", message: "unknown field; creating computes no ticks (use /step or /run)")) }
            case .domain:
                if keys.contains("scenarioId") { issues.append(.init(path: "scenarioId", message: "use POST /v1/simulations for a catalog scenario")) }
                if keys.contains("scenario") { issues.append(.init(path: "scenario", message: "use POST /v1/simulations for a native scenario")) }
                if keys.contains("ticks") { issues.append(.init(path: "ticks", message: "unknown field; creating computes no ticks (use /step or /run)")) }
                if !keys.contains("domain") { issues.append(.init(path: "domain", message: "is required")) }
            case .run:
                if !keys.contains("ticks") { issues.append(.init(path: "ticks", message: "is required")) }
            }
        }
        let parsed: ScenarioRequest
        do throws(ScenarioRequest.Failure) {
            parsed = try ScenarioRequest.parse(json, maxTicks: maxTicks)
        } catch {
            if case .invalid(let failure) = error {
                throw APIError.validation(issues + failure.issues.filter { i in !issues.contains { $0.path == i.path } })
            }
            if !issues.isEmpty { throw APIError.validation(issues) }
            throw APIError.from(error)
        }
        if !issues.isEmpty { throw APIError.validation(issues) }
        let organizationId = try identity.organization(parsed.organizationId)
        return (parsed, organizationId, parsed.ticks ?? 0)
    }
}

/// The body of `POST /v1/simulations/{id}/fork`: `{"tick": T}`, T a whole number ≥ 0 (checked
/// against the simulation's tick by `SimulationDriver.fork`).
enum ForkBody {
    static func parse(_ json: JSONValue) throws(APIError) -> Int {
        guard case .object(let members) = json else {
            throw APIError.validation(path: "", "the body must be a JSON object {\"tick\": T}")
        }
        for member in members where member.key != "tick" {
            throw APIError.validation(path: member.key, "unknown field; the body is {\"tick\": T}")
        }
        guard let value = json["tick"] else { throw APIError.validation(path: "tick", "is required") }
        guard let n = value.numberValue, n.rounded() == n, n >= 0, n <= Double(SimulationLimits.maxTicks) else {
            throw APIError.validation(path: "tick", "must be a whole number between 0 and \(SimulationLimits.maxTicks)")
        }
        return Int(n)
    }
}

/// `GET /simulations/{id}/trace?fromTick=T`: the steps from tick T on (0 ≤ T ≤ the simulation's
/// tick; T = tick gives no steps), so a client that has the first T steps reads only the new
/// ones. The NDJSON body's SHA-256 is still `X-Trace-Digest`; in JSON, `metadata.ticks` and
/// `metadata.digest` describe the steps returned.
enum TraceQuery {
    static func fromTick(_ request: Request, tick: Int) throws(APIError) -> Int {
        var fromTick = 0
        var issues: [ValidationIssue] = []
        for (name, value) in RequestReading.query(request) {
            guard name == "fromTick" else {
                issues.append(ValidationIssue(path: name, message: "unknown query parameter"))
                continue
            }
            guard let n = Int(value), n >= 0, n <= SimulationLimits.maxTicks else {
                issues.append(ValidationIssue(path: "fromTick", message: "must be a whole number between 0 and \(SimulationLimits.maxTicks)"))
                continue
            }
            guard n <= tick else {
                issues.append(ValidationIssue(path: "fromTick", message: "must be at most the simulation's current tick \(tick)"))
                continue
            }
            fromTick = n
        }
        if !issues.isEmpty { throw APIError.validation(issues) }
        return fromTick
    }
}
