// Engine 1.1.0 — ENGINE.md's "Engine 1.1.0 — what changes": engine 1.0.0 with
// Beverton–Holt capability growth and capability jumps clamped at CLIM. A copy of
// EngineV1_0_0.swift (which is never edited) with exactly those two changes; never edit
// the arithmetic of this file either once 1.1.0 is released.
//
// Every expression below keeps the operation order ENGINE.md writes, left to right.

/// Engine version 1.1.0.
public enum EngineV1_1_0: EnginePhysics {
    public static let version = EngineVersion(1, 1, 0)

    public static func start(_ scenario: Scenario) -> any Simulation {
        SimulationV1_1(scenario: scenario)
    }

    public static func restore(_ checkpoint: SimulationCheckpoint, scenario: Scenario) throws(CheckpointError) -> any Simulation {
        guard checkpoint.engineVersion == version else {
            throw CheckpointError("checkpoint is for engine \(checkpoint.engineVersion), not \(version)")
        }
        return try SimulationV1_1(scenario: scenario, checkpoint: checkpoint)
    }

    static let R0 = 0.05
    static let Q = 0.0146
    static let H2 = 0.01
    static let RHO = 0.8
    static let SIGMA = 0.02
    static let DMAX = 20
    static let DMAXReal = 20.0
    static let CREF = 100.0
    static let CMAX = 10000.0
    /// The ceiling of a capability jump: the input bound of `state.capability`.
    static let CLIM = 1000000.0
    static let KA = 0.005
    static let KR = 0.01
    static let KG = 0.05
    static let ALERT = 0.6
    static let COLLAPSE = 0.15
    static let REARM = 0.4
    static let WINDOW = 50
    static let CAUTION = 0.5
    static let DANGER = 0.3
    static let REARM_MARGIN = 0.05
    static let PRECAUTION = 0.3
    static let FORK_MIX: UInt64 = 0x9E37_79B9_7F4A_7C15
    static let historyLength = DMAX + 1
    static let windowLength = WINDOW + 1
}

private typealias V11 = EngineV1_1_0

struct AgentV1_1 {
    var C: Double
    var A: Double
    var G: Double
    var lambda: Double
    var gamma: Double
    var growth: Double
    var A0: Double
    var G0: Double
    var frozen: Int
    var p: Double
}

struct OpenProphecyV1_1: Equatable {
    var id: Int
    var resolveTick: Int
    var lossSeen: Bool
}

/// The state a fork copies: everything that influences stability.
struct WorldV1_1 {
    let seed: UInt64
    let settings: Settings
    var depth: Int
    var t: Int
    var S: Double
    var b: Int
    var K: Double
    var P: Double
    var lossArmed: Bool
    var rng: Xoshiro256StarStar
    var agents: [AgentV1_1]
    /// Ring of the last DMAX+1 stabilities; `historyNewest` indexes the newest.
    var history: [Double]
    var historyNewest: Int

    /// Applies one event or decree (step 1).
    @inline(__always)
    mutating func apply(_ action: Action) {
        let m = action.magnitude
        switch action.kind {
        case .shock:
            S = S - S * m
            return
        case .reinforce:
            S = S + (K - S) * m
            return
        default:
            break
        }
        for i in agents.indices where action.target == nil || agentIDs[i] == action.target {
            switch action.kind {
            case .capabilityJump:
                agents[i].C = agents[i].C * (1 + m)
                if agents[i].C > V11.CLIM { agents[i].C = V11.CLIM }
                agents[i].A = agents[i].A - agents[i].A * m * 0.5
            case .alignmentBreakthrough:
                agents[i].A = agents[i].A + (1 - agents[i].A) * m
                agents[i].A0 = agents[i].A0 + (1 - agents[i].A0) * m
            case .guardrailFailure:
                agents[i].G = agents[i].G - agents[i].G * m
            case .guardrailUpgrade:
                agents[i].G = agents[i].G + (1 - agents[i].G) * m
                agents[i].G0 = agents[i].G0 + (1 - agents[i].G0) * m
            case .moratorium:
                agents[i].frozen = action.ticks
            case .policy:
                if let l = action.lambda { agents[i].lambda = l }
                if let g = action.gamma { agents[i].gamma = g }
            case .shock, .reinforce:
                break
            }
        }
    }

