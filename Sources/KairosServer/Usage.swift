import Hummingbird
import KairosAPI
import KairosEngine
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle

/// One organization's usage on one UTC day.
public struct UsageDay: Sendable, Equatable {
    /// Days since 1970-01-01 (UTC).
    public var day: Int
    public var simulationsCreated: Int
    public var ticksComputed: Int
    public var requests: [RouteClass: Int]

    public init(day: Int, simulationsCreated: Int = 0, ticksComputed: Int = 0, requests: [RouteClass: Int] = [:]) {
        self.day = day
        self.simulationsCreated = simulationsCreated
        self.ticksComputed = ticksComputed
        self.requests = requests
    }

    /// `{date, simulationsCreated, ticksComputed, requests: {create, step, read}}`.
    var jsonValue: JSONValue {
        .object([
            "date": .string(UsageCalendar.date(day: day)),
            "simulationsCreated": .number(Double(simulationsCreated)), "ticksComputed": .number(Double(ticksComputed)),
            "requests": .object(RouteClass.allCases.map { JSONMember(key: $0.rawValue, value: .number(Double(requests[$0] ?? 0))) }),
        ])
    }
}

/// What to add to one organization's usage on one day.
public struct UsageDelta: Sendable, Equatable {
    public var organizationId: String
    public var usage: UsageDay

    public init(organizationId: String, usage: UsageDay) {
        self.organizationId = organizationId
        self.usage = usage
    }
}

extension UsageDay {
    mutating func add(_ other: UsageDay) {
        simulationsCreated += other.simulationsCreated
        ticksComputed += other.ticksComputed
        for (routeClass, count) in other.requests { requests[routeClass, default: 0] += count }
    }
}

/// UTC days as the usage table keys them.
public enum UsageCalendar {
    static let millisecondsPerDay: Int64 = 86_400_000

    public static func day(milliseconds: Int64) -> Int {
        Int(milliseconds >= 0 ? milliseconds / millisecondsPerDay : (milliseconds - millisecondsPerDay + 1) / millisecondsPerDay)
    }

    /// `2026-11-24`.
    public static func date(day: Int) -> String {
        String(ServerTime.iso8601(milliseconds: Int64(day) * millisecondsPerDay).prefix(10))
    }

    /// Parses `YYYY-MM-DD` (a real calendar date) into its day number.
    public static func day(date text: String) -> Int? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard text.utf8.count == 10, parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]), (1 ... 12).contains(m), d >= 1 else { return nil }
        // Days from civil (Howard Hinnant's algorithm).
        let yy = m <= 2 ? y - 1 : y
        let era = (yy >= 0 ? yy : yy - 399) / 400
        let yoe = yy - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let day = era * 146_097 + doe - 719_468
        return date(day: day) == text ? day : nil
    }
}

extension SimulationChange {
    /// Ticks this change computed and when (its step entries), for usage and metrics.
    var ticksComputed: (ticks: Int, at: Int64)? {
        var ticks = 0
        var at: Int64 = 0
        for entry in log where entry.kind == .step {
            ticks += Int(entry.payload["ticks"]?.numberValue ?? 0)
            at = entry.createdAt
        }
        return ticks > 0 ? (ticks, at) : nil
    }
}

/// Counts usage in memory — requests admitted (`RateLimitMiddleware`), simulations created and
/// ticks computed (`MeteredSimulationRepository`, so creates, runs, steps and playback alike) —
/// per organization and UTC day, in 16 shards with a short lock each, and adds it to the
/// usage table in one transaction per flush: every second (`UsageFlushService`), before
/// `/usage` and `/organization` answer, and at shutdown. No request writes to the database
/// for usage; a `kill -9` loses at most the last second of counts.
public final class UsageRecorder: Sendable {
    struct Key: Hashable {
        var organizationId: String
        var day: Int
    }

    private let shards: [NIOLockedValueBox<[Key: UsageDay]>]
    let repository: any SimulationRepository

    public init(repository: any SimulationRepository, shardCount: Int = 16) {
        self.repository = repository
        shards = (0 ..< max(1, shardCount)).map { _ in NIOLockedValueBox([:]) }
    }

