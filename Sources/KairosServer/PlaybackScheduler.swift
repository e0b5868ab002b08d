import KairosAPI
import Logging
import NIOConcurrencyHelpers

/// Advances `playing` simulations in the background at 10 × speed ticks a second, until the
/// simulation is paused or completed. Each simulation has its own task, so one slow or busy
/// simulation never holds up another. Scheduling is by deadline: the ticks due are counted
/// from when playing (or the speed) started, so the rate holds however long each write takes;
/// a player that wakes late computes every tick due in one stored step (at most one second's
/// worth; further behind, it moves its schedule on rather than hog the engine). It wakes at
/// most every `minimumInterval`, so at speed 10 it stores ~5 ticks per write rather than 100
/// writes a second. The status lives in the repository, so a restarted server resumes what was
/// playing (`resumeAll`).
public actor PlaybackScheduler {
    private let repository: any SimulationRepository
    private let now: @Sendable () -> Int64
    private let logger: Logger
    /// Where the ticks are computed (off the cooperative pool: the lease keeper and every
    /// other task go on while a step computes).
    private let engine: EnginePool
    private var players: [String: Task<Void, Never>] = [:]
    private let playing = NIOLockedValueBox(0)
    /// The shortest sleep between two stored steps of one simulation.
    static let minimumInterval: Duration = .milliseconds(50)

    /// On PostgreSQL, the leases that make one replica at a time play a simulation.
    private let leases: (any PlaybackLeases)?

    init(repository: any SimulationRepository, engine: EnginePool, now: @escaping @Sendable () -> Int64, logger: Logger,
         leases: (any PlaybackLeases)? = nil) {
        self.repository = repository
        self.engine = engine
        self.now = now
        self.logger = logger
        self.leases = leases
    }

    /// Simulations being advanced right now (a cheap read for `/metrics`).
    public nonisolated var playingCount: Int { playing.withLockedValue { $0 } }

    /// Starts advancing `id` unless it already is.
    func play(_ id: String) {
        guard players[id] == nil, !stopped else { return }
        let repository = repository
        let now = now
        let logger = logger
        let leases = leases
        let engine = engine
        playing.withLockedValue { $0 += 1 }
        players[id] = Task { [weak self] in
            // Shared storage: play only while holding the simulation's lease (another replica
            // may hold it; if that replica dies, the lease expires and a sweep starts it here).
            if let leases {
                guard (try? await leases.acquireLease(id)) == true else {
                    await self?.finished(id, replay: false)
                    return
                }
            }
            if let leases {
                await Self.playHoldingLease(id, leases: leases) { lease in
                    await Self.advance(id, repository: repository, engine: engine, now: now, logger: logger, lease: lease)
                }
                // Given back even when stopping (a cancelled task's query would be cancelled too),
                // so another replica takes over at once rather than when the lease expires.
                await Task { await leases.releaseLease(id) }.value
            } else {
                await Self.advance(id, repository: repository, engine: engine, now: now, logger: logger)
            }
            await self?.finished(id)
        }
    }

    private var stopped = false

    /// A player ends when it finds its simulation no longer playing; if `play` came in between
    /// (pause then play at once), it starts again.
    private func finished(_ id: String, replay: Bool = true) async {
        guard players.removeValue(forKey: id) != nil else { return }
        playing.withLockedValue { $0 -= 1 }
        if replay, !stopped, (try? await repository.find(id: id))?.status == .playing { play(id) }
    }

    /// Resumes every simulation stored as playing.
    func resumeAll() async {
        do {
            for id in try await repository.simulationIds(status: .playing) { play(id) }
        } catch {
            logger.error("resuming playback failed", metadata: ["error": .string("\(error)")])
        }
    }

    /// Stops every player (server shutdown); statuses stay as stored.
    /// Waits for the players to end, so their leases are released (another replica takes over
    /// at once rather than when the leases expire).
    func stopAll() async {
        stopped = true
        let tasks = Array(players.values)
        for task in tasks { task.cancel() }
        players = [:]
        playing.withLockedValue { $0 = 0 }
        for task in tasks { await task.value }
    }

    /// Whether this replica still holds a simulation's playback lease (set false by the keeper
    /// when a renewal fails).
    final class HeldLease: Sendable {
        private let held = NIOLockedValueBox(true)
        var isHeld: Bool { held.withLockedValue { $0 } }
        func lose() { held.withLockedValue { $0 = false } }
    }

    /// Runs `body` while a keeper renews the lease every `ClusterCoordinator.leaseRenewMilliseconds`,
    /// also while a step computes or is stored: a step longer than the lease (3 s) no longer
    /// lets it expire, so no other replica takes the simulation over from a live player. A
    /// renewal that fails (the lease expired — this replica was stalled past it — and another
    /// replica took it, or the database is unreachable) marks the lease lost; the player then
    /// stores nothing more and stops.
    static func playHoldingLease(_ id: String, leases: any PlaybackLeases, _ body: @Sendable (HeldLease) async -> Void) async {
        let lease = HeldLease()
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                while !Task.isCancelled {
                    do {
                        try await Task.sleep(for: .milliseconds(Int(ClusterCoordinator.leaseRenewMilliseconds)))
                    } catch {
                        return
                    }
                    guard (try? await leases.renewLease(id)) == true else {
                        if !Task.isCancelled { lease.lose() }
                        return
                    }
                }
            }
            await body(lease)
            group.cancelAll()
        }
    }

    private static func advance(_ id: String, repository: any SimulationRepository, engine: EnginePool,
                                now: @escaping @Sendable () -> Int64,
                                logger: Logger, lease: HeldLease? = nil) async {
        let clock = ContinuousClock()
        var speed = -1.0
        var started = clock.now
        var done = 0
        while !Task.isCancelled {
            guard let record = try? await repository.find(id: id), record.status == .playing else { return }
            if record.speed != speed {
                speed = record.speed
                started = clock.now
                done = 0
            }
            let rate = 10 * max(0.1, min(10, speed))
            let perTick = Duration.nanoseconds(Int64((1e9 / rate).rounded()))
            let elapsed = clock.now - started
            var due = Int(elapsed / perTick) - done
            if due < 1 {
                let next = started + perTick * (done + 1)
                let earliest = clock.now + minimumInterval
                do {
                    try await clock.sleep(until: max(next, earliest))
                } catch {
                    return
                }
                continue
            }
            let catchUp = max(1, Int(rate))
            if due > catchUp {
                done += due - catchUp
                due = catchUp
            }
            due = min(due, SimulationLimits.maxTicks - record.tick)
            guard due > 0 else { return }
            let ticks = due
            // Lost (it expired while this replica was stalled, and another took it over): stop.
            if let lease, !lease.isHeld { return }
            do {
                let time = now()
                _ = try await repository.update(id: id) { current in
                    // Not stored once the lease is lost (the new holder computes these ticks).
                    guard current.status == .playing, lease?.isHeld ?? true else { return (SimulationChange(record: current), ()) }
                    return (try await engine.compute { try SimulationDriver.advance(current, ticks: ticks, now: time, clamped: true) }, ())
                }
                done += ticks
            } catch is CancellationError {
                return
            } catch {
                // A step the engine cannot take (e.g. capability overflow) pauses playback rather
                // than retrying forever, here and after every restart, and says why (`error` event).
                logger.error("playback step failed; pausing", metadata: ["simulation": .string(id), "error": .string("\(error)")])
                let time = now()
                let apiError = (error as? APIError) ?? APIError.internal("\(error)")
                let reported = apiError.code == .internalError
                    ? APIError(.internalError, "The playback step failed.") : apiError
                _ = try? await repository.update(id: id) { current in
                    guard current.status == .playing else { return (SimulationChange(record: current), ()) }
                    return (SimulationDriver.setStatus(.paused, speed: nil, record: current, now: time, error: reported), ())
                }
                return
            }
        }
    }
}

/// Who may play a simulation when replicas share storage (`ClusterCoordinator`).
protocol PlaybackLeases: Sendable {
    /// Takes the simulation's lease if it is free, expired or already held here.
    func acquireLease(_ id: String) async throws -> Bool
    /// Extends the lease; false when it is no longer held here.
    func renewLease(_ id: String) async throws -> Bool
    func releaseLease(_ id: String) async
}

extension ClusterCoordinator: PlaybackLeases {}