    let agentIDs: [String]

    /// Steps 2, 3 and the loss latch of step 5. Returns whether a basin loss happened.
    @inline(__always)
    mutating func evolve() -> Bool {
        var sumP = 0.0
        var sumLambda = 0.0
        var sumGamma = 0.0
        let n = agents.count
        let newest = historyNewest
        history.withUnsafeBufferPointer { hist in
            agents.withUnsafeMutableBufferPointer { agents in
                for i in 0 ..< n {
                    var a = agents[i]
                    let d = Int(a.lambda * V11.DMAXReal + 0.5)
                    var index = newest - d
                    if index < 0 { index += V11.historyLength }
                    let sp = hist[index]
                    let danger = sp < V11.ALERT ? (V11.ALERT - sp) / V11.ALERT : 0
                    if a.frozen > 0 {
                        a.frozen -= 1
                    } else {
                        // Beverton–Holt: ((1 + growth) * C) / (1 + (growth * C) / CMAX), in that order.
                        a.C = ((1 + a.growth) * a.C) / (1 + (a.growth * a.C) / V11.CMAX)
                    }
                    a.A = a.A + a.gamma * V11.KA * (a.A0 - a.A)
                    a.G = a.G + V11.KR * (a.G0 - a.G) + a.gamma * V11.KG * danger * (1 - a.G)
                    a.A = a.A < 0 ? 0 : (a.A > 1 ? 1 : a.A)
                    a.G = a.G < 0 ? 0 : (a.G > 1 ? 1 : a.G)
                    a.p = (a.C / V11.CREF) * (1 - a.A) * (1 - a.G)
                    sumP = sumP + a.p
                    sumLambda = sumLambda + a.lambda
                    sumGamma = sumGamma + a.gamma
                    agents[i] = a
                }
            }
        }
        let meanLambda = n == 0 ? 0 : sumLambda / Double(n)
        let meanGamma = n == 0 ? 0.5 : sumGamma / Double(n)
        P = sumP

        let r = V11.R0 * (0.5 + meanGamma)
        let drift = r * S * (1 - S / K) - V11.Q * P * (S * S) / (V11.H2 + S * S)
        let xi = rng.normal()
        var next = S + drift + V11.SIGMA * meanLambda * S * xi
        if next < 0 { next = 0 } else if next > K { next = K }
        S = next
        historyNewest = newest + 1 == V11.historyLength ? 0 : newest + 1
        history[historyNewest] = next

        if lossArmed && next < V11.COLLAPSE {
            lossArmed = false
            b += 1
            K = K * V11.RHO
            return true
        } else if !lossArmed && next > V11.REARM {
            lossArmed = true
        }
        return false
    }

    /// Step 6's fork: runs a copy of this world `horizon` ticks ahead at depth − 1.
    /// Returns the predicted stability and the tick of the fork's first loss.
    func prophesy() -> (stability: Double, loss: Int?) {
        var fork = self
        fork.depth = depth - 1
        fork.rng = Xoshiro256StarStar(seed: seed ^ (UInt64(t) &* V11.FORK_MIX))
        fork.t = t + 1
        var firstLoss: Int?
        for _ in 0 ..< settings.prophecyHorizon {
            let tick = fork.t
            let lost = fork.evolve()
            if lost, firstLoss == nil { firstLoss = tick }
            _ = fork.prophesyIfDue()
            fork.t += 1
        }
        return (fork.S, firstLoss)
    }

