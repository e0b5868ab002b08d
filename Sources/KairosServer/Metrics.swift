import CoreMetrics
import Hummingbird
import KairosAPI
import KairosEngine
import NIOConcurrencyHelpers
import Prometheus

/// The server's metrics, in a Prometheus registry the application owns (never the global
/// `MetricsSystem`: tests build many applications in one process), recorded through
/// swift-metrics' types with that registry's factory.
///
/// - `kairos_http_requests_total{method, route, status}`: responses by route template
///   (`/v1/simulations/{id}/step`; `unmatched` for no route).
/// - `kairos_http_request_duration_seconds{method, route}`: latency histogram.
/// - `kairos_ticks_computed_total`: ticks computed and stored (steps, runs, playback).
/// - `kairos_sse_streams_open`, `kairos_simulations_playing`: gauges sampled when scraped.
public final class ServerMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory
    let ticks: CoreMetrics.Counter
    let openStreams: CoreMetrics.Gauge
    let playing: CoreMetrics.Gauge

    struct RequestKey: Hashable {
        var method: String
        var route: String
        var status: Int
    }

    /// Handles per (method, route, status): the registry is only asked once per combination.
    private let handles: [NIOLockedValueBox<[RequestKey: (CoreMetrics.Counter, CoreMetrics.Timer)]>]

    public init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
            .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500),
            .seconds(5), .seconds(10),
        ]
        self.factory = factory
        ticks = CoreMetrics.Counter(label: "kairos_ticks_computed_total", factory: factory)
        openStreams = CoreMetrics.Gauge(label: "kairos_sse_streams_open", factory: factory)
        playing = CoreMetrics.Gauge(label: "kairos_simulations_playing", factory: factory)
        handles = (0 ..< 16).map { _ in NIOLockedValueBox([:]) }
    }

    func recordRequest(method: String, route: String, status: Int, duration: Duration) {
        let key = RequestKey(method: method, route: route, status: status)
        let shard = handles[Int(UInt(bitPattern: key.hashValue) % UInt(handles.count))]
        let factory = factory
        let (counter, timer) = shard.withLockedValue { cache in
            if let found = cache[key] { return found }
            let made = (CoreMetrics.Counter(label: "kairos_http_requests_total",
                                            dimensions: [("method", method), ("route", route), ("status", String(status))],
                                            factory: factory),
                        CoreMetrics.Timer(label: "kairos_http_request_duration_seconds",
                                          dimensions: [("method", method), ("route", route)], factory: factory))
            cache[key] = made
            return made
        }
        counter.increment()
        timer.recordNanoseconds(duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }

    func recordTicks(_ count: Int) { ticks.increment(by: count) }

    /// The exposition, with the gauges set from their sources first.
    func exposition(openStreams streams: Int, playing count: Int) -> [UInt8] {
        openStreams.record(streams)
        playing.record(count)
        return registry.emitToBuffer()
    }
}

/// Overrides of what `/metrics` samples when scraped (tests); nil reads the application's
/// live services (`LiveServices.openEventStreams`, `.playingSimulations`).
public struct ServerGauges: Sendable {
    /// Open SSE streams right now.
    public var openEventStreams: (@Sendable () async -> Int)?
    /// Simulations playing right now.
    public var playingSimulations: (@Sendable () async -> Int)?

    public init(openEventStreams: (@Sendable () async -> Int)? = nil, playingSimulations: (@Sendable () async -> Int)? = nil) {
        self.openEventStreams = openEventStreams
        self.playingSimulations = playingSimulations
    }
}

/// `GET /metrics`: Prometheus text format (version 0.0.4).
struct MetricsController: Sendable {
    let metrics: ServerMetrics
    let openEventStreams: @Sendable () async -> Int
    let playingSimulations: @Sendable () async -> Int

    func addRoutes(to router: Router<KairosRequestContext>) {
        router.get("/metrics") { request, _ in
            try RequestReading.noQuery(request)
            let bytes = metrics.exposition(openStreams: await openEventStreams(), playing: await playingSimulations())
            return JSONResponse.bytes(bytes, contentType: "text/plain; version=0.0.4; charset=utf-8")
        }
    }
}

/// A repository that counts what every stored change did — simulations created, ticks computed
/// (creates, runs, steps, playback) — into the metrics and the organization's usage; everything
/// else passes through.
struct MeteredSimulationRepository<Base: SimulationRepository>: SimulationRepositoryDecorator {
    let base: Base
    let metrics: ServerMetrics
    let usage: UsageRecorder

    func insert(_ change: SimulationChange) async throws {
        try await base.insert(change)
        usage.countSimulation(organization: change.record.organizationId, at: change.record.createdAt)
        counted(change)
    }

    private func counted(_ change: SimulationChange) {
        guard let (ticks, at) = change.ticksComputed else { return }
        metrics.recordTicks(ticks)
        usage.countTicks(organization: change.record.organizationId, ticks, at: at)
    }

    func update<Result: Sendable>(
        id: String, _ body: @Sendable (SimulationRecord) async throws -> (SimulationChange, Result)
    ) async throws -> Result? {
        guard let (result, change) = try await base.updateReturningChange(id: id, body) else { return nil }
        counted(change)
        return result
    }
}
