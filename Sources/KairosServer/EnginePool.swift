import KairosAPI
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle

/// The threads a server's CPU-heavy, synchronous work runs on: the engine (runs, steps, forks,
/// playback, trace replays), canonical encoding and hashing of traces, the layout of large
/// answers. Off Swift's cooperative pool, which has one thread per core: two multi-second runs
/// there held both threads of a 2-core machine, and every other task — small requests, SSE
/// frames, WebSocket pongs, the PostgreSQL lease keeper — waited until one ended
/// (docs/performance.md "Heavy requests").
///
/// At most `threads` (the number of cores) such jobs run at once; the others wait their turn
/// here, in order, without holding a cooperative thread. Chunked work (the run stream,
/// playback) hands each chunk over on its own, so cancellation and a closed connection are
/// still seen between chunks. A job that has not started when its task is cancelled never
/// starts (`CancellationError`); a started one runs to its end (the engine is not interruptible
/// within a chunk).
///
/// Lifecycle: started by the first job or by `run()` (it is one of the application's services,
/// the first, so it stops last: after the server has drained its requests and playback has
/// stopped); `run()` shuts the threads down once the service group shuts down, letting running
/// jobs finish. A job submitted after that is refused as `serviceUnavailable`.
public final class EnginePool: Service, Sendable {
    private enum State { case idle, running, stopped }

    private let threads: NIOThreadPool
    private let state = NIOLockedValueBox(State.idle)

    public init(numberOfThreads: Int = System.coreCount) {
        threads = NIOThreadPool(numberOfThreads: max(1, numberOfThreads))
    }

    /// Runs `body` on one of the pool's threads and answers what it returns or throws.
    func compute<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try Task.checkCancellation()
        guard start() else { throw Self.stoppedError }
        do {
            return try await threads.runIfActive(body)
        } catch is NIOThreadPoolError.ThreadPoolInactive {
            throw Self.stoppedError
        }
    }

    static let stoppedError = APIError(.serviceUnavailable, "The server is shutting down.")

    /// Starts the threads unless already running; false once stopped.
    private func start() -> Bool {
        state.withLockedValue { state in
            switch state {
            case .running: return true
            case .stopped: return false
            case .idle:
                threads.start()
                state = .running
                return true
            }
        }
    }

    /// Stops taking jobs and joins the threads once every running job has ended.
    func shutdown() async throws {
        let wasRunning = state.withLockedValue { state in
            defer { state = .stopped }
            return state == .running
        }
        if wasRunning { try await threads.shutdownGracefully() }
    }

    public func run() async throws {
        _ = start()
        try? await gracefulShutdown()
        try await shutdown()
    }

    deinit {
        // A pool whose service never ran (a server built but not run, a test's hub) still
        // lets its threads go.
        if state.withLockedValue({ $0 }) == .running { threads.shutdownGracefully { _ in } }
    }
}