    /// Runs step 6 when due: forks, and heeds a predicted loss with a precaution.
    @inline(__always)
    mutating func prophesyIfDue() -> (stability: Double, loss: Int?)? {
        guard depth > 0, settings.prophecyInterval > 0, t > 0, t % settings.prophecyInterval == 0 else { return nil }
        let prediction = prophesy()
        if prediction.loss != nil {
            for i in agents.indices {
                agents[i].G = agents[i].G + agents[i].gamma * V11.PRECAUTION * (1 - agents[i].G)
            }
        }
        return prediction
    }
}

/// A live simulation on engine 1.1.0.
final class SimulationV1_1: Simulation {
    let scenario: Scenario
    var engineVersion: EngineVersion { V11.version }
    private var world: WorldV1_1
    /// Scenario events sorted by tick (declaration order kept within a tick).
    private let events: [Event]
    private var eventCursor: Int
    private(set) var pendingDecrees: [Action] = []
    /// The last WINDOW+1 stabilities, for a loss's magnitude.
    private var window: [Double]
    private var windowNewest: Int
    private var windowCount: Int
    private var cautionArmed = true
    private var dangerArmed = true
    private var open: [OpenProphecyV1_1] = []
    private var nextProphecyID = 1

    // The record of the last tick computed.
    private var lastMove: EventKind?
    private var lastWarning: StabilityWarning?
    private var lastLoss: BasinLoss?
    private var lastProphecy: Prophecy?
    private var lastParadox: Paradox?

    var tick: Int { world.t }

    init(scenario: Scenario) {
        self.scenario = scenario
        var K = 1.0
        for _ in 0 ..< scenario.initialBasin { K = K * V11.RHO }
        let S0 = scenario.initialStability
        world = WorldV1_1(
            seed: scenario.seed, settings: scenario.settings, depth: scenario.settings.recursionDepth,
            t: 0, S: S0, b: scenario.initialBasin, K: K, P: 0, lossArmed: true,
            rng: Xoshiro256StarStar(seed: scenario.seed),
            agents: scenario.agents.map {
                AgentV1_1(C: $0.capability, A: $0.alignment, G: $0.guardrail, lambda: $0.lambda, gamma: $0.gamma,
                        growth: $0.growth, A0: $0.alignment, G0: $0.guardrail, frozen: 0, p: 0)
            },
            history: Array(repeating: S0, count: V11.historyLength), historyNewest: V11.historyLength - 1,
            agentIDs: scenario.agents.map(\.id))
        events = Self.sortedEvents(scenario.events)
        eventCursor = 0
        window = Array(repeating: 0, count: V11.windowLength)
        window[0] = S0
        windowNewest = 0
        windowCount = 1
    }

    private static func sortedEvents(_ events: [Event]) -> [Event] {
        events.enumerated().sorted { ($0.element.tick, $0.offset) < ($1.element.tick, $1.offset) }.map(\.element)
    }

    func submit(_ decree: Action) throws(ValidationFailure) -> Int {
        if let target = decree.target, !decree.kind.actsOnWorld, !world.agentIDs.contains(target) {
            throw ValidationFailure([ValidationIssue(path: "target", message: "unknown agent \"\(target)\"")])
        }
        pendingDecrees.append(decree)
        return world.t
    }

