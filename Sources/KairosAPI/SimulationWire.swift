import KairosEngine

/// Where a simulation is in its life (seed 003 `simulation:status`).
public enum SimulationStatus: String, Sendable, CaseIterable {
    /// Not advancing on its own; steps, decrees and policy changes apply.
    case paused
    /// Advancing in the background (PUT time-control `play`).
    case playing
    /// Reached `SimulationLimits.maxTicks`; it takes no more steps.
    case completed
}

/// Bounds the API puts on simulations.
public enum SimulationLimits {
    /// Ticks one step or run request may ask for.
    public static let maxTicksPerRequest = 10_000
    /// The most ticks a simulation holds; a simulation that reaches it is `completed`.
    public static let maxTicks = 100_000
    /// Ticks one streamed run (`GET /simulations/run/stream`, WebSocket) may have.
    public static let maxStreamTicks = 1_000_000
    public static let maxPageSize = 200
    public static let defaultPageSize = 50
    /// Request bodies above this are refused with 413.
    public static let maxBodyBytes = 1 << 20
}

/// Where a fork came from: the simulation it was forked from and the tick it was forked at
/// (the fork holds the original's ticks `0..<tick` and the decrees applied before `tick`).
public struct ForkOrigin: Sendable, Equatable, Hashable {
    public var simulationId: String
    public var tick: Int
    public init(simulationId: String, tick: Int) {
        self.simulationId = simulationId
        self.tick = tick
    }

    public var jsonValue: JSONValue {
        .object(["simulationId": .string(simulationId), "tick": .number(Double(tick))])
    }

    public init?(json: JSONValue?) {
        guard let json, let id = json["simulationId"]?.stringValue, let tick = json["tick"]?.numberValue else { return nil }
        self.init(simulationId: id, tick: Int(tick))
    }
}

/// A simulation as the API shows it: `{id, scenarioId, organizationId, engineVersion, status,
/// tick, createdAt, state}`, and `forkedFrom: {simulationId, tick}` on a fork; `state` is the
/// snapshot `{tick, stability, basin, phase, pressure, ceiling, agents}`.
public struct SimulationResource: Sendable, Equatable {
    public var id: String
    public var scenarioId: String?
    public var organizationId: String
    public var engineVersion: EngineVersion
    public var status: SimulationStatus
    public var tick: Int
    /// ISO 8601 UTC with milliseconds (`2025-06-15T10:30:00.000Z`).
    public var createdAt: String
    public var state: JSONValue
    /// Set on a simulation made by `POST /v1/simulations/{id}/fork`.
    public var forkedFrom: ForkOrigin?

    public init(id: String, scenarioId: String?, organizationId: String, engineVersion: EngineVersion,
                status: SimulationStatus, tick: Int, createdAt: String, state: JSONValue, forkedFrom: ForkOrigin? = nil) {
        self.id = id
        self.scenarioId = scenarioId
        self.organizationId = organizationId
        self.engineVersion = engineVersion
        self.status = status
        self.tick = tick
        self.createdAt = createdAt
        self.state = state
        self.forkedFrom = forkedFrom
    }

    public var jsonValue: JSONValue {
        var members: [JSONMember] = [
            JSONMember(key: "id", value: .string(id)), JSONMember(key: "scenarioId", value: scenarioId.map { .string($0) } ?? .null),
            JSONMember(key: "organizationId", value: .string(organizationId)),
            JSONMember(key: "engineVersion", value: .string(engineVersion.description)),
            JSONMember(key: "status", value: .string(status.rawValue)), JSONMember(key: "tick", value: .number(Double(tick))),
            JSONMember(key: "createdAt", value: .string(createdAt)), JSONMember(key: "state", value: state),
        ]
        if let forkedFrom { members.append(JSONMember(key: "forkedFrom", value: forkedFrom.jsonValue)) }
        return .object(members)
    }

    public init?(json: JSONValue) {
        guard let id = json["id"]?.stringValue, let org = json["organizationId"]?.stringValue,
              let version = json["engineVersion"]?.stringValue.flatMap(EngineVersion.init),
              let status = json["status"]?.stringValue.flatMap(SimulationStatus.init(rawValue:)),
              let tick = json["tick"]?.numberValue, let createdAt = json["createdAt"]?.stringValue,
              let state = json["state"] else { return nil }
        self.init(id: id, scenarioId: json["scenarioId"]?.stringValue, organizationId: org, engineVersion: version,
                  status: status, tick: Int(tick), createdAt: createdAt, state: state,
                  forkedFrom: ForkOrigin(json: json["forkedFrom"]))
    }
}

