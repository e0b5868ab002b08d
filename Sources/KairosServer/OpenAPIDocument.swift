import KairosAPI
import KairosEngine

/// The OpenAPI 3.1 description of the whole API (parts 1 and 2), written by hand next to the
/// code it describes and checked against the running server by `scripts/openapi-check`.
/// Operations marked `x-kairos-part: 2` are specified here before they are served.
enum OpenAPIDocument {
    static let document: JSONValue = .object([
        "openapi": "3.1.0",
        "info": .object([
            "title": "Kairos API",
            "version": .string(KairosServerVersion.string),
            "description": .string("""
            The Kairos Recursive Causality Simulator over HTTP. Every error is `{"error": {code, message, details, \
            requestId}}` with the same id in `X-Request-Id`. Protected routes take exactly one of `X-Api-Key` and \
            `Authorization: Bearer`; a simulation of another organization answers 401 on every route. Every response             carries `X-RateLimit-Limit`, `-Remaining` and `-Reset` (sliding 60 s window per caller and route class:             create = every POST but step, and the WebSocket run; step = POST step and every PUT; read = every other             GET); a 429 adds `Retry-After`. POSTs take an `Idempotency-Key`.
            """),
        ]),
        "servers": .array([.object(["url": "http://127.0.0.1:8080", "description": "kairos serve (default address)"])]),
        "tags": .array([
            tag("System", "Health, this document, and the reference page."),
            tag("Scenarios", "The built-in scenario catalog."),
            tag("Simulations", "Create, run, step and steer simulations; read traces and prophecies."),
            tag("Events", "Live events (Server-Sent Events) and streamed runs (WebSocket)."),
            tag("Organization", "The caller's organization and usage."),
        ]),
        "paths": paths,
        "components": components,
    ])

    // MARK: Paths