    func advance() {
        let t = world.t
        // 1. Events, then decrees.
        lastMove = nil
        while eventCursor < events.count, events[eventCursor].tick <= t {
            let event = events[eventCursor]
            eventCursor += 1
            guard event.tick == t else { continue }
            if lastMove == nil { lastMove = event.action.kind }
            world.apply(event.action)
        }
        if !pendingDecrees.isEmpty {
            for decree in pendingDecrees {
                if lastMove == nil { lastMove = decree.kind }
                world.apply(decree)
            }
            pendingDecrees.removeAll(keepingCapacity: true)
        }
        // 2–3. Agents and stability; 5's latch.
        let lost = world.evolve()
        let S = world.S
        windowNewest = windowNewest + 1 == V11.windowLength ? 0 : windowNewest + 1
        window[windowNewest] = S
        if windowCount < V11.windowLength { windowCount += 1 }

        // 4. Warnings.
        lastWarning = nil
        if cautionArmed && S < V11.CAUTION {
            cautionArmed = false
            lastWarning = StabilityWarning(level: .caution, threshold: V11.CAUTION, stability: S)
        } else if !cautionArmed && S > V11.CAUTION + V11.REARM_MARGIN {
            cautionArmed = true
        }
        if dangerArmed && S < V11.DANGER {
            dangerArmed = false
            lastWarning = StabilityWarning(level: .danger, threshold: V11.DANGER, stability: S)
        } else if !dangerArmed && S > V11.DANGER + V11.REARM_MARGIN {
            dangerArmed = true
        }

        // 5. Basin loss record.
        lastLoss = nil
        if lost {
            var highest = -Double.infinity
            for i in 0 ..< windowCount where window[i] > highest { highest = window[i] }
            var culprit: String?
            var maxP = -Double.infinity
            for (i, a) in world.agents.enumerated() where a.p > maxP {
                maxP = a.p
                culprit = world.agentIDs[i]
            }
            lastLoss = BasinLoss(tick: t, magnitude: highest - S, agent: culprit, basin: world.b)
        }

        // 6. Prophecy.
        lastProphecy = nil
        if let prediction = world.prophesyIfDue() {
            let id = nextProphecyID
            nextProphecyID += 1
            let horizon = world.settings.prophecyHorizon
            lastProphecy = Prophecy(id: id, tick: t, horizon: horizon, predictedStability: prediction.stability,
                                    predictedLoss: prediction.loss)
            if prediction.loss != nil {
                open.append(OpenProphecyV1_1(id: id, resolveTick: t + horizon, lossSeen: false))
            }
        }

        // 7. Paradox.
        lastParadox = nil
        if !open.isEmpty {
            var kept: [OpenProphecyV1_1] = []
            kept.reserveCapacity(open.count)
            for var prophecy in open {
                if lost { prophecy.lossSeen = true }
                if prophecy.resolveTick == t {
                    if !prophecy.lossSeen {
                        lastParadox = Paradox(tick: t, prophecy: prophecy.id, kind: "averted")
                    }
                } else {
                    kept.append(prophecy)
                }
            }
            open = kept
        }

        // 8.
        world.t = t + 1
    }

    func step() -> TraceStep {
        advance()
        return TraceStep(
            tick: world.t - 1, move: lastMove?.rawValue ?? "idle", state: worldSnapshot(),
            warning: lastWarning, loss: lastLoss, prophecy: lastProphecy, paradox: lastParadox,
            agents: agentSnapshots())
    }

    private func worldSnapshot() -> WorldSnapshot {
        WorldSnapshot(stability: world.S, basin: world.b, phase: Phase(stability: world.S), pressure: world.P,
                      ceiling: world.K)
    }

    private func agentSnapshots() -> [AgentSnapshot] {
        var result: [AgentSnapshot] = []
        result.reserveCapacity(world.agents.count)
        for (i, a) in world.agents.enumerated() {
            result.append(AgentSnapshot(id: world.agentIDs[i], capability: a.C, alignment: a.A, guardrail: a.G,
                                        pressure: a.p, lambda: a.lambda, gamma: a.gamma))
        }
        return result
    }

    func snapshot() -> SimulationSnapshot {
        SimulationSnapshot(tick: world.t, world: worldSnapshot(), agents: agentSnapshots())
    }

    // MARK: Checkpoints

    private static let magic: UInt64 = 0x4B41_4952_4F53_0110  // "KAIROS" 1.1