/// `GET /simulations`: `{data, pagination: {limit, offset, total}}`.
public struct SimulationPage: Sendable, Equatable {
    public var data: [SimulationResource]
    public var limit: Int
    public var offset: Int
    public var total: Int
    public init(data: [SimulationResource], limit: Int, offset: Int, total: Int) {
        self.data = data
        self.limit = limit
        self.offset = offset
        self.total = total
    }

    public init?(json: JSONValue) {
        guard let items = json["data"]?.arrayValue, let p = json["pagination"], let limit = p["limit"]?.integerValue,
              let offset = p["offset"]?.integerValue, let total = p["total"]?.integerValue else { return nil }
        var data: [SimulationResource] = []
        for item in items {
            guard let resource = SimulationResource(json: item) else { return nil }
            data.append(resource)
        }
        self.init(data: data, limit: limit, offset: offset, total: total)
    }

    public var jsonValue: JSONValue {
        .object([
            "data": .array(data.map(\.jsonValue)),
            "pagination": .object(["limit": .number(Double(limit)), "offset": .number(Double(offset)),
                                   "total": .number(Double(total))]),
        ])
    }
}

/// The query of `GET /simulations`.
public struct SimulationListQuery: Sendable, Equatable {
    public var limit = SimulationLimits.defaultPageSize
    public var offset = 0
    public var organizationId: String?
    public init(limit: Int = SimulationLimits.defaultPageSize, offset: Int = 0, organizationId: String? = nil) {
        self.limit = limit
        self.offset = offset
        self.organizationId = organizationId
    }

    /// Reads query parameters, one issue per bad or unknown parameter.
    public static func parse(_ parameters: [(name: String, value: String)]) throws(ValidationFailure) -> SimulationListQuery {
        var query = SimulationListQuery()
        var issues: [ValidationIssue] = []
        var seen: Set<String> = []
        for (name, value) in parameters {
            if !seen.insert(name).inserted {
                issues.append(ValidationIssue(path: name, message: "given more than once"))
                continue
            }
            switch name {
            case "limit":
                if let n = Int(value), (1 ... SimulationLimits.maxPageSize).contains(n) {
                    query.limit = n
                } else {
                    issues.append(ValidationIssue(path: "limit", message: "must be an integer between 1 and \(SimulationLimits.maxPageSize)"))
                }
            case "offset":
                if let n = Int(value), n >= 0 {
                    query.offset = n
                } else {
                    issues.append(ValidationIssue(path: "offset", message: "must be an integer of 0 or more"))
                }
            case "organizationId":
                if value.isEmpty {
                    issues.append(ValidationIssue(path: "organizationId", message: "must not be empty"))
                } else {
                    query.organizationId = value
                }
            default:
                let hint = closestName(to: name, in: ["limit", "offset", "organizationId"]).map { " (did you mean \"\($0)\"?)" } ?? ""
                issues.append(ValidationIssue(path: name, message: "unknown query parameter\(hint)"))
            }
        }
        if !issues.isEmpty { throw ValidationFailure(issues) }
        return query
    }
}

/// `POST /simulations/{id}/step`: `{ticks}` (1–10 000).
public struct StepRequest: Sendable, Equatable {
    public var ticks: Int
    public init(ticks: Int) { self.ticks = ticks }

    public static func parse(_ json: JSONValue) throws(ValidationFailure) -> StepRequest {
        let c = IssueCollector()
        var ticks: Int?
        if let o = c.object(json, at: "", allowed: ["ticks"]) {
            ticks = o.required("ticks").flatMap { c.integer($0, at: "ticks", in: 1 ... Double(SimulationLimits.maxTicksPerRequest)) }
        }
        guard let ticks, c.issues.isEmpty else { throw ValidationFailure(c.issues) }
        return StepRequest(ticks: ticks)
    }

    public var jsonValue: JSONValue { .object(["ticks": .number(Double(ticks))]) }
}

/// The answer to a step: the state after it, the ticks computed, and the next tick.
public struct StepResult: Sendable, Equatable {
    public var state: JSONValue
    public var ticks: Int
    public var tick: Int
    public init(state: JSONValue, ticks: Int, tick: Int) {
        self.state = state
        self.ticks = ticks
        self.tick = tick
    }

    public var jsonValue: JSONValue {
        .object(["state": state, "ticks": .number(Double(ticks)), "tick": .number(Double(tick))])
    }

    public init?(json: JSONValue) {
        guard let state = json["state"], let ticks = json["ticks"]?.integerValue, let tick = json["tick"]?.integerValue else {
            return nil
        }
        self.init(state: state, ticks: ticks, tick: tick)
    }
}

