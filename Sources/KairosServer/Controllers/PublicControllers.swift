import Hummingbird
import KairosAPI
import KairosEngine

/// `GET /v1/health`.
struct HealthController: Sendable {
    let storageName: String
    let defaultEngineVersion: EngineVersion

    func addRoutes(to group: RouterGroup<KairosRequestContext>) {
        group.get("/health") { request, _ in
            try RequestReading.noQuery(request)
            return JSONResponse.make(HealthStatus(status: "ok", version: KairosServerVersion.string,
                                                  engineVersions: EngineRegistry.available,
                                                  defaultEngineVersion: defaultEngineVersion, storage: storageName).jsonValue)
        }
    }
}

/// `GET /v1/scenarios` and `GET /v1/scenarios/{id}`: the built-in catalog.
struct ScenariosController: Sendable {
    func addRoutes(to group: RouterGroup<KairosRequestContext>) {
        group.get("/scenarios") { request, _ in
            try RequestReading.noQuery(request)
            return JSONResponse.make(.object(["data": .array(ScenarioCatalog.all.map(\.jsonValue))]))
        }
        group.get("/scenarios/:id") { request, context in
            try RequestReading.noQuery(request)
            guard let id = context.parameters.get("id"), let entry = ScenarioCatalog.scenario(id: id) else {
                throw APIError(.notFound, "Scenario not found.",
                               details: .object(["available": .array(ScenarioCatalog.all.map { .string($0.id) })]))
            }
            return JSONResponse.make(entry.jsonValue)
        }
    }
}

/// `GET /v1/openapi.json` and `GET /v1/docs`, both built once at start.
struct DocumentationController: Sendable {
    let openAPI: [UInt8]
    let page: [UInt8]

    init() {
        var w = CanonicalJSONWriter(capacity: 1 << 16)
        w.value(OpenAPIDocument.document)
        openAPI = w.bytes
        page = Array(ReferencePage.html.utf8)
    }

    func addRoutes(to group: RouterGroup<KairosRequestContext>) {
        group.get("/openapi.json") { [openAPI] _, _ in JSONResponse.bytes(openAPI) }
        group.get("/docs") { [page] _, _ in JSONResponse.bytes(page, contentType: "text/html; charset=utf-8") }
    }
}

/// The server's own version (the engine's versions are separate).
public enum KairosServerVersion {
    public static let string = "0.1.0"
}

/// `GET /v1/organization` (org:read): the caller's organization, its tier, the limits this
/// server enforces for it (the tier's × the rate-limit multiplier), how many simulations it
/// has, and today's usage (UTC).
struct OrganizationController: Sendable {
    let identities: any IdentityRepository
    let simulations: any SimulationRepository
    let usage: UsageRecorder
    let multiplier: Int
    let now: @Sendable () -> Int64

    func addRoutes(to group: RouterGroup<KairosRequestContext>) {
        group.get("/") { request, context in
            let identity = try context.require(.orgRead)
            let query = RequestReading.query(request)
            var requested: String?
            for (name, value) in query {
                if name == "organizationId" { requested = value } else {
                    throw APIError.validation(path: name, "unknown query parameter")
                }
            }
            let id = try identity.organization(requested)
            let tier = try await identities.organization(id: id)?.tier ?? .community
            let limits = tier.limits
            try await usage.flush()
            let today = UsageCalendar.day(milliseconds: now())
            let usageToday = try await simulations.usage(organizationId: id, fromDay: today, toDay: today).first
                ?? UsageDay(day: today)
            let total = try await simulations.list(organizationIds: [id], limit: 0, offset: 0).total
            func number(_ n: Int) -> JSONValue { .number(Double(n)) }
            return JSONResponse.make(.object([
                "id": .string(id), "tier": .string(tier.rawValue),
                "limits": .object(["create": number(limits.create * multiplier), "step": number(limits.step * multiplier),
                                   "read": number(limits.read * multiplier),
                                   "concurrentStreams": number(limits.concurrentStreams * multiplier),
                                   "windowSeconds": number(Int(RateLimitPolicy.windowMilliseconds / 1000))]),
                "simulations": number(total),
                "usageToday": usageToday.jsonValue,
            ]))
        }
    }
}