    static var paths: JSONValue {
        .object([
            "/v1/health": .object(["get": operation(
                "getHealth", "Server health", tag: "System", scope: nil,
                responses: [("200", ok(ref("Health"), "Status, engine versions offered, storage."))])]),
            "/v1/openapi.json": .object(["get": operation(
                "getOpenAPI", "This OpenAPI 3.1 document", tag: "System", scope: nil,
                responses: [("200", ok(.object(["type": "object"]), "The document."))])]),
            "/v1/docs": .object(["get": operation(
                "getDocs", "Interactive API reference (works offline)", tag: "System", scope: nil,
                responses: [("200", response("An HTML page.", content: ["text/html": .object(["type": "string"])]))])]),
            "/v1/scenarios": .object(["get": operation(
                "listScenarios", "The built-in scenario catalog", tag: "Scenarios", scope: nil,
                responses: [("200", ok(page(ref("CatalogScenario")), "Every catalog scenario."))])]),
            "/v1/scenarios/{scenarioId}": .object([
                "parameters": .array([pathParameter("scenarioId", "Catalog id, e.g. `capability-divergence`.", uuid: false)]),
                "get": operation(
                    "getScenario", "One catalog scenario", tag: "Scenarios", scope: nil,
                    responses: [("200", ok(ref("CatalogScenario"), "The scenario.")), ("404", errorRef("NotFound"))]),
            ]),
            "/v1/simulations": .object([
                "post": operation(
                    "createSimulation", "Create a simulation from a catalog or inline scenario", tag: "Simulations",
                    scope: .simulationWrite, idempotent: true, body: ref("CreateSimulationRequest"),
                    responses: [("201", ok(ref("Simulation"), "The new simulation, at tick 0.")),
                                ("400", errorRef("BadRequest")), ("404", errorRef("NotFound")), ("409", errorRef("Conflict")),
                                ("413", errorRef("PayloadTooLarge"))]),
                "get": operation(
                    "listSimulations", "Simulations the caller may see, newest first", tag: "Simulations",
                    scope: .simulationRead,
                    parameters: [
                        queryParameter("limit", .object(["type": "integer", "minimum": 1, "maximum": 200, "default": 50]),
                                       "Results per page (1–200)."),
                        queryParameter("offset", .object(["type": "integer", "minimum": 0, "maximum": 9_007_199_254_740_991,
                                                          "default": 0]), "Pagination offset."),
                        queryParameter("organizationId", .object(["type": "string", "minLength": 1]),
                                       "Only this organization (one the credential belongs to)."),
                    ],
                    responses: [("200", ok(ref("SimulationPage"), "One page.")), ("400", errorRef("BadRequest"))]),
            ]),
            "/v1/simulations/from-domain": .object(["post": operation(
                "createSimulationFromDomain", "Create a simulation through a domain adapter", tag: "Simulations",
                scope: .simulationWrite, idempotent: true, body: ref("FromDomainRequest"),
                responses: [("201", ok(ref("Simulation"), "The new simulation, at tick 0.")),
                            ("400", errorRef("BadRequest")), ("404", errorRef("NotFound")), ("409", errorRef("Conflict")),
                            ("413", errorRef("PayloadTooLarge"))])]),
            "/v1/simulations/run": .object(["post": operation(
                "runSimulation", "Create and run a simulation, returning its whole trace", tag: "Simulations",
                scope: .simulationWrite, idempotent: true, body: ref("RunRequest"), acceptsNDJSON: true,
                responses: [("200", response(
                    "The trace. As NDJSON, one canonical step per line: `sha256sum` of the body equals `X-Trace-Digest` and "
                        + "the JSON form's `trace.metadata.digest`.",
                    content: ["application/json": ref("RunResult"), "application/x-ndjson": ndjsonSchema],
                    extraHeaders: ["X-Simulation-Id": headerRef("X-Simulation-Id"), "X-Trace-Digest": headerRef("X-Trace-Digest")])),
                            ("400", errorRef("BadRequest")), ("404", errorRef("NotFound")), ("409", errorRef("Conflict")),
                            ("413", errorRef("PayloadTooLarge"))])]),
            "/v1/simulations/run/stream": .object(["get": operation(
                "streamRun", "Run over a WebSocket, one or several steps per frame", tag: "Events", scope: .simulationWrite,
                description: """
                Upgrade to a WebSocket (same port; authenticate the upgrade request with `X-Api-Key` or \
                `Authorization: Bearer`; a refused upgrade gets the usual 401/403 envelope before any upgrade). The first \
                client text message is a RunRequest exactly as `POST /simulations/run` takes it, with `ticks` from 1 to \
                1 000 000, plus an optional `stepsPerFrame` (integer 1 to 1 000, default 1). With 1 the server sends one \
                text frame per step — the canonical NDJSON line of a TraceStep, without the newline; with N > 1, binary \
                frames of up to N whole NDJSON lines, each with its newline (at most 256 KiB past the first line), whose \
                bytes in order are the NDJSON trace — then a last text frame `{"done": true, "simulationId": "…", "engineVersion": "1.1.0", "digest": "sha256:…"}` (the digest \
                `kairos simulate` prints for the same scenario and ticks), then closes normally (1000). The simulation is \
                stored as `POST /simulations/run` stores it. Each frame is written only when the client has taken the \
                previous ones (back-pressure), so server memory stays flat however long the run. A bad first message gets \
                one frame `{"error": {code, message, details, requestId}}` and a close with 1008 (policy violation).
                """,
                parameters: [headerParameter("Upgrade", "websocket", required: true)],
                responses: [("101", .object(["description": "Switching to the WebSocket protocol."])),
                            ("400", errorRef("BadRequest")), ("404", errorRef("NotFound"))])]),
            "/v1/simulations/{simulationId}": .object([
                "parameters": .array([simulationIdParameter]),
                "get": operation(
                    "getSimulation", "One simulation and its current state", tag: "Simulations", scope: .simulationRead,
                    responses: [("200", ok(ref("Simulation"), "The simulation.")), ("404", errorRef("NotFound"))]),
            ]),
            "/v1/simulations/{simulationId}/step": .object([
                "parameters": .array([simulationIdParameter]),
                "post": operation(
                    "stepSimulation", "Advance a simulation by 1–10 000 ticks", tag: "Simulations", scope: .simulationWrite,
                    idempotent: true, body: ref("StepRequest"),
                    responses: [("200", ok(ref("StepResult"), "The state after the step.")), ("400", errorRef("BadRequest")),
                                ("404", errorRef("NotFound")), ("409", errorRef("Conflict")), ("413", errorRef("PayloadTooLarge"))]),
            ]),
            "/v1/simulations/{simulationId}/fork": .object([
                "parameters": .array([simulationIdParameter]),
                "post": operation(
                    "forkSimulation", "Fork a simulation at a past tick (a counterfactual branch)", tag: "Simulations",
                    scope: .simulationWrite, description: """
                    A new simulation in the same organization whose state is exactly this one's after tick `tick` − 1: \
                    the same scenario and engine version, its first `tick` steps, and the decrees and policy changes \
                    applied before `tick` (none queued for `tick` or later). It starts paused at `tick`, with \
                    `forkedFrom: {simulationId, tick}`. Stepping it with no new decree reproduces this simulation's \
                    steps from `tick` on, byte for byte; decrees on the fork change only the fork. Counts as a create \
                    (rate limit, usage: the replayed ticks count as computed).
                    """,
                    idempotent: true, body: ref("ForkRequest"),
                    responses: [("201", ok(ref("Simulation"), "The fork, paused at `tick`.")), ("400", errorRef("BadRequest")),
                                ("404", errorRef("NotFound")), ("409", errorRef("Conflict")), ("413", errorRef("PayloadTooLarge"))]),
            ]),
            "/v1/simulations/{simulationId}/trace": .object([
                "parameters": .array([simulationIdParameter]),
                "get": operation(
                    "getTrace", "The full trace so far (JSON or NDJSON)", tag: "Simulations", scope: .simulationRead,
                    description: """
                    With `fromTick=T`, only the steps from tick T on (T = the current tick gives none): a client \
                    that holds the first T steps reads only the new ones. The NDJSON body's SHA-256 is always \
                    `X-Trace-Digest`; in JSON, `metadata.ticks` and `metadata.digest` describe the steps returned.
                    """,
                    parameters: [
                        queryParameter("fromTick", .object(["type": "integer", "minimum": 0,
                                                            "maximum": .number(Double(SimulationLimits.maxTicks)), "default": 0]),
                                       "First tick to return (at most the simulation's current tick)."),
                    ],
                    acceptsNDJSON: true,
                    responses: [("200", response(
                        "The trace; NDJSON is one canonical step per line.",
                        content: ["application/json": ref("Trace"), "application/x-ndjson": ndjsonSchema],
                        extraHeaders: ["X-Simulation-Id": headerRef("X-Simulation-Id"), "X-Trace-Digest": headerRef("X-Trace-Digest")])),
                                ("400", errorRef("BadRequest")), ("404", errorRef("NotFound"))]),
            ]),
            "/v1/simulations/{simulationId}/agent-policy": .object([
                "parameters": .array([simulationIdParameter]),
                "put": operation(
                    "updateAgentPolicy", "Change an agent's policy from the next tick", tag: "Simulations",
                    scope: .simulationWrite, body: ref("AgentPolicyRequest"),
                    responses: [("200", ok(ref("Acknowledgement"), "Queued; `tick` is the tick it applies at.")),
                                ("400", errorRef("BadRequest")), ("404", errorRef("NotFound")), ("413", errorRef("PayloadTooLarge"))]),
            ]),
            "/v1/simulations/{simulationId}/time-control": .object([
                "parameters": .array([simulationIdParameter]),
                "put": operation(
                    "controlTime", "Play, pause or single-step", tag: "Simulations", scope: .simulationWrite,
                    description: """
                    `play` advances 10 × speed ticks a second in the background until paused or tick 100 000 \
                    (`completed`); `step` pauses and computes one tick; `pause` stops. Every status change is a \
                    `simulation:status` event; a tick the engine refuses while playing pauses the simulation with an `error` event.
                    """,
                    body: ref("TimeControlRequest"),
                    responses: [("200", ok(ref("Acknowledgement"), "The status now.")), ("400", errorRef("BadRequest")),
                                ("404", errorRef("NotFound")), ("413", errorRef("PayloadTooLarge"))]),
            ]),
            "/v1/simulations/{simulationId}/events": .object([
                "parameters": .array([simulationIdParameter]),
                "get": operation(
                    "streamEvents", "Live events (Server-Sent Events)", tag: "Events", scope: .simulationRead,
                    description: """
                    `text/event-stream` with events tick (`{t, b, lastMove, state, warning, agents}`), loss, warning, \
                    paradox, decree, prophecy, simulation:status, error and heartbeat (empty data, every 30 s). Each event \
                    but the heartbeat has an id `<tick>-<n>`: the n-th event of tick group `tick` (decrees, policy changes \
                    and status changes made while `tick` was next, then the events of computing it). A new stream starts \
                    with what happens next; reconnecting with `Last-Event-ID` (or, for a browser's first connect, which \
                    cannot set headers, `?lastEventId=`; the header wins when both are sent) first replays every stored \
                    event after that id exactly once, then continues live with the same numbering. Counts against the \
                    tier's concurrent stream limit per credential (429 RATE_LIMITED with Retry-After beyond it), not against \
                    the per-minute window (its headers show the read window, unspent); the slot is freed as soon as the \
                    client disconnects.
                    """,
                    parameters: [headerParameter("Last-Event-ID", "Resume after this event id (`<tick>-<n>`).", required: false),
                                 queryParameter("lastEventId", .object(["type": "string", "pattern": "^[0-9]+-[0-9]+$"]),
                                                "Resume after this event id, for clients that cannot send Last-Event-ID.")],
                    responses: [("200", response("The event stream.", content: [
                        "text/event-stream": .object(["type": "string", "description": "SSE frames; `data` holds an Event payload.",
                                                      "x-event-schema": ref("Event")]),
                    ])), ("400", errorRef("BadRequest")), ("404", errorRef("NotFound"))]),
            ]),
            "/v1/simulations/{simulationId}/decrees": .object([
                "parameters": .array([simulationIdParameter]),
                "post": operation(
                    "submitDecree", "Submit a decree, applied at the next tick computed", tag: "Simulations",
                    scope: .simulationWrite, idempotent: true, body: ref("Decree"),
                    responses: [("201", ok(ref("DecreeRecord"), "Accepted; `tick` is the tick it applies at.")),
                                ("400", errorRef("BadRequest")), ("404", errorRef("NotFound")), ("409", errorRef("Conflict")),
                                ("413", errorRef("PayloadTooLarge"))]),
            ]),
            "/v1/simulations/{simulationId}/prophecies": .object([
                "parameters": .array([simulationIdParameter]),
                "get": operation(
                    "listProphecies", "Every prophecy so far and how it resolved", tag: "Simulations", scope: .simulationRead,
                    responses: [("200", ok(page(ref("ProphecyRecord")), "In tick order.")), ("404", errorRef("NotFound"))]),
            ]),
            "/v1/organization": .object(["get": operation(
                "getOrganization", "The caller's organization, tier and limits", tag: "Organization", scope: .orgRead,
                parameters: [queryParameter("organizationId", .object(["type": "string"]),
                                            "Which organization (tokens naming several).")],
                responses: [("200", ok(ref("Organization"), "The organization.")), ("400", errorRef("BadRequest"))])]),
            "/v1/usage": .object(["get": operation(
                "getUsage", "Simulations created, ticks computed and requests by route class, per day", tag: "Organization",
                scope: .usageRead,
                description: """
                Per UTC day from `from` to `to` (default: the last 30 days up to today; at most 366 days), the days with                 any activity: simulations created, ticks computed (steps, runs and playback) and requests admitted by                 route class (create, step, read; refused 429s are not counted).
                """,
                parameters: [queryParameter("organizationId", .object(["type": "string"]),
                                            "Which organization (tokens naming several)."),
                             queryParameter("from", .object(["type": "string", "format": "date"]), "First day, `YYYY-MM-DD` (UTC)."),
                             queryParameter("to", .object(["type": "string", "format": "date"]), "Last day, `YYYY-MM-DD` (UTC).")],
                responses: [("200", ok(ref("Usage"), "Usage per day.")), ("400", errorRef("BadRequest"))])]),
            "/metrics": .object(["get": operation(
                "getMetrics", "Prometheus metrics", tag: "System", scope: nil,
                description: """
                Served outside `/v1`, public (limited per address like every public route; `kairos serve --no-metrics`                 turns it off). `kairos_http_requests_total{method, route, status}` (route templates such as                 `/v1/simulations/{id}/step`), `kairos_http_request_duration_seconds{method, route}` (histogram),                 `kairos_ticks_computed_total`, and the gauges `kairos_sse_streams_open` and `kairos_simulations_playing`.
                """,
                responses: [("200", response("Prometheus text exposition format 0.0.4.",
                                             content: ["text/plain": .object(["type": "string"])]))])]),
        ])
    }