/// `PUT /simulations/{id}/agent-policy`: `{agentId, policy: {lambda?, gamma?}}`, queued as a
/// `policy` decree for the next tick.
public struct AgentPolicyRequest: Sendable, Equatable {
    public var agentId: String
    public var lambda: Double?
    public var gamma: Double?
    public init(agentId: String, lambda: Double? = nil, gamma: Double? = nil) {
        self.agentId = agentId
        self.lambda = lambda
        self.gamma = gamma
    }

    /// Validates against the simulation's agents.
    public static func parse(_ json: JSONValue, agentIDs: [String]) throws(ValidationFailure) -> AgentPolicyRequest {
        let c = IssueCollector()
        var request: AgentPolicyRequest?
        if let o = c.object(json, at: "", allowed: ["agentId", "policy"]) {
            let agentId = o.required("agentId").flatMap { c.string($0, at: "agentId") }
            if let agentId, !agentIDs.contains(agentId) {
                let hint = closestName(to: agentId, in: agentIDs).map { " (did you mean \"\($0)\"?)" } ?? ""
                c.add("agentId", "unknown agent \"\(agentId)\"\(hint)")
            }
            var lambda: Double?
            var gamma: Double?
            if let pv = o.required("policy"), let p = c.object(pv, at: "policy", allowed: ["lambda", "gamma"]) {
                if let v = p["lambda"] { lambda = c.number(v, at: "policy.lambda", in: 0 ... 1) }
                if let v = p["gamma"] { gamma = c.number(v, at: "policy.gamma", in: 0 ... 1) }
                if p["lambda"] == nil, p["gamma"] == nil { c.add("policy", "give lambda, gamma or both") }
            }
            if let agentId { request = AgentPolicyRequest(agentId: agentId, lambda: lambda, gamma: gamma) }
        }
        guard let request, c.issues.isEmpty else { throw ValidationFailure(c.issues) }
        return request
    }

    /// The decree this change is applied as.
    public var action: Action { Action(kind: .policy, target: agentId, lambda: lambda, gamma: gamma) }

    public var jsonValue: JSONValue {
        var policy: [JSONMember] = []
        if let lambda { policy.append(JSONMember(key: "lambda", value: .number(lambda))) }
        if let gamma { policy.append(JSONMember(key: "gamma", value: .number(gamma))) }
        return .object(["agentId": .string(agentId), "policy": .object(policy)])
    }
}

/// `PUT /simulations/{id}/time-control`: `{action: play|pause|step, speed?}` (speed 0.1–10).
public struct TimeControlRequest: Sendable, Equatable {
    public enum Action: String, Sendable, CaseIterable {
        case play, pause, step
    }

    public var action: Action
    public var speed: Double?
    public init(action: Action, speed: Double? = nil) {
        self.action = action
        self.speed = speed
    }

    public static func parse(_ json: JSONValue) throws(ValidationFailure) -> TimeControlRequest {
        let c = IssueCollector()
        var action: Action?
        var speed: Double?
        if let o = c.object(json, at: "", allowed: ["action", "speed"]) {
            if let text = o.required("action").flatMap({ c.string($0, at: "action") }) {
                action = Action(rawValue: text)
                if action == nil { c.add("action", "must be one of play, pause, step") }
            }
            if let v = o["speed"] { speed = c.number(v, at: "speed", in: 0.1 ... 10) }
        }
        guard let action, c.issues.isEmpty else { throw ValidationFailure(c.issues) }
        return TimeControlRequest(action: action, speed: speed)
    }
}

/// The answer to agent-policy and time-control: `{ok: true, status, tick}`.
public struct Acknowledgement: Sendable, Equatable {
    public var status: SimulationStatus
    /// For agent-policy, the tick the change applies at; otherwise the next tick to compute.
    public var tick: Int
    public init(status: SimulationStatus, tick: Int) {
        self.status = status
        self.tick = tick
    }

    public var jsonValue: JSONValue {
        .object(["ok": .bool(true), "status": .string(status.rawValue), "tick": .number(Double(tick))])
    }

    public init?(json: JSONValue) {
        guard json["ok"] == .bool(true), let status = json["status"]?.stringValue.flatMap(SimulationStatus.init(rawValue:)),
              let tick = json["tick"]?.integerValue else { return nil }
        self.init(status: status, tick: tick)
    }
}

/// A decree accepted by `POST /simulations/{id}/decrees`.
public struct DecreeRecord: Sendable, Equatable {
    public var id: String
    public var simulationId: String
    /// The tick it applies at.
    public var tick: Int
    public var decree: Action
    public init(id: String, simulationId: String, tick: Int, decree: Action) {
        self.id = id
        self.simulationId = simulationId
        self.tick = tick
        self.decree = decree
    }

