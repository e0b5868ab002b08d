import AsyncHTTPClient
import KairosAPI
import KairosEngine
import NIOHTTP1

/// A built-in catalog scenario (`GET /scenarios`).
public struct CatalogEntry: Sendable, Equatable {
    public var id: String
    public var title: String
    public var description: String
    public var defaultTicks: Int
    public var agents: [String]
    public var scenario: JSONValue

    public init?(json: JSONValue) {
        guard let id = json["id"]?.stringValue, let title = json["title"]?.stringValue,
              let description = json["description"]?.stringValue, let ticks = json["defaultTicks"]?.integerValue else { return nil }
        self.id = id
        self.title = title
        self.description = description
        defaultTicks = ticks
        agents = json["agents"]?.arrayValue?.compactMap(\.stringValue) ?? []
        scenario = json["scenario"] ?? .null
    }
}

/// `GET /organization`.
public struct OrganizationInfo: Sendable, Equatable {
    public var id: String
    public var tier: OrganizationTier
    public var limits: TierLimits

    public init?(json: JSONValue) {
        guard let id = json["id"]?.stringValue, let tier = json["tier"]?.stringValue.flatMap(OrganizationTier.init(rawValue:)),
              let l = json["limits"], let create = l["create"]?.integerValue, let step = l["step"]?.integerValue,
              let read = l["read"]?.integerValue, let streams = l["concurrentStreams"]?.integerValue else { return nil }
        self.id = id
        self.tier = tier
        limits = TierLimits(create: create, step: step, read: read, concurrentStreams: streams)
    }
}

/// The answer of `POST /simulations/run`: the new simulation's id and engine, and its trace.
public struct RunResult: Sendable, Equatable {
    public var simulationId: String
    public var engineVersion: EngineVersion
    public var trace: Trace
}

extension KairosClient {
    // MARK: Public routes

    /// `GET /health`: status, the engine versions offered, storage.
    public func health() async throws -> HealthStatus {
        try decode(try await json(Call(method: .GET, path: "/health")), "health status", HealthStatus.init(json:))
    }

    /// `GET /openapi.json`.
    public func openAPIDocument() async throws -> JSONValue {
        try await json(Call(method: .GET, path: "/openapi.json"))
    }

    /// `GET /docs`: the interactive reference page (HTML).
    public func referencePage() async throws -> String {
        String(decoding: try await send(Call(method: .GET, path: "/docs", accept: "text/html")).body, as: UTF8.self)
    }

    /// `GET /scenarios`.
    public func scenarios() async throws -> [CatalogEntry] {
        let json = try await json(Call(method: .GET, path: "/scenarios"))
        return try decodeList(json, "scenario list", CatalogEntry.init(json:))
    }

    /// `GET /scenarios/{id}`.
    public func scenario(id: String) async throws -> CatalogEntry {
        try decode(try await json(Call(method: .GET, path: "/scenarios/" + Self.percentEncode(id))), "scenario", CatalogEntry.init(json:))
    }

    // MARK: Simulations

    /// `POST /simulations` (catalog or native scenario) or `POST /simulations/from-domain`
    /// (domain input): a new paused simulation at tick 0.
    public func createSimulation(_ scenario: some ScenarioConvertible, organizationId: String? = nil) async throws
        -> SimulationResource
    {
        let source = scenario.scenarioSource
        let engine = engineVersion ?? source.compiledEngineVersion
        let body = source.body(ticks: nil, organizationId: organizationId, engineVersion: engine)
        try PreFlight.check(body, maxTicks: SimulationLimits.maxTicksPerRequest)
        let path = source.isDomain ? "/simulations/from-domain" : "/simulations"
        return try decode(try await json(Call(method: .POST, path: path, body: body, engine: engine)), "simulation",
                          SimulationResource.init(json:))
    }

    /// `POST /simulations/run`: creates and runs the scenario, returning the whole trace
    /// (the digest is checked against the steps).
    public func runSimulation(_ scenario: some ScenarioConvertible, ticks: Int? = nil, organizationId: String? = nil) async throws
        -> RunResult
    {
        let (body, engine) = try runRequest(scenario, ticks: ticks, organizationId: organizationId,
                                            maxTicks: SimulationLimits.maxTicksPerRequest)
        let answer = try await send(Call(method: .POST, path: "/simulations/run", body: body, engine: engine))
        let json = try answer.json()
        guard let id = json["simulationId"]?.stringValue, let version = json["engineVersion"]?.stringValue.flatMap(EngineVersion.init),
              let traceJSON = json["trace"] else {
            throw ConnectionError("the server's answer is not a run result", status: answer.status, requestId: answer.requestId)
        }
        let trace = try Self.checkedTrace(traceJSON, requestId: answer.requestId)
        return RunResult(simulationId: id, engineVersion: version, trace: trace)
    }