    private func add(_ organization: String, at time: Int64, _ change: (inout UsageDay) -> Void) {
        let key = Key(organizationId: organization, day: UsageCalendar.day(milliseconds: time))
        shards[Int(UInt(bitPattern: organization.hashValue) % UInt(shards.count))].withLockedValue { pending in
            change(&pending[key, default: UsageDay(day: key.day)])
        }
    }

    func countRequest(organizations: [String], _ routeClass: RouteClass, at time: Int64) {
        for organization in organizations { add(organization, at: time) { $0.requests[routeClass, default: 0] += 1 } }
    }

    func countSimulation(organization: String, at time: Int64) {
        add(organization, at: time) { $0.simulationsCreated += 1 }
    }

    func countTicks(organization: String, _ ticks: Int, at time: Int64) {
        add(organization, at: time) { $0.ticksComputed += ticks }
    }

    /// Writes the pending counts; on failure they are kept for the next flush.
    public func flush() async throws {
        var pending: [UsageDelta] = []
        for shard in shards {
            let taken = shard.withLockedValue { counts in
                defer { counts.removeAll(keepingCapacity: true) }
                return counts
            }
            for (key, usage) in taken { pending.append(UsageDelta(organizationId: key.organizationId, usage: usage)) }
        }
        guard !pending.isEmpty else { return }
        do {
            try await repository.addUsage(pending)
        } catch {
            for delta in pending { add(delta.organizationId, at: Int64(delta.usage.day) * UsageCalendar.millisecondsPerDay) { $0.add(delta.usage) } }
            throw error
        }
    }
}

/// Flushes `UsageRecorder` every `interval` while the server runs, and once more at shutdown.
struct UsageFlushService: Service {
    let recorder: UsageRecorder
    let interval: Duration
    let logger: Logger

    func run() async throws {
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            await flush()
        }
        await flush()
    }

    private func flush() async {
        do {
            try await recorder.flush()
        } catch {
            logger.error("usage flush failed", metadata: ["error": .string("\(error)")])
        }
    }
}

/// `GET /v1/usage` (usage:read): per UTC day, the organization's simulations created, ticks
/// computed and admitted requests by route class; `from`/`to` (`YYYY-MM-DD`, at most 366
/// days, default the last 30 days) choose the days; days without activity are left out.
struct UsageController: Sendable {
    let recorder: UsageRecorder
    let now: @Sendable () -> Int64

    static let defaultDays = 30
    static let maxDays = 366

    func addRoutes(to group: RouterGroup<KairosRequestContext>) {
        group.get("/") { request, context in
            let identity = try context.require(.usageRead)
            var requested: String?
            var from: Int?
            var to: Int?
            var issues: [ValidationIssue] = []
            for (name, value) in RequestReading.query(request) {
                switch name {
                case "organizationId": requested = value
                case "from", "to":
                    guard let day = UsageCalendar.day(date: value) else {
                        issues.append(ValidationIssue(path: name, message: "must be a date YYYY-MM-DD"))
                        continue
                    }
                    if name == "from" { from = day } else { to = day }
                default: issues.append(ValidationIssue(path: name, message: "unknown query parameter"))
                }
            }
            if !issues.isEmpty { throw APIError.validation(issues) }
            let organizationId = try identity.organization(requested)
            let last = to ?? UsageCalendar.day(milliseconds: now())
            let first = from ?? last - (Self.defaultDays - 1)
            if first > last { throw APIError.validation(path: "from", "must not be after to") }
            if last - first >= Self.maxDays { throw APIError.validation(path: "from", "at most \(Self.maxDays) days per request") }
            try await recorder.flush()
            let days = try await recorder.repository.usage(organizationId: organizationId, fromDay: first, toDay: last)
            return JSONResponse.make(.object([
                "organizationId": .string(organizationId),
                "from": .string(UsageCalendar.date(day: first)), "to": .string(UsageCalendar.date(day: last)),
                "days": .array(days.map(\.jsonValue)),
            ]))
        }
    }
}