    // MARK: Components

    static var components: JSONValue {
        .object([
            "securitySchemes": .object([
                "ApiKeyAuth": .object(["type": "apiKey", "in": "header", "name": "X-Api-Key",
                                       "description": "An organization's API key, `krs_` + 40 base62 characters."]),
                "BearerAuth": .object(["type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                                       "description": "HS256 token with claims sub, orgs, scopes, exp."]),
            ]),
            "headers": .object([
                "X-Request-Id": header("The request's id: the client's `X-Request-Id` when given, else generated.", .object(["type": "string"]),
                                       required: true),
                "X-RateLimit-Limit": header("Requests allowed per sliding 60 s window for this route class and caller (API key, token subject, or address on public routes and failed authentication).",
                                            .object(["type": "integer", "minimum": 1]), required: true),
                "X-RateLimit-Remaining": header("Requests left in the window after this one.", .object(["type": "integer", "minimum": 0]),
                                                required: true),
                "X-RateLimit-Reset": header("Unix time (seconds, rounded up) when the oldest counted request leaves the window and Remaining goes up; on 429, when a request will be admitted.",
                                            .object(["type": "integer"]), required: true),
                "Retry-After": header("Seconds to wait before a request of this class is admitted (429 only).",
                                      .object(["type": "integer", "minimum": 1]), required: true),
                "Idempotency-Replayed": header("`true` when the response is a replay of a stored one.", .object(["type": "string", "enum": ["true"]])),
                "X-Simulation-Id": header("The simulation the trace belongs to.", .object(["type": "string", "format": "uuid"])),
                "X-Trace-Digest": header("`sha256:` + SHA-256 of the NDJSON body.", .object(["type": "string", "pattern": "^sha256:[0-9a-f]{64}$"])),
            ]),
            "parameters": .object([
                "XRequestId": .object(["name": "X-Request-Id", "in": "header", "required": false,
                                       "description": "Your id for this request (1–128 visible ASCII characters, else 400 with path `X-Request-Id`); echoed back.",
                                       "schema": .object(["type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[!-~]+$"])]),
                "IdempotencyKey": .object(["name": "Idempotency-Key", "in": "header", "required": false,
                                           "description": "Makes retries safe: 1–255 printable ASCII characters (else 400, path `Idempotency-Key`); scope identity + method + path; kept 24 h. The same key and body replay the stored status, Content-Type, Location and body (NDJSON too) with `Idempotency-Replayed: true`; another body → 409 IDEMPOTENCY_KEY_REUSE; while the first is executing → 409 IDEMPOTENCY_REQUEST_IN_PROGRESS. A key left executing by a server that stopped answers a stored 500 (outcome unknown).",
                                           // Printable ASCII with one non-space at least (a header's
                                           // surrounding spaces are not part of its value).
                                           "schema": .object(["type": "string", "minLength": 1, "maxLength": 255,
                                                              "pattern": "^[ -~]*[!-~][ -~]*$"])]),
                "Accept": .object(["name": "Accept", "in": "header", "required": false,
                                   "description": "`application/x-ndjson` (anywhere in the header) for NDJSON; anything else, or none, gets `application/json`.",
                                   "schema": .object(["type": "string", "examples": ["application/json", "application/x-ndjson"]])]),
            ]),
            "responses": .object([
                "BadRequest": errorResponse("VALIDATION_ERROR (one issue per bad field, with its path) or ENGINE_VERSION_UNAVAILABLE (`details.available`)."),
                "Unauthorized": errorResponse("UNAUTHORIZED: no credential, both credentials, a bad one, or another organization's simulation."),
                "Forbidden": errorResponse("FORBIDDEN: the credential lacks the route's scope."),
                "NotFound": errorResponse("NOT_FOUND: no such simulation, scenario, domain adapter or route (also: no trace yet)."),
                "Conflict": errorResponse("IDEMPOTENCY_KEY_REUSE (never retry) or IDEMPOTENCY_REQUEST_IN_PROGRESS (retry later)."),
                "PayloadTooLarge": errorResponse("PAYLOAD_TOO_LARGE: the body is over 1 MiB."),
                "UnsupportedMediaType": errorResponse("UNSUPPORTED_MEDIA_TYPE: the body is declared as something else than `application/json` (UTF-8)."),
                "MethodNotAllowed": errorResponse("METHOD_NOT_ALLOWED: the path exists but does not take this method; `Allow` lists those it takes."),
                "RateLimited": errorResponse("RATE_LIMITED: over the tier's limit for this route class.", retryAfter: true),
                "InternalError": errorResponse("INTERNAL_ERROR: nothing about the cause is shown; quote the request id."),
            ]),
            "schemas": schemas,
        ])
    }

    static var schemas: JSONValue {
        let unit = JSONValue.object(["type": "number", "minimum": 0, "maximum": 1])
        let nonNegative = JSONValue.object(["type": "number", "minimum": 0])
        let engineVersionPin = JSONValue.object([
            "type": "string", "pattern": "^[0-9]+\\.[0-9]+\\.[0-9]+$",
            "description": .string("Pins the engine version (offered: \(EngineRegistry.available.map(\.description).joined(separator: ", "))). Without it the newest runs, \(EngineRegistry.latest); the simulation keeps the version it was created on. A version not offered is ENGINE_VERSION_UNAVAILABLE."),
        ])
        // Engine 1.0.0's Euler growth overshoots below zero from a capability above CMAX
        // (ENGINE.md "Engine 1.1.0 — what changes"), so a 1.0.0 trace may hold a negative
        // capability and pressure; 1.1.0 keeps capability in [0, 10^6] and pressure ≥ 0.
        let capability = JSONValue.object([
            "type": "number",
            "description": "In [0, 1000000] on engine 1.1.0. Engine 1.0.0 may hold any finite value, negative ones included (its growth overshoots from above the carrying capacity); 1.0.0 steps that would leave binary64 are refused.",
        ])
        let pressure = JSONValue.object([
            "type": "number",
            "description": "≥ 0 on engine 1.1.0. Negative on engine 1.0.0 where a capability is negative.",
        ])
        let settings = object([
            "prophecyInterval": .object(["type": "integer", "minimum": 0, "maximum": 1_000_000, "default": 50]),
            "prophecyHorizon": .object(["type": "integer", "minimum": 1, "maximum": 10_000, "default": 100]),
            "recursionDepth": .object(["type": "integer", "minimum": 0, "maximum": 3, "default": 1]),
        ])
        var members: [JSONMember] = []
        let schemaError: JSONValue = object([
                "error": object([
                    "code": .object(["type": "string", "enum": .array(APIErrorCode.allCases.map { .string($0.rawValue) })]),
                    "message": .object(["type": "string"]),
                    "details": .object(["description": "`{issues}` for VALIDATION_ERROR, `{available}` for ENGINE_VERSION_UNAVAILABLE, else null or an object.",
                                        "type": .array(["object", "null"])]),
                    "requestId": .object(["type": "string"]),
                ], required: ["code", "message", "details", "requestId"]),
            ], required: ["error"])
        members.append(JSONMember(key: "Error", value: schemaError))
        let schemaValidationIssue: JSONValue = object([
                "path": .object(["type": "string", "description": "Where, e.g. `agents[1].policy.lambda`; empty for the whole body."]),
                "message": .object(["type": "string"]),
                "line": .object(["type": "integer", "description": "Malformed JSON only."]),
                "column": .object(["type": "integer", "description": "Malformed JSON only."]),
            ], required: ["path", "message"])
        members.append(JSONMember(key: "ValidationIssue", value: schemaValidationIssue))
        let schemaHealth: JSONValue = object([
                "status": .object(["type": "string", "enum": ["ok"]]),
                "version": .object(["type": "string"]),
                "engineVersions": array(.object(["type": "string"])),
                "defaultEngineVersion": .object(["type": "string", "description": "The version a request that names none runs on (the newest offered)."]),
                "storage": .object(["type": "string", "enum": ["sqlite", "memory", "postgres"]]),
            ], required: ["status", "version", "engineVersions", "storage"])
        members.append(JSONMember(key: "Health", value: schemaHealth))
        let schemaCatalogScenario: JSONValue = object([
                "id": .object(["type": "string"]), "title": .object(["type": "string"]),
                "description": .object(["type": "string"]), "defaultTicks": .object(["type": "integer"]),
                "agents": array(.object(["type": "string"])), "scenario": ref("Scenario"),
            ], required: ["id", "title", "description", "defaultTicks", "agents", "scenario"])
        members.append(JSONMember(key: "CatalogScenario", value: schemaCatalogScenario))
        let schemaScenario: JSONValue = object([
                "seed": .object(["type": "integer", "minimum": 0, "maximum": .number(Double(Scenario.maxSeed))]),
                "agents": .object(["type": "array", "maxItems": 1000, "items": ref("Agent")]),
                "initialState": object(["stability": unit, "basin": .object(["type": "integer", "minimum": 0, "maximum": 100])],
                                       required: ["stability"]),
                "events": array(ref("ScenarioEvent")),
                "settings": settings,
            ], required: ["seed", "agents", "initialState"], description: "A native scenario (ENGINE.md).")
        members.append(JSONMember(key: "Scenario", value: schemaScenario))
        let schemaAgent: JSONValue = object([
                "id": .object(["type": "string", "minLength": 1]),
                "policy": ref("Policy"),
                "state": object(["capability": .object(["type": "number", "minimum": 0, "maximum": 1_000_000]),
                                 "alignment": unit, "guardrail": unit]),
                "growth": unit,
            ], required: ["id"])
        members.append(JSONMember(key: "Agent", value: schemaAgent))
        let schemaPolicy: JSONValue = object(["lambda": unit, "gamma": unit], description: "λ (latency/chaos) and γ (capacity/order), each in [0, 1].")
        members.append(JSONMember(key: "Policy", value: schemaPolicy))
        let schemaScenarioEvent: JSONValue = .object(["allOf": .array([
                object(["tick": .object(["type": "integer", "minimum": 0])], required: ["tick"], closed: false),
                ref("Decree"),
            ]), "description": "A decree scheduled at a tick."])
        members.append(JSONMember(key: "ScenarioEvent", value: schemaScenarioEvent))
        let schemaDecree: JSONValue = .object([
                "type": "object",
                "description": "An action (ENGINE.md kinds): magnitude for capability_jump (0–10) and alignment_breakthrough, guardrail_failure, guardrail_upgrade, shock, reinforce (0–1); ticks for moratorium; lambda/gamma for policy. Without target it applies to every agent.",
                "properties": .object([
                    "kind": .object(["type": "string", "enum": .array(EventKind.allCases.map { .string($0.rawValue) })]),
                    "target": .object(["type": "string"]),
                    "magnitude": .object(["type": "number", "minimum": 0, "maximum": 10]),
                    "ticks": .object(["type": "integer", "minimum": 0, "maximum": 1_000_000]),
                    "lambda": unit, "gamma": unit, "tick": .object(["description": "Scenario events only."]),
                ]),
                "required": ["kind"],
            ])
        members.append(JSONMember(key: "Decree", value: schemaDecree))
        let schemaAISafetyInput: JSONValue = object([
                "seed": .object(["type": "integer", "minimum": 0, "maximum": .number(Double(Scenario.maxSeed))]),
                "initialStability": unit,
                "settings": settings,
                "models": .object(["type": "array", "maxItems": 1000, "items": object([
                    "name": .object(["type": "string", "minLength": 1]),
                    "capability_index": .object(["type": "number", "minimum": 0, "maximum": 1_000_000]),
                    "alignment_score": .object(["type": "number", "minimum": 0, "maximum": 100]),
                    "guardrail_coverage": .object(["type": "number", "minimum": 0, "maximum": 100]),
                    "growth_rate": unit, "lambda": unit, "gamma": unit,
                ], required: ["name", "capability_index", "alignment_score", "guardrail_coverage"])]),
                "events": array(object([
                    "tick": .object(["type": "integer", "minimum": 0, "maximum": .number(Double(Scenario.maxSeed))]),
                    "type": .object(["type": "string", "enum": .array(AISafetyInput.EventType.allCases.map { .string($0.rawValue) })]),
                    "target": .object(["type": "string"]), "magnitude": nonNegative,
                    "ticks": .object(["type": "integer", "minimum": 0, "maximum": 1_000_000]),
                ], required: ["tick", "type"])),
            ], required: ["models"], description: "Input of the `ai-safety` domain adapter.")
        members.append(JSONMember(key: "AISafetyInput", value: schemaAISafetyInput))
        let schemaCreateSimulationRequest: JSONValue = object([
                "scenarioId": .object(["type": "string", "description": "A catalog id (one of scenarioId, scenario)."]),
                "scenario": ref("Scenario"),
                "organizationId": .object(["type": "string"]),
                "engineVersion": engineVersionPin,
            ], description: "Exactly one of scenarioId and scenario.")
        members.append(JSONMember(key: "CreateSimulationRequest", value: adding(schemaCreateSimulationRequest, [
            JSONMember(key: "oneOf", value: .array([.object(["required": ["scenarioId"]]), .object(["required": ["scenario"]])])),
        ])))
        let schemaFromDomainRequest: JSONValue = object([
                "domain": .object(["type": "string", "enum": .array(DomainAdapters.identifiers.map { .string($0) })]),
                "input": ref("AISafetyInput"),
                "organizationId": .object(["type": "string"]),
                "engineVersion": engineVersionPin,
            ], required: ["domain", "input"])
        members.append(JSONMember(key: "FromDomainRequest", value: schemaFromDomainRequest))
        let schemaRunRequest: JSONValue = object([
                "scenarioId": .object(["type": "string"]), "scenario": ref("Scenario"),
                "domain": .object(["type": "string"]), "input": ref("AISafetyInput"),
                "ticks": .object(["type": "integer", "minimum": 1, "maximum": .number(Double(SimulationLimits.maxTicksPerRequest))]),
                "organizationId": .object(["type": "string"]),
                "engineVersion": engineVersionPin,
            ], required: ["ticks"], description: "Exactly one of scenarioId, scenario, domain (with input).")
        members.append(JSONMember(key: "RunRequest", value: adding(schemaRunRequest, [
            JSONMember(key: "oneOf", value: .array([.object(["required": ["scenarioId"]]), .object(["required": ["scenario"]]),
                                                   .object(["required": ["domain", "input"]])])),
            JSONMember(key: "dependentRequired", value: .object(["domain": ["input"], "input": ["domain"]])),
        ])))
        let schemaSimulation: JSONValue = object([
                "id": .object(["type": "string", "format": "uuid"]),
                "scenarioId": .object(["type": .array(["string", "null"])]),
                "organizationId": .object(["type": "string"]),
                "engineVersion": .object(["type": "string"]),
                "status": .object(["type": "string", "enum": .array(SimulationStatus.allCases.map { .string($0.rawValue) })]),
                "tick": .object(["type": "integer", "minimum": 0, "description": "The next tick to compute."]),
                "createdAt": .object(["type": "string", "format": "date-time"]),
                "state": ref("SimulationState"),
                "forkedFrom": object([
                    "simulationId": .object(["type": "string"]),
                    "tick": .object(["type": "integer", "minimum": 0]),
                ], required: ["simulationId", "tick"]),
            ], required: ["id", "scenarioId", "organizationId", "engineVersion", "status", "tick", "createdAt", "state"])
        members.append(JSONMember(key: "Simulation", value: schemaSimulation))
        let schemaSimulationState: JSONValue = object([
                "tick": .object(["type": "integer", "minimum": 0]),
                "stability": nonNegative, "basin": .object(["type": "integer", "minimum": 0]),
                "phase": ref("Phase"), "pressure": pressure, "ceiling": nonNegative,
                "agents": array(ref("AgentSnapshot")),
            ], required: ["tick", "stability", "basin", "phase", "pressure", "ceiling", "agents"])
        members.append(JSONMember(key: "SimulationState", value: schemaSimulationState))
        let schemaPhase: JSONValue = .object(["type": "string", "enum": .array(Phase.allCases.map { .string($0.rawValue) })])
        members.append(JSONMember(key: "Phase", value: schemaPhase))
        let schemaAgentSnapshot: JSONValue = object([
                "id": .object(["type": "string"]),
                "state": object(["capability": capability, "alignment": unit, "guardrail": unit, "pressure": pressure],
                                required: ["capability", "alignment", "guardrail", "pressure"]),
                "policy": object(["lambda": unit, "gamma": unit], required: ["lambda", "gamma"]),
            ], required: ["id", "state", "policy"])
        members.append(JSONMember(key: "AgentSnapshot", value: schemaAgentSnapshot))
        let schemaSimulationPage: JSONValue = object([
                "data": array(ref("Simulation")),
                "pagination": object([
                    "limit": .object(["type": "integer"]), "offset": .object(["type": "integer"]),
                    "total": .object(["type": "integer"]),
                ], required: ["limit", "offset", "total"]),
            ], required: ["data", "pagination"])
        members.append(JSONMember(key: "SimulationPage", value: schemaSimulationPage))
        let schemaStepRequest: JSONValue = object(["ticks": .object(["type": "integer", "minimum": 1, "maximum": .number(Double(SimulationLimits.maxTicksPerRequest))])],
                                  required: ["ticks"])
        members.append(JSONMember(key: "StepRequest", value: schemaStepRequest))
        let schemaForkRequest: JSONValue = object(
            ["tick": .object(["type": "integer", "minimum": 0, "maximum": .number(Double(SimulationLimits.maxTicks)),
                              "description": "At most the simulation's current tick."])],
            required: ["tick"])
        members.append(JSONMember(key: "ForkRequest", value: schemaForkRequest))
        let schemaStepResult: JSONValue = object([
                "state": ref("SimulationState"), "ticks": .object(["type": "integer", "description": "Ticks computed."]),
                "tick": .object(["type": "integer", "description": "The next tick to compute."]),
            ], required: ["state", "ticks", "tick"])
        members.append(JSONMember(key: "StepResult", value: schemaStepResult))
        let schemaAgentPolicyRequest: JSONValue = object(["agentId": .object(["type": "string"]), "policy": ref("Policy")],
                                         required: ["agentId", "policy"])
        members.append(JSONMember(key: "AgentPolicyRequest", value: schemaAgentPolicyRequest))
        let schemaTimeControlRequest: JSONValue = object([
                "action": .object(["type": "string", "enum": ["play", "pause", "step"]]),
                "speed": .object(["type": "number", "minimum": 0.1, "maximum": 10]),
            ], required: ["action"])
        members.append(JSONMember(key: "TimeControlRequest", value: schemaTimeControlRequest))
        let schemaAcknowledgement: JSONValue = object([
                "ok": .object(["type": "boolean", "const": true]),
                "status": .object(["type": "string", "enum": .array(SimulationStatus.allCases.map { .string($0.rawValue) })]),
                "tick": .object(["type": "integer"]),
            ], required: ["ok", "status", "tick"])
        members.append(JSONMember(key: "Acknowledgement", value: schemaAcknowledgement))
        let schemaDecreeRecord: JSONValue = object([
                "id": .object(["type": "string"]), "simulationId": .object(["type": "string"]),
                "tick": .object(["type": "integer", "description": "The tick it applies at."]), "decree": ref("Decree"),
            ], required: ["id", "simulationId", "tick", "decree"])
        members.append(JSONMember(key: "DecreeRecord", value: schemaDecreeRecord))
        let schemaProphecyRecord: JSONValue = object([
                "id": .object(["type": "integer"]), "tick": .object(["type": "integer"]), "horizon": .object(["type": "integer"]),
                "predictedStability": nonNegative, "predictedLoss": .object(["type": .array(["integer", "null"])]),
                "resolution": .object(["type": "string", "enum": .array(ProphecyResolution.allCases.map { .string($0.rawValue) })]),
                "lossTick": .object(["type": .array(["integer", "null"])]),
            ], required: ["id", "tick", "horizon", "predictedStability", "predictedLoss", "resolution", "lossTick"])
        members.append(JSONMember(key: "ProphecyRecord", value: schemaProphecyRecord))
        let schemaTrace: JSONValue = object([
                "metadata": ref("TraceMetadata"), "initialState": ref("SimulationState"), "steps": array(ref("TraceStep")),
            ], required: ["metadata", "initialState", "steps"])
        members.append(JSONMember(key: "Trace", value: schemaTrace))
        let schemaTraceMetadata: JSONValue = object([
                "simulationId": .object(["type": .array(["string", "null"])]),
                "scenarioId": .object(["type": .array(["string", "null"])]),
                "engineVersion": .object(["type": "string"]), "seed": .object(["type": "integer"]),
                "ticks": .object(["type": "integer"]),
                "digest": .object(["type": "string", "pattern": "^sha256:[0-9a-f]{64}$"]),
            ], required: ["simulationId", "scenarioId", "engineVersion", "seed", "ticks", "digest"])
        members.append(JSONMember(key: "TraceMetadata", value: schemaTraceMetadata))
        let schemaTraceStep: JSONValue = object([
                "tick": .object(["type": "integer"]), "move": .object(["type": "string"]),
                "state": object(["stability": nonNegative, "basin": .object(["type": "integer"]), "phase": ref("Phase"),
                                 "pressure": pressure, "ceiling": nonNegative],
                                required: ["stability", "basin", "phase", "pressure", "ceiling"]),
                "warning": nullable(object(["level": .object(["type": "string", "enum": ["caution", "danger"]]),
                                            "threshold": nonNegative, "stability": nonNegative],
                                           required: ["level", "threshold", "stability"])),
                "loss": nullable(ref("BasinLoss")),
                "prophecy": nullable(object(["id": .object(["type": "integer"]), "tick": .object(["type": "integer"]),
                                             "horizon": .object(["type": "integer"]), "predictedStability": nonNegative,
                                             "predictedLoss": .object(["type": .array(["integer", "null"])])],
                                            required: ["id", "tick", "horizon", "predictedStability", "predictedLoss"])),
                "paradox": nullable(object(["tick": .object(["type": "integer"]), "prophecy": .object(["type": "integer"]),
                                            "kind": .object(["type": "string"])], required: ["tick", "prophecy", "kind"])),
                "agents": array(ref("AgentSnapshot")),
            ], required: ["tick", "move", "state", "warning", "loss", "prophecy", "paradox", "agents"],
               description: "One tick (ENGINE.md); NDJSON lines are its canonical (RFC 8785) text.")
        members.append(JSONMember(key: "TraceStep", value: schemaTraceStep))
        let schemaBasinLoss: JSONValue = object([
                "tick": .object(["type": "integer"]), "magnitude": .object(["type": "number"]),
                "agent": .object(["type": .array(["string", "null"])]), "basin": .object(["type": "integer"]),
            ], required: ["tick", "magnitude", "agent", "basin"])
        members.append(JSONMember(key: "BasinLoss", value: schemaBasinLoss))
        let schemaRunResult: JSONValue = object([
                "simulationId": .object(["type": "string", "format": "uuid"]), "engineVersion": .object(["type": "string"]),
                "trace": ref("Trace"),
            ], required: ["simulationId", "engineVersion", "trace"])
        members.append(JSONMember(key: "RunResult", value: schemaRunResult))
        let schemaEvent: JSONValue = .object([
                "description": "The `data` of an SSE event, by event type: tick `{t, b, lastMove, state, warning, agents}`; loss a BasinLoss; warning, prophecy, paradox their step objects; decree a DecreeRecord; simulation:status `{status, tick}`; error an Error; heartbeat empty.",
                "type": "object",
            ])
        members.append(JSONMember(key: "Event", value: schemaEvent))
        let schemaOrganization: JSONValue = object([
                "id": .object(["type": "string"]),
                "tier": .object(["type": "string", "enum": .array(OrganizationTier.allCases.map { .string($0.rawValue) })]),
                "limits": object([
                    "create": .object(["type": "integer"]), "step": .object(["type": "integer"]),
                    "read": .object(["type": "integer"]), "concurrentStreams": .object(["type": "integer"]),
                    "windowSeconds": .object(["type": "integer"]),
                ], required: ["create", "step", "read", "concurrentStreams", "windowSeconds"],
                   description: "What this server enforces (the tier's limits × its rate-limit multiplier): requests per sliding window by route class, and concurrent SSE streams."),
                "simulations": .object(["type": "integer", "description": "Simulations the organization has."]),
                "usageToday": ref("UsageDay"),
            ], required: ["id", "tier", "limits", "simulations", "usageToday"])
        members.append(JSONMember(key: "Organization", value: schemaOrganization))
        let schemaUsageDay: JSONValue = object([
                "date": .object(["type": "string", "format": "date"]),
                "simulationsCreated": .object(["type": "integer"]), "ticksComputed": .object(["type": "integer"]),
                "requests": object(["create": .object(["type": "integer"]), "step": .object(["type": "integer"]),
                                    "read": .object(["type": "integer"])], required: ["create", "step", "read"],
                                   description: "Requests admitted by route class."),
            ], required: ["date", "simulationsCreated", "ticksComputed", "requests"], description: "One UTC day.")
        members.append(JSONMember(key: "UsageDay", value: schemaUsageDay))
        let schemaUsage: JSONValue = object([
                "organizationId": .object(["type": "string"]),
                "from": .object(["type": "string", "format": "date"]), "to": .object(["type": "string", "format": "date"]),
                "days": array(ref("UsageDay")),
            ], required: ["organizationId", "from", "to", "days"])
        members.append(JSONMember(key: "Usage", value: schemaUsage))
        return .object(members)
    }

    /// One request body per operation, shown by the reference page and its try-it form.
    static var requestExamples: [String: JSONValue] {
        let model = JSONValue.object(["name": "model", "capability_index": 550, "alignment_score": 70, "guardrail_coverage": 60])
        let jump = JSONValue.object(["tick": 100, "type": "CAPABILITY_JUMP", "target": "model", "magnitude": 0.3])
        return [
            "createSimulation": .object(["scenarioId": "capability-divergence"]),
            "createSimulationFromDomain": .object(["domain": "ai-safety",
                                                   "input": .object(["seed": 7, "models": [model], "events": [jump]])]),
            "runSimulation": .object(["scenarioId": "capability-divergence", "ticks": 500]),
            "stepSimulation": .object(["ticks": 100]),
            "forkSimulation": .object(["tick": 0]),
            "updateAgentPolicy": .object(["agentId": "frontier_model", "policy": .object(["lambda": 0.7])]),
            "controlTime": .object(["action": "play", "speed": 2]),
            "submitDecree": .object(["kind": "guardrail_upgrade", "target": "frontier_model", "magnitude": 0.3]),
        ]
    }

    // MARK: Builders

    static func tag(_ name: String, _ description: String) -> JSONValue {
        .object(["name": .string(name), "description": .string(description)])
    }

    static func ref(_ name: String) -> JSONValue { .object(["$ref": .string("#/components/schemas/\(name)")]) }

    static func headerRef(_ name: String) -> JSONValue { .object(["$ref": .string("#/components/headers/\(name)")]) }

    static func errorRef(_ name: String) -> JSONValue { .object(["$ref": .string("#/components/responses/\(name)")]) }

    static func array(_ items: JSONValue) -> JSONValue { .object(["type": "array", "items": items]) }

    static func nullable(_ schema: JSONValue) -> JSONValue { .object(["oneOf": .array([schema, .object(["type": "null"])])]) }

    static func page(_ items: JSONValue) -> JSONValue {
        object(["data": array(items)], required: ["data"])
    }

    static func object(_ properties: KeyValuePairs<String, JSONValue>, required: [String] = [], closed: Bool = true,
                       description: String? = nil) -> JSONValue {
        var members: [JSONMember] = [
            JSONMember(key: "type", value: "object"),
            JSONMember(key: "properties", value: .object(properties.map { JSONMember(key: $0.key, value: $0.value) })),
        ]
        if !required.isEmpty { members.append(JSONMember(key: "required", value: .array(required.map { .string($0) }))) }
        if closed { members.append(JSONMember(key: "additionalProperties", value: false)) }
        if let description { members.append(JSONMember(key: "description", value: .string(description))) }
        return .object(members)
    }

    /// `schema` (an object) with `extra` members: the rules across properties (`oneOf`,
    /// `dependentRequired`) the server enforces.
    static func adding(_ schema: JSONValue, _ extra: [JSONMember]) -> JSONValue {
        guard case .object(let members) = schema else { return schema }
        return .object(members + extra)
    }

    static func header(_ description: String, _ schema: JSONValue, required: Bool = false) -> JSONValue {
        var members = [JSONMember(key: "description", value: .string(description)), JSONMember(key: "schema", value: schema)]
        if required { members.append(JSONMember(key: "required", value: true)) }
        return .object(members)
    }

    static let ndjsonSchema: JSONValue = .object([
        "type": "string", "description": "One canonical TraceStep per line, each ending in a newline.",
        "x-line-schema": ref("TraceStep"),
    ])

    static var simulationIdParameter: JSONValue { pathParameter("simulationId", "Simulation id.", uuid: true) }

    static func pathParameter(_ name: String, _ description: String, uuid: Bool) -> JSONValue {
        .object(["name": .string(name), "in": "path", "required": true, "description": .string(description),
                 "schema": uuid ? .object(["type": "string", "format": "uuid"]) : .object(["type": "string"])])
    }

    static func queryParameter(_ name: String, _ schema: JSONValue, _ description: String) -> JSONValue {
        .object(["name": .string(name), "in": "query", "required": false, "description": .string(description), "schema": schema])
    }

    static func headerParameter(_ name: String, _ description: String, required: Bool) -> JSONValue {
        .object(["name": .string(name), "in": "header", "required": .bool(required), "description": .string(description),
                 "schema": .object(["type": "string"])])
    }

    /// Headers on every response.
    static func commonHeaders(retryAfter: Bool = false) -> [JSONMember] {
        var h = [JSONMember(key: "X-Request-Id", value: .object(["$ref": "#/components/headers/X-Request-Id"]))]
        for name in ["X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"] {
            h.append(JSONMember(key: name, value: headerRef(name)))
        }
        if retryAfter { h.append(JSONMember(key: "Retry-After", value: headerRef("Retry-After"))) }
        return h
    }

    static func response(_ description: String, content: KeyValuePairs<String, JSONValue>,
                         extraHeaders: KeyValuePairs<String, JSONValue> = [:]) -> JSONValue {
        var headers = commonHeaders()
        headers.append(JSONMember(key: "Idempotency-Replayed", value: headerRef("Idempotency-Replayed")))
        for (k, v) in extraHeaders { headers.append(JSONMember(key: k, value: v)) }
        return .object([
            "description": .string(description),
            "headers": .object(headers),
            "content": .object(content.map { JSONMember(key: $0.key, value: .object(["schema": $0.value])) }),
        ])
    }

    static func ok(_ schema: JSONValue, _ description: String) -> JSONValue {
        response(description, content: ["application/json": schema])
    }

    static func errorResponse(_ description: String, retryAfter: Bool = false) -> JSONValue {
        var headers = commonHeaders(retryAfter: retryAfter)
        // Errors a route answered under an Idempotency-Key are stored and replayed too.
        headers.append(JSONMember(key: "Idempotency-Replayed", value: headerRef("Idempotency-Replayed")))
        return .object([
            "description": .string(description),
            "headers": .object(headers),
            "content": .object(["application/json": .object(["schema": ref("Error")])]),
        ])
    }

    static func operation(_ id: String, _ summary: String, tag: String, scope: APIScope?, part: Int = 1,
                          description: String? = nil, idempotent: Bool = false, parameters: [JSONValue] = [],
                          body: JSONValue? = nil, acceptsNDJSON: Bool = false,
                          responses: [(String, JSONValue)]) -> JSONValue {
        var members: [JSONMember] = [
            JSONMember(key: "operationId", value: .string(id)),
            JSONMember(key: "summary", value: .string(summary)),
            JSONMember(key: "tags", value: .array([.string(tag)])),
        ]
        var text = description ?? ""
        if let scope { text += (text.isEmpty ? "" : "\n\n") + "Scope: `\(scope.rawValue)`." }
        if !text.isEmpty { members.append(JSONMember(key: "description", value: .string(text))) }
        if part == 2 { members.append(JSONMember(key: "x-kairos-part", value: 2)) }
        if let scope { members.append(JSONMember(key: "x-kairos-scope", value: .string(scope.rawValue))) }
        var params: [JSONValue] = [.object(["$ref": "#/components/parameters/XRequestId"])]
        if idempotent { params.append(.object(["$ref": "#/components/parameters/IdempotencyKey"])) }
        if acceptsNDJSON { params.append(.object(["$ref": "#/components/parameters/Accept"])) }
        params += parameters
        members.append(JSONMember(key: "parameters", value: .array(params)))
        if let body {
            var media: [JSONMember] = [JSONMember(key: "schema", value: body)]
            if let example = requestExamples[id] { media.append(JSONMember(key: "example", value: example)) }
            members.append(JSONMember(key: "requestBody", value: .object([
                "required": true,
                "content": .object(["application/json": .object(media)]),
            ])))
        }
        var all = responses
        if body != nil { all.append(("415", errorRef("UnsupportedMediaType"))) }
        if scope != nil {
            all.append(("401", errorRef("Unauthorized")))
            all.append(("403", errorRef("Forbidden")))
            members.append(JSONMember(key: "security", value: .array([
                .object(["ApiKeyAuth": .array([])]), .object(["BearerAuth": .array([])]),
            ])))
        } else {
            members.append(JSONMember(key: "security", value: .array([.object([])])))
        }
        if !all.contains(where: { $0.0 == "400" }) { all.append(("400", errorRef("BadRequest"))) }
        if !all.contains(where: { $0.0 == "404" }) { all.append(("404", errorRef("NotFound"))) }
        all.append(("429", errorRef("RateLimited")))
        all.append(("500", errorRef("InternalError")))
        members.append(JSONMember(key: "responses", value: .object(all.map { JSONMember(key: $0.0, value: $0.1) })))
        return .object(members)
    }
}
