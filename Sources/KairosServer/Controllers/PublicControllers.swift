import Hummingbird
import KairosAPI
import KairosEngine

/// `GET /v1/health`.
struct HealthController: Sendable {
    let storageName: String

    func addRoutes(to group: RouterGroup<KairosRequestContext>) {
        group.get("/health") { request, _ in
            try RequestReading.noQuery(request)
            return JSONResponse.make(HealthStatus(status: "ok", version: KairosServerVersion.string,
                                                  engineVersions: EngineRegistry.available, storage: storageName).jsonValue)
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

/// `GET /v1/organization` (org:read): the caller's organization, tier and limits.
struct OrganizationController: Sendable {
    let identities: any IdentityRepository

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
            return JSONResponse.make(.object([
                "id": .string(id), "tier": .string(tier.rawValue),
                "limits": .object(["create": .number(Double(limits.create)), "step": .number(Double(limits.step)),
                                   "read": .number(Double(limits.read)),
                                   "concurrentStreams": .number(Double(limits.concurrentStreams))]),
            ]))
        }
    }
}
