import Foundation
import KairosAPI
import NIOConcurrencyHelpers
import Testing
@testable import KairosServer

/// The engine's own threads (`EnginePool`): its jobs never hold a cooperative thread, at most
/// `numberOfThreads` run at once, results and errors come back as thrown, a cancelled job that
/// has not started never starts, and a stopped pool refuses work with 503.
@Suite(.timeLimit(.minutes(1))) struct EnginePoolTests {
    /// Blocks the calling thread until `open()` (a job standing in for a long engine run).
    final class Gate: Sendable {
        private let condition = NSCondition()
        private let state = NIOLockedValueBox((open: false, entered: 0, running: 0, most: 0))

        func wait() {
            state.withLockedValue { s in
                s.entered += 1
                s.running += 1
                s.most = max(s.most, s.running)
            }
            condition.lock()
            while !state.withLockedValue({ $0.open }) { condition.wait() }
            condition.unlock()
            state.withLockedValue { $0.running -= 1 }
        }

        func open() {
            condition.lock()
            state.withLockedValue { $0.open = true }
            condition.broadcast()
            condition.unlock()
        }

        var entered: Int { state.withLockedValue { $0.entered } }
        var most: Int { state.withLockedValue { $0.most } }
    }

    /// More blocked jobs than the machine has cores (so more than the cooperative pool has
    /// threads): other async work still runs meanwhile, and at most `numberOfThreads` of the
    /// jobs run at once. Were the jobs on the cooperative pool, the awaits below would never
    /// resume (the time limit fails the test).
    @Test func blockedJobsHoldNoCooperativeThread() async throws {
        let threads = max(2, ProcessInfo.processInfo.activeProcessorCount)
        let pool = EnginePool(numberOfThreads: threads)
        defer { Task { try await pool.shutdown() } }
        let gate = Gate()
        let jobs = (0 ..< threads + 2).map { i in
            Task { try await pool.compute { gate.wait(); return i } }
        }
        while gate.entered < threads { try await Task.sleep(for: .milliseconds(5)) }
        // Every core's worth of jobs is blocked; plain async work goes on.
        let sum = await withTaskGroup(of: Int.self) { group in
            for i in 0 ..< 4 * threads { group.addTask { await Task.yield(); return i } }
            return await group.reduce(0, +)
        }
        #expect(sum == (0 ..< 4 * threads).reduce(0, +))
        try await Task.sleep(for: .milliseconds(50))
        #expect(gate.entered == threads, "the jobs beyond the pool's threads wait their turn")
        gate.open()
        var results: [Int] = []
        for job in jobs { results.append(try await job.value) }
        #expect(results == Array(0 ..< threads + 2))
        #expect(gate.most == threads)
    }

    @Test func errorsComeBackAsThrown() async throws {
        let pool = EnginePool(numberOfThreads: 1)
        let error = await #expect(throws: APIError.self) {
            try await pool.compute { () throws(APIError) -> Int in throw APIError.simulationNotFound }
        }
        #expect(error?.code == .notFound)
        #expect(try await pool.compute { 6 * 7 } == 42)
        try await pool.shutdown()
    }

    /// A job queued behind a busy thread whose task is cancelled never runs.
    @Test func aCancelledQueuedJobNeverStarts() async throws {
        let pool = EnginePool(numberOfThreads: 1)
        let gate = Gate()
        let ran = NIOLockedValueBox(false)
        let busy = Task { try await pool.compute { gate.wait() } }
        while gate.entered < 1 { try await Task.sleep(for: .milliseconds(5)) }
        let queued = Task { try await pool.compute { ran.withLockedValue { $0 = true } } }
        try await Task.sleep(for: .milliseconds(20))
        queued.cancel()
        gate.open()
        try await busy.value
        await #expect(throws: CancellationError.self) { try await queued.value }
        // The thread is free again: a later job runs, the cancelled one did not.
        #expect(try await pool.compute { 1 } == 1)
        #expect(!ran.withLockedValue { $0 })
        try await pool.shutdown()
    }

    /// Shutdown lets a running job finish, then refuses new ones with 503.
    @Test func shutdownDrainsThenRefuses() async throws {
        let pool = EnginePool(numberOfThreads: 1)
        let gate = Gate()
        let running = Task { try await pool.compute { gate.wait(); return "done" } }
        while gate.entered < 1 { try await Task.sleep(for: .milliseconds(5)) }
        let stopping = Task { try await pool.shutdown() }
        try await Task.sleep(for: .milliseconds(20))
        gate.open()
        try await stopping.value
        #expect(try await running.value == "done")
        let refused = await #expect(throws: APIError.self) { try await pool.compute { 1 } }
        #expect(refused?.code == .serviceUnavailable && refused?.status.code == 503)
    }
}
