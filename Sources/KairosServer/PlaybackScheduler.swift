import KairosAPI
import Logging

/// Advances `playing` simulations in the background: 10 × speed ticks a second, one stored
/// step at a time, until the simulation is paused or completed. The status lives in the
/// repository, so a restarted server resumes what was playing (`resumeAll`).
public actor PlaybackScheduler {
    private let repository: any SimulationRepository
    private let now: @Sendable () -> Int64
    private let logger: Logger
    private var players: [String: Task<Void, Never>] = [:]

    init(repository: any SimulationRepository, now: @escaping @Sendable () -> Int64, logger: Logger) {
        self.repository = repository
        self.now = now
        self.logger = logger
    }

    /// Starts advancing `id` unless it already is.
    func play(_ id: String) {
        guard players[id] == nil else { return }
        let repository = repository
        let now = now
        let logger = logger
        players[id] = Task { [weak self] in
            await Self.advance(id, repository: repository, now: now, logger: logger)
            await self?.finished(id)
        }
    }

    private func finished(_ id: String) { players[id] = nil }

    /// Resumes every simulation stored as playing.
    func resumeAll() async {
        do {
            for id in try await repository.simulationIds(status: .playing) { play(id) }
        } catch {
            logger.error("resuming playback failed", metadata: ["error": .string("\(error)")])
        }
    }

    /// Stops every player (server shutdown); statuses stay as stored.
    func stopAll() {
        for task in players.values { task.cancel() }
        players = [:]
    }

    private static func advance(_ id: String, repository: any SimulationRepository, now: @escaping @Sendable () -> Int64,
                                logger: Logger) async {
        while !Task.isCancelled {
            guard let record = try? await repository.find(id: id), record.status == .playing else { return }
            let interval = 0.1 / max(0.1, min(10, record.speed))
            do {
                try await Task.sleep(for: .milliseconds(Int((interval * 1000).rounded())))
                let time = now()
                _ = try await repository.update(id: id) { current in
                    guard current.status == .playing else { return (SimulationChange(record: current), ()) }
                    return (try SimulationDriver.advance(current, ticks: 1, now: time), ())
                }
            } catch is CancellationError {
                return
            } catch {
                // A step the engine cannot take (e.g. capability overflow) pauses playback rather
                // than retrying forever, here and after every restart. Part 2 emits an `error` event.
                logger.error("playback step failed; pausing", metadata: ["simulation": .string(id), "error": .string("\(error)")])
                let time = now()
                _ = try? await repository.update(id: id) { current in
                    (SimulationDriver.setStatus(.paused, speed: nil, record: current, now: time), ())
                }
                return
            }
        }
    }
}
