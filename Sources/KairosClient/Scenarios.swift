import KairosAPI
import KairosEngine

/// What a simulation is made from: a catalog scenario by id, a native scenario, an
/// `ai-safety` domain input, or a compiled request (a line of `kairos compile`).
public enum ScenarioSource: Sendable, Equatable {
    case catalog(String)
    case native(Scenario)
    case domain(AISafetyInput)
    /// A run request as `kairos compile` prints it: `{"domain": "ai-safety", "input": …,
    /// "ticks": N}` or `{"scenario": …, "ticks": N}` (also `{"scenarioId": …}`); its `ticks`
    /// and `engineVersion` are the defaults of calls that give none.
    case compiled(JSONValue)

    /// Reads one line of `kairos compile` output (or any run request body).
    public init(compiled text: String) throws(ValidationError) {
        let json: JSONValue
        do {
            json = try JSONParser.parse(text)
        } catch {
            throw ValidationError(issues: [ValidationIssue(path: "", message: "not JSON: \(error)")])
        }
        guard json["scenarioId"] != nil || json["scenario"] != nil || json["domain"] != nil else {
            throw ValidationError(issues: [ValidationIssue(path: "", message: "provide exactly one of scenarioId, scenario, or domain with input")])
        }
        self = .compiled(json)
    }

    /// The members naming the scenario (no ticks, engine or organization).
    var sourceMembers: [JSONMember] {
        switch self {
        case .catalog(let id): [JSONMember(key: "scenarioId", value: .string(id))]
        case .native(let s): [JSONMember(key: "scenario", value: s.jsonValue)]
        case .domain(let input): [JSONMember(key: "domain", value: "ai-safety"), JSONMember(key: "input", value: input.jsonValue)]
        case .compiled(let json):
            (json.objectMembers ?? []).filter { !["ticks", "engineVersion", "organizationId"].contains($0.key) }
        }
    }

    /// True for domain inputs, which are created through `POST /simulations/from-domain`.
    var isDomain: Bool {
        switch self {
        case .domain: true
        case .compiled(let json): json["domain"] != nil
        case .catalog, .native: false
        }
    }

    /// The compiled request's own ticks, if it has them.
    var compiledTicks: Int? {
        if case .compiled(let json) = self { return json["ticks"]?.integerValue }
        return nil
    }

    var compiledEngineVersion: String? {
        if case .compiled(let json) = self { return json["engineVersion"]?.stringValue }
        return nil
    }

    /// The request body for a run (`ticks` given) or a create (`ticks` nil).
    func body(ticks: Int?, organizationId: String?, engineVersion: String?) -> JSONValue {
        var members = sourceMembers
        if let ticks { members.append(JSONMember(key: "ticks", value: .number(Double(ticks)))) }
        if let organizationId { members.append(JSONMember(key: "organizationId", value: .string(organizationId))) }
        if let engineVersion { members.append(JSONMember(key: "engineVersion", value: .string(engineVersion))) }
        return .object(members)
    }
}

/// Anything the client can run: `ScenarioSource`, `Scenario`, `AISafetyInput`, `AISafetyScenario`.
public protocol ScenarioConvertible: Sendable {
    var scenarioSource: ScenarioSource { get }
}

extension ScenarioSource: ScenarioConvertible {
    public var scenarioSource: ScenarioSource { self }
}

extension Scenario: ScenarioConvertible {
    public var scenarioSource: ScenarioSource { .native(self) }
}

extension AISafetyInput: ScenarioConvertible {
    public var scenarioSource: ScenarioSource { .domain(self) }
}

public typealias AISafetyEventType = AISafetyInput.EventType

/// The seed SDK's builder: `AISafetyScenario("sweep_550", seed: 550).addModel(…).addEvent(…)`,
/// an `ai-safety` domain input.
public struct AISafetyScenario: ScenarioConvertible, Equatable {
    public var name: String
    public var input: AISafetyInput

    public init(_ name: String, seed: UInt64 = 0, initialStability: Double? = nil, settings: Settings? = nil) {
        self.name = name
        input = AISafetyInput(seed: seed, initialStability: initialStability, settings: settings)
    }

    /// Adds a model (scores as the domain takes them: capability index, alignment and
    /// guardrail coverage 0–100).
    public func addModel(name: String, capabilityIndex: Double, alignmentScore: Double, guardrailCoverage: Double,
                         growthRate: Double? = nil, lambda: Double? = nil, gamma: Double? = nil) -> AISafetyScenario {
        var copy = self
        copy.input.models.append(AISafetyInput.Model(
            name: name, capabilityIndex: capabilityIndex, alignmentScore: alignmentScore, guardrailCoverage: guardrailCoverage,
            growthRate: growthRate, lambda: lambda, gamma: gamma))
        return copy
    }

    /// Schedules an event at `tick`; `ticks` is a moratorium's length.
    public func addEvent(_ tick: Int, _ type: AISafetyEventType, target: String? = nil, magnitude: Double? = nil,
                         ticks: Int? = nil) -> AISafetyScenario {
        var copy = self
        copy.input.events.append(AISafetyInput.DomainEvent(tick: tick, type: type, target: target, magnitude: magnitude, ticks: ticks))
        return copy
    }

    public var scenarioSource: ScenarioSource { .domain(input) }
}

/// The client-side pre-flight: the request is checked with the server's own rules (the
/// `KairosAPI` parser) before anything is sent.
enum PreFlight {
    static func check(_ body: JSONValue, maxTicks: Int) throws(ValidationError) {
        do throws(ScenarioRequest.Failure) {
            _ = try ScenarioRequest.parse(body, maxTicks: maxTicks)
        } catch {
            // Unknown catalog ids, domains and engine versions are the server's to judge: a
            // newer server may offer them.
            if case .invalid(let failure) = error { throw ValidationError(issues: failure.issues) }
        }
    }
}

extension Trace {
    /// The phase after the last step (nil for an empty trace).
    public func finalPhase() -> Phase? { steps.last?.state.phase }
    /// The mean stability over the steps (nil for an empty trace).
    public func meanStability() -> Double? { summary.meanStability }
    /// Every basin loss, in tick order.
    public func basinLosses() -> [BasinLoss] { steps.compactMap(\.loss) }

    /// The digest recomputed from the steps (what `metadata.digest` must be).
    public func computedDigest() -> String { TraceDigest.of(steps) }
}