    /// `POST /simulations/run` with `Accept: application/x-ndjson`: the steps, one canonical
    /// line each, and their digest (checked against the `X-Trace-Digest` header).
    public func runSteps(_ scenario: some ScenarioConvertible, ticks: Int? = nil, organizationId: String? = nil) async throws
        -> (simulationId: String, steps: [TraceStep], digest: String)
    {
        let (body, engine) = try runRequest(scenario, ticks: ticks, organizationId: organizationId,
                                            maxTicks: SimulationLimits.maxTicksPerRequest)
        let answer = try await send(Call(method: .POST, path: "/simulations/run", body: body, accept: "application/x-ndjson", engine: engine))
        let (steps, digest) = try Self.ndjsonSteps(answer)
        if let header = answer.headers.first(name: "X-Trace-Digest"), header != digest {
            throw ConnectionError("the NDJSON body does not match X-Trace-Digest (\(header), computed \(digest))", requestId: answer.requestId)
        }
        return (answer.headers.first(name: "X-Simulation-Id") ?? "", steps, digest)
    }

    /// Runs a scenario to completion and returns its trace (seed 000 `client.run`).
    public func run(scenario: some ScenarioConvertible, ticks: Int? = nil, organizationId: String? = nil) async throws -> Trace {
        try await runSimulation(scenario, ticks: ticks, organizationId: organizationId).trace
    }

    /// The body of a run (POST /simulations/run, the run stream) and the engine it pins, checked
    /// before any request: ticks from the call, else the compiled scenario, else the catalog's.
    func runRequest(_ scenario: some ScenarioConvertible, ticks: Int?, organizationId: String?, maxTicks: Int) throws(ValidationError)
        -> (body: JSONValue, engine: String?)
    {
        let source = scenario.scenarioSource
        let engine = engineVersion ?? source.compiledEngineVersion
        guard let ticks = ticks ?? source.compiledTicks ?? Self.catalogTicks(source) else {
            throw ValidationError(issues: [ValidationIssue(path: "ticks", message: "is required")])
        }
        let body = source.body(ticks: ticks, organizationId: organizationId, engineVersion: engine)
        try PreFlight.check(body, maxTicks: maxTicks)
        return (body, engine)
    }

    static func catalogTicks(_ source: ScenarioSource) -> Int? {
        if case .catalog(let id) = source { return ScenarioCatalog.scenario(id: id)?.defaultTicks }
        return nil
    }

    /// A trace from JSON whose digest matches its steps.
    static func checkedTrace(_ json: JSONValue, requestId: String?) throws -> Trace {
        guard let trace = Trace(json: json) else {
            throw ConnectionError("the server's answer is not a valid trace", requestId: requestId)
        }
        let computed = trace.computedDigest()
        guard computed == trace.metadata.digest else {
            throw ConnectionError("the trace's steps do not match its digest (\(trace.metadata.digest), computed \(computed))",
                                  requestId: requestId)
        }
        return trace
    }

    /// `GET /simulations`.
    public func listSimulations(limit: Int = SimulationLimits.defaultPageSize, offset: Int = 0, organizationId: String? = nil)
        async throws -> SimulationPage
    {
        var query = [("limit", String(limit)), ("offset", String(offset))]
        if let organizationId { query.append(("organizationId", organizationId)) }
        return try decode(try await json(Call(method: .GET, path: "/simulations", query: query)), "simulation page",
                          SimulationPage.init(json:))
    }

    /// `GET /simulations/{id}`.
    public func simulation(id: String) async throws -> SimulationResource {
        try decode(try await json(Call(method: .GET, path: Self.simulationPath(id))), "simulation", SimulationResource.init(json:))
    }

    /// `POST /simulations/{id}/step` (1–10 000 ticks).
    public func step(simulationId: String, ticks: Int) async throws -> StepResult {
        guard (1 ... SimulationLimits.maxTicksPerRequest).contains(ticks) else {
            throw ValidationError(issues: [ValidationIssue(path: "ticks", message: "must be an integer between 1 and \(SimulationLimits.maxTicksPerRequest)")])
        }
        return try decode(try await json(Call(method: .POST, path: Self.simulationPath(simulationId) + "/step",
                                              body: StepRequest(ticks: ticks).jsonValue)), "step result", StepResult.init(json:))
    }