    public var jsonValue: JSONValue {
        .object(["id": .string(id), "simulationId": .string(simulationId), "tick": .number(Double(tick)),
                 "decree": decree.jsonValue])
    }

    public init?(json: JSONValue) {
        guard let id = json["id"]?.stringValue, let simulationId = json["simulationId"]?.stringValue,
              let tick = json["tick"]?.integerValue, let decreeJSON = json["decree"],
              let decree = try? ScenarioValidator.validateDecree(decreeJSON, agentIDs: decreeJSON["target"]?.stringValue.map { [$0] } ?? [])
        else { return nil }
        self.init(id: id, simulationId: simulationId, tick: tick, decree: decree)
    }
}

/// How a prophecy turned out (API.md `GET /prophecies`).
public enum ProphecyResolution: String, Sendable, CaseIterable {
    /// It foresaw a loss and none came within its horizon (a paradox: heeding it averted it).
    case averted
    /// What it foresaw happened: the loss came, or it foresaw none and none came.
    case fulfilled
    /// Its horizon has not passed yet.
    case open
    /// It foresaw no loss, yet one came within its horizon.
    case refuted
}

/// One prophecy with its resolution.
public struct ProphecyRecord: Sendable, Equatable {
    public var prophecy: Prophecy
    public var resolution: ProphecyResolution
    /// The first loss within its horizon, if any.
    public var lossTick: Int?
    public init(prophecy: Prophecy, resolution: ProphecyResolution, lossTick: Int?) {
        self.prophecy = prophecy
        self.resolution = resolution
        self.lossTick = lossTick
    }

    public var jsonValue: JSONValue {
        guard case .object(var members) = prophecy.jsonValue else { return prophecy.jsonValue }
        members.append(JSONMember(key: "resolution", value: .string(resolution.rawValue)))
        members.append(JSONMember(key: "lossTick", value: lossTick.map { .number(Double($0)) } ?? .null))
        return .object(members)
    }

    public init?(json: JSONValue) {
        guard let prophecy = Prophecy(json: json),
              let resolution = json["resolution"]?.stringValue.flatMap(ProphecyResolution.init(rawValue:)) else { return nil }
        self.init(prophecy: prophecy, resolution: resolution, lossTick: json["lossTick"]?.integerValue)
    }

    /// Resolves `prophecy` given the ticks of every loss so far and the next tick to compute.
    public static func resolve(_ prophecy: Prophecy, lossTicks: [Int], nextTick: Int) -> ProphecyRecord {
        let end = prophecy.tick + prophecy.horizon
        let loss = lossTicks.first { $0 >= prophecy.tick && $0 <= end }
        let settled = nextTick > end
        let resolution: ProphecyResolution
        if prophecy.predictedLoss != nil {
            resolution = loss != nil ? .fulfilled : (settled ? .averted : .open)
        } else {
            resolution = loss != nil ? .refuted : (settled ? .fulfilled : .open)
        }
        return ProphecyRecord(prophecy: prophecy, resolution: resolution, lossTick: loss)
    }
}

/// `GET /health`.
public struct HealthStatus: Sendable, Equatable {
    public var status: String
    public var version: String
    /// Every engine version offered, oldest first.
    public var engineVersions: [EngineVersion]
    /// The version a request that names none runs on; nil from a server that does not say
    /// (servers before engine 1.1.0 offered only 1.0.0).
    public var defaultEngineVersion: EngineVersion?
    public var storage: String
    public init(status: String, version: String, engineVersions: [EngineVersion], defaultEngineVersion: EngineVersion? = nil,
                storage: String) {
        self.status = status
        self.version = version
        self.engineVersions = engineVersions
        self.defaultEngineVersion = defaultEngineVersion
        self.storage = storage
    }

    public init?(json: JSONValue) {
        guard let status = json["status"]?.stringValue, let version = json["version"]?.stringValue,
              let engines = json["engineVersions"]?.arrayValue, let storage = json["storage"]?.stringValue else { return nil }
        self.init(status: status, version: version, engineVersions: engines.compactMap { $0.stringValue.flatMap(EngineVersion.init) },
                  defaultEngineVersion: json["defaultEngineVersion"]?.stringValue.flatMap(EngineVersion.init), storage: storage)
    }

    public var jsonValue: JSONValue {
        var members = [JSONMember(key: "status", value: .string(status)), JSONMember(key: "version", value: .string(version)),
                       JSONMember(key: "engineVersions", value: .array(engineVersions.map { .string($0.description) }))]
        if let defaultEngineVersion {
            members.append(JSONMember(key: "defaultEngineVersion", value: .string(defaultEngineVersion.description)))
        }
        members.append(JSONMember(key: "storage", value: .string(storage)))
        return .object(members)
    }
}
