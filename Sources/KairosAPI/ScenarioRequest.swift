import KairosEngine

/// What a run or create request names: a catalog scenario, an inline native scenario, or a
/// domain input — exactly one of them — plus the optional ticks and engine pin.
public struct ScenarioRequest: Sendable, Equatable {
    public var scenario: Scenario
    /// The catalog id when the request named one.
    public var scenarioId: String?
    public var ticks: Int?
    public var engineVersion: EngineVersion?
    public var organizationId: String?

    /// The ticks to run: the request's, else the catalog's default, else `fallback`.
    public func ticks(default fallback: Int) -> Int {
        ticks ?? scenarioId.flatMap { ScenarioCatalog.scenario(id: $0)?.defaultTicks } ?? fallback
    }

    public static let maxTicks = 10_000

    /// Why a request could not be resolved.
    public enum Failure: Error, Sendable, Equatable {
        case invalid(ValidationFailure)
        case unknownScenario(String)
        case unknownDomain(String)
        case unavailableEngine(String)
    }

    /// Parses a request body. `allowBareScenario` also accepts a native scenario on its own
    /// (what `kairos simulate FILE` takes); `maxTicks` bounds `ticks` (nil: any positive count).
    public static func parse(_ json: JSONValue, allowBareScenario: Bool = false, extraFields: [String] = [],
                             maxTicks: Int? = ScenarioRequest.maxTicks) throws(Failure) -> ScenarioRequest {
        if allowBareScenario, json["seed"] != nil || json["agents"] != nil {
            do throws(ValidationFailure) {
                return ScenarioRequest(scenario: try ScenarioValidator.validate(json))
            } catch {
                throw .invalid(error)
            }
        }
        let c = IssueCollector()
        let allowed = ["scenarioId", "scenario", "domain", "input", "ticks", "organizationId", "engineVersion"] + extraFields
        guard let o = c.object(json, at: "", allowed: allowed) else { throw .invalid(ValidationFailure(c.issues)) }
        var ticks: Int?
        if let tv = o["ticks"] {
            ticks = c.integer(tv, at: "ticks", in: 1 ... Double(maxTicks ?? Int(Scenario.maxSeed)))
        }
        var version: EngineVersion?
        var versionText: String?
        if let vv = o["engineVersion"], let text = c.string(vv, at: "engineVersion") {
            versionText = text
            version = EngineVersion(text)
        }
        var organizationId: String?
        if let ov = o["organizationId"] { organizationId = c.string(ov, at: "organizationId") }
        let sources = ["scenarioId", "scenario", "domain"].filter { o[$0] != nil }
        if sources.isEmpty { c.add("", "provide exactly one of scenarioId, scenario, or domain with input") }
        if sources.count > 1 { c.add("", "provide exactly one of scenarioId, scenario, or domain with input (got \(sources.joined(separator: ", ")))") }
        if o["input"] != nil, o["domain"] == nil { c.add("input", "input needs domain") }
        if o["domain"] != nil, o["input"] == nil { c.add("input", "is required with domain") }
        var scenario: Scenario?
        var scenarioId: String?
        var unknown: Failure?
        if sources.count == 1 {
            switch sources[0] {
            case "scenarioId":
                if let id = o["scenarioId"].flatMap({ c.string($0, at: "scenarioId") }) {
                    if let entry = ScenarioCatalog.scenario(id: id) {
                        scenario = entry.scenario
                        scenarioId = id
                    } else {
                        unknown = .unknownScenario(id)
                    }
                }
            case "scenario":
                if let sv = o["scenario"] { scenario = ScenarioValidator.read(sv, path: "scenario", collector: c) }
            default:
                if let domain = o["domain"].flatMap({ c.string($0, at: "domain") }), let input = o["input"] {
                    if domain == "ai-safety" {
                        scenario = AISafetyValidator.read(input, path: "input", collector: c)?.lowered()
                    } else {
                        unknown = .unknownDomain(domain)
                    }
                }
            }
        }
        if !c.issues.isEmpty { throw .invalid(ValidationFailure(c.issues)) }
        if let unknown { throw unknown }
        if let versionText {
            guard let version, EngineRegistry.physics(for: version) != nil else { throw .unavailableEngine(versionText) }
        }
        guard let scenario else { throw .invalid(ValidationFailure([ValidationIssue(path: "", message: "no scenario")])) }
        return ScenarioRequest(scenario: scenario, scenarioId: scenarioId, ticks: ticks, engineVersion: version,
                               organizationId: organizationId)
    }
}
