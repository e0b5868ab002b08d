import Dispatch
import KairosAPI
import KairosEngine
import Synchronization

/// Runs `body` on the concurrency pool and waits for it on this thread: for scripts and
/// command-line tools with no async context. Never call it from a task (it would hold one
/// of the pool's threads while waiting for another).
public func runBlocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let box = Mutex<Result<T, any Error>?>(nil)
    let done = DispatchSemaphore(value: 0)
    Task.detached {
        let result: Result<T, any Error>
        do {
            result = .success(try await body())
        } catch {
            result = .failure(error)
        }
        box.withLock { $0 = result }
        done.signal()
    }
    done.wait()
    guard let result = box.withLock({ $0 }) else { throw CancellationError() }
    return try result.get()
}

extension KairosClient {
    /// The client's calls for code with no async context (scripts, tools): each waits for
    /// its answer on the calling thread.
    ///
    /// ```swift
    /// let client = try KairosClient().blocking
    /// let trace = try client.run(scenario: ScenarioSource.catalog("capability-divergence"), ticks: 500)
    /// ```
    public var blocking: Blocking { Blocking(client: self) }

    public struct Blocking: Sendable {
        public let client: KairosClient

        public func health() throws -> HealthStatus { try runBlocking { try await client.health() } }

        public func run(scenario: some ScenarioConvertible, ticks: Int? = nil, organizationId: String? = nil) throws -> Trace {
            let source = scenario.scenarioSource
            return try runBlocking { try await client.run(scenario: source, ticks: ticks, organizationId: organizationId) }
        }

        public func createSimulation(_ scenario: some ScenarioConvertible, organizationId: String? = nil) throws -> SimulationResource {
            let source = scenario.scenarioSource
            return try runBlocking { try await client.createSimulation(source, organizationId: organizationId) }
        }

        public func simulation(id: String) throws -> SimulationResource { try runBlocking { try await client.simulation(id: id) } }

        public func step(simulationId: String, ticks: Int) throws -> StepResult {
            try runBlocking { try await client.step(simulationId: simulationId, ticks: ticks) }
        }

        public func trace(simulationId: String) throws -> Trace { try runBlocking { try await client.trace(simulationId: simulationId) } }

        public func submitDecree(simulationId: String, _ decree: Action) throws -> DecreeRecord {
            try runBlocking { try await client.submitDecree(simulationId: simulationId, decree) }
        }

        public func setAgentPolicy(simulationId: String, agentId: String, lambda: Double? = nil, gamma: Double? = nil) throws
            -> Acknowledgement
        {
            try runBlocking { try await client.setAgentPolicy(simulationId: simulationId, agentId: agentId, lambda: lambda, gamma: gamma) }
        }

        public func listSimulations(limit: Int = SimulationLimits.defaultPageSize, offset: Int = 0) throws -> SimulationPage {
            try runBlocking { try await client.listSimulations(limit: limit, offset: offset) }
        }
    }
}