    func checkpoint() -> SimulationCheckpoint {
        var w = CheckpointWriter()
        w.u64(Self.magic)
        w.int(world.t)
        w.double(world.S)
        w.int(world.b)
        w.double(world.K)
        w.double(world.P)
        w.bool(world.lossArmed)
        w.u64(world.rng.s0)
        w.u64(world.rng.s1)
        w.u64(world.rng.s2)
        w.u64(world.rng.s3)
        w.int(world.historyNewest)
        for v in world.history { w.double(v) }
        w.int(world.agents.count)
        for a in world.agents {
            for v in [a.C, a.A, a.G, a.lambda, a.gamma, a.growth, a.A0, a.G0, a.p] { w.double(v) }
            w.int(a.frozen)
        }
        w.int(eventCursor)
        w.int(pendingDecrees.count)
        for d in pendingDecrees {
            w.string(d.kind.rawValue)
            w.bool(d.target != nil)
            if let target = d.target { w.string(target) }
            w.double(d.magnitude)
            w.int(d.ticks)
            w.optionalDouble(d.lambda)
            w.optionalDouble(d.gamma)
        }
        w.int(windowNewest)
        w.int(windowCount)
        for v in window { w.double(v) }
        w.bool(cautionArmed)
        w.bool(dangerArmed)
        w.int(open.count)
        for o in open {
            w.int(o.id)
            w.int(o.resolveTick)
            w.bool(o.lossSeen)
        }
        w.int(nextProphecyID)
        return SimulationCheckpoint(engineVersion: V11.version, tick: world.t, data: w.bytes)
    }

    convenience init(scenario: Scenario, checkpoint: SimulationCheckpoint) throws(CheckpointError) {
        self.init(scenario: scenario)
        var r = CheckpointReader(checkpoint.data)
        guard try r.u64() == Self.magic else { throw CheckpointError("not an engine 1.1.0 checkpoint") }
        world.t = try r.int()
        world.S = try r.double()
        world.b = try r.int()
        world.K = try r.double()
        world.P = try r.double()
        world.lossArmed = try r.bool()
        world.rng = Xoshiro256StarStar(state: try r.u64(), try r.u64(), try r.u64(), try r.u64())
        world.historyNewest = try r.int()
        guard (0 ..< V11.historyLength).contains(world.historyNewest) else { throw CheckpointError("checkpoint corrupt: history") }
        for i in 0 ..< V11.historyLength { world.history[i] = try r.double() }
        guard try r.int() == world.agents.count else {
            throw CheckpointError("checkpoint has a different number of agents than the scenario")
        }
        for i in world.agents.indices {
            let a = try (0 ..< 9).map { _ throws(CheckpointError) in try r.double() }
            world.agents[i] = AgentV1_1(C: a[0], A: a[1], G: a[2], lambda: a[3], gamma: a[4], growth: a[5], A0: a[6],
                                      G0: a[7], frozen: try r.int(), p: a[8])
        }
        eventCursor = try r.int()
        guard (0 ... events.count).contains(eventCursor) else { throw CheckpointError("checkpoint corrupt: events") }
        let decreeCount = try r.count(max: checkpoint.data.count)
        for _ in 0 ..< decreeCount {
            guard let kind = EventKind(rawValue: try r.string()) else { throw CheckpointError("checkpoint corrupt: decree") }
            let target = try r.bool() ? try r.string() : nil
            pendingDecrees.append(Action(kind: kind, target: target, magnitude: try r.double(), ticks: try r.int(),
                                         lambda: try r.optionalDouble(), gamma: try r.optionalDouble()))
        }
        windowNewest = try r.int()
        windowCount = try r.int()
        guard (0 ..< V11.windowLength).contains(windowNewest), (1 ... V11.windowLength).contains(windowCount) else {
            throw CheckpointError("checkpoint corrupt: window")
        }
        for i in 0 ..< V11.windowLength { window[i] = try r.double() }
        cautionArmed = try r.bool()
        dangerArmed = try r.bool()
        let openCount = try r.count(max: checkpoint.data.count)
        for _ in 0 ..< openCount {
            open.append(OpenProphecyV1_1(id: try r.int(), resolveTick: try r.int(), lossSeen: try r.bool()))
        }
        nextProphecyID = try r.int()
        guard r.atEnd else { throw CheckpointError("checkpoint has trailing bytes") }
    }
}