    /// `POST /simulations/{id}/fork`: a new simulation at the state of `simulationId` after
    /// tick `tick` − 1 (its steps before `tick`, the decrees and policy changes applied before
    /// `tick`), paused at `tick`, with `forkedFrom` set. 0 ≤ `tick` ≤ the simulation's tick.
    public func fork(simulationId: String, tick: Int) async throws -> SimulationResource {
        guard tick >= 0 else {
            throw ValidationError(issues: [ValidationIssue(path: "tick", message: "must be a whole number ≥ 0")])
        }
        return try decode(try await json(Call(method: .POST, path: Self.simulationPath(simulationId) + "/fork",
                                              body: .object(["tick": .number(Double(tick))]))), "simulation",
                          SimulationResource.init(json:))
    }

    /// `GET /simulations/{id}/trace` as JSON (the digest is checked against the steps).
    public func trace(simulationId: String) async throws -> Trace {
        let answer = try await send(Call(method: .GET, path: Self.simulationPath(simulationId) + "/trace"))
        return try Self.checkedTrace(try answer.json(), requestId: answer.requestId)
    }

    /// `GET /simulations/{id}/trace` as NDJSON: the steps (from tick `fromTick` on) and the
    /// digest of the body (the whole trace's digest when `fromTick` is 0).
    public func traceSteps(simulationId: String, fromTick: Int = 0) async throws -> (steps: [TraceStep], digest: String) {
        let answer = try await send(Call(method: .GET, path: Self.simulationPath(simulationId) + "/trace",
                                         query: fromTick > 0 ? [("fromTick", String(fromTick))] : [], accept: "application/x-ndjson"))
        return try Self.ndjsonSteps(answer)
    }

    /// The steps of an NDJSON body and the digest of its lines.
    static func ndjsonSteps(_ answer: Answer) throws -> (steps: [TraceStep], digest: String) {
        var steps: [TraceStep] = []
        var digest = TraceDigest()
        var start = 0
        let body = answer.body
        for i in body.indices where body[i] == UInt8(ascii: "\n") {
            let line = Array(body[start ..< i])
            start = i + 1
            digest.add(line: line)
            guard let json = try? JSONParser.parse(line), let step = TraceStep(json: json) else {
                throw ConnectionError("line \(steps.count + 1) of the NDJSON trace is not a step", requestId: answer.requestId)
            }
            steps.append(step)
        }
        return (steps, digest.finalize())
    }

    /// `PUT /simulations/{id}/agent-policy`: applies at the next tick computed.
    public func setAgentPolicy(simulationId: String, agentId: String, lambda: Double? = nil, gamma: Double? = nil) async throws
        -> Acknowledgement
    {
        let body = AgentPolicyRequest(agentId: agentId, lambda: lambda, gamma: gamma).jsonValue
        return try decode(try await json(Call(method: .PUT, path: Self.simulationPath(simulationId) + "/agent-policy", body: body)),
                          "acknowledgement", Acknowledgement.init(json:))
    }

    /// `PUT /simulations/{id}/time-control`: play (speed 0.1–10), pause or one step.
    public func timeControl(simulationId: String, action: TimeControlRequest.Action, speed: Double? = nil) async throws
        -> Acknowledgement
    {
        var members: [JSONMember] = [JSONMember(key: "action", value: .string(action.rawValue))]
        if let speed { members.append(JSONMember(key: "speed", value: .number(speed))) }
        return try decode(try await json(Call(method: .PUT, path: Self.simulationPath(simulationId) + "/time-control",
                                              body: .object(members))), "acknowledgement", Acknowledgement.init(json:))
    }

    /// `POST /simulations/{id}/decrees`: queues a decree for the next tick computed.
    public func submitDecree(simulationId: String, _ decree: Action) async throws -> DecreeRecord {
        let json = try await json(Call(method: .POST, path: Self.simulationPath(simulationId) + "/decrees", body: decree.jsonValue))
        return try decode(json, "decree", DecreeRecord.init(json:))
    }

    /// `GET /simulations/{id}/prophecies`.
    public func prophecies(simulationId: String) async throws -> [ProphecyRecord] {
        let json = try await json(Call(method: .GET, path: Self.simulationPath(simulationId) + "/prophecies"))
        return try decodeList(json, "prophecy list", ProphecyRecord.init(json:))
    }

    // MARK: Organization

    /// `GET /organization` (org:read).
    public func organization(id: String? = nil) async throws -> OrganizationInfo {
        let query = id.map { [("organizationId", $0)] } ?? []
        return try decode(try await json(Call(method: .GET, path: "/organization", query: query)), "organization",
                          OrganizationInfo.init(json:))
    }

    /// `GET /usage` (usage:read): simulations created, ticks computed and requests by route
    /// class, per day, as the server reports them.
    public func usage() async throws -> JSONValue {
        try await json(Call(method: .GET, path: "/usage"))
    }

    static func simulationPath(_ id: String) -> String { "/simulations/" + percentEncode(id) }
}
