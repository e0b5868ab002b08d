/// The steps of a trace in a compact, column-wise form: a step of one agent takes about 80
/// bytes instead of ~350 as a `TraceStep` (its agents array, strings and optionals), so a run
/// of 10^6 ticks fits in ~100 MB (issue 17). The full `TraceStep` is built when an element is
/// read. A collection of `TraceStep`s like an array; appending keeps the compact form while
/// the steps look like an engine's (consecutive ticks, the same agents in the same order) and
/// falls back to storing the steps as they are otherwise.
public struct TraceSteps: RandomAccessCollection, Sendable, Equatable, ExpressibleByArrayLiteral {
    public typealias Element = TraceStep
    public typealias Index = Int

    private enum Storage: Sendable {
        case columns(Columns)
        case plain([TraceStep])
    }

    /// One entry per step in every dense column; optional members in sparse columns sorted
    /// by step index.
    private struct Columns: Sendable {
        var count = 0
        var firstTick = 0
        var agentIDs: [String] = []
        var stability: [Double] = []
        var pressure: [Double] = []
        var ceiling: [Double] = []
        var basin: [Int32] = []
        var phase: [UInt8] = []
        var move: [UInt32] = []
        var moveNames: [String] = []
        /// Per step, per agent: capability, alignment, guardrail, pressure, lambda, gamma.
        var agents: [Double] = []
        var warningAt: [Int32] = [], warnings: [StabilityWarning] = []
        var lossAt: [Int32] = [], losses: [BasinLoss] = []
        var prophecyAt: [Int32] = [], prophecies: [Prophecy] = []
        var paradoxAt: [Int32] = [], paradoxes: [Paradox] = []

        static let phases: [Phase] = [.stable, .strained, .critical, .collapsed]

        func fits(_ s: TraceStep) -> Bool {
            guard count < Int(Int32.max), Int32(exactly: s.state.basin) != nil else { return false }
            if count == 0 { return true }
            guard s.tick == firstTick + count, s.agents.count == agentIDs.count else { return false }
            for (a, id) in zip(s.agents, agentIDs) where a.id != id { return false }
            return true
        }

        mutating func reserve(_ n: Int, agents perStep: Int) {
            stability.reserveCapacity(n)
            pressure.reserveCapacity(n)
            ceiling.reserveCapacity(n)
            basin.reserveCapacity(n)
            phase.reserveCapacity(n)
            move.reserveCapacity(n)
            agents.reserveCapacity(n * 6 * perStep)
        }

        mutating func append(_ s: TraceStep) {
            if count == 0 {
                firstTick = s.tick
                agentIDs = s.agents.map(\.id)
            }
            let index = Int32(count)
            stability.append(s.state.stability)
            pressure.append(s.state.pressure)
            ceiling.append(s.state.ceiling)
            basin.append(Int32(s.state.basin))
            phase.append(UInt8(Self.phases.firstIndex(of: s.state.phase) ?? 0))
            if let m = moveNames.firstIndex(of: s.move) {
                move.append(UInt32(m))
            } else {
                move.append(UInt32(moveNames.count))
                moveNames.append(s.move)
            }
            for a in s.agents {
                agents.append(a.capability)
                agents.append(a.alignment)
                agents.append(a.guardrail)
                agents.append(a.pressure)
                agents.append(a.lambda)
                agents.append(a.gamma)
            }
            if let w = s.warning {
                warningAt.append(index)
                warnings.append(w)
            }
            if let l = s.loss {
                lossAt.append(index)
                losses.append(l)
            }
            if let p = s.prophecy {
                prophecyAt.append(index)
                prophecies.append(p)
            }
            if let p = s.paradox {
                paradoxAt.append(index)
                paradoxes.append(p)
            }
            count += 1
        }

        /// The position of step `i` in a sparse column, if it has an entry there.
        static func find(_ i: Int, in at: [Int32]) -> Int? {
            var low = 0
            var high = at.count
            let key = Int32(i)
            while low < high {
                let mid = (low + high) / 2
                if at[mid] < key { low = mid + 1 } else { high = mid }
            }
            return low < at.count && at[low] == key ? low : nil
        }

        func step(_ i: Int) -> TraceStep {
            let n = agentIDs.count
            var list: [AgentSnapshot] = []
            list.reserveCapacity(n)
            var k = i * 6 * n
            for id in agentIDs {
                list.append(AgentSnapshot(id: id, capability: agents[k], alignment: agents[k + 1], guardrail: agents[k + 2],
                                          pressure: agents[k + 3], lambda: agents[k + 4], gamma: agents[k + 5]))
                k += 6
            }
            return TraceStep(
                tick: firstTick + i, move: moveNames[Int(move[i])],
                state: WorldSnapshot(stability: stability[i], basin: Int(basin[i]), phase: Self.phases[Int(phase[i])],
                                     pressure: pressure[i], ceiling: ceiling[i]),
                warning: Self.find(i, in: warningAt).map { warnings[$0] },
                loss: Self.find(i, in: lossAt).map { losses[$0] },
                prophecy: Self.find(i, in: prophecyAt).map { prophecies[$0] },
                paradox: Self.find(i, in: paradoxAt).map { paradoxes[$0] },
                agents: list)
        }
    }

    private var storage: Storage = .columns(Columns())
    private var reserved = 0

    public init() {}

    public init(_ steps: some Sequence<TraceStep>) {
        reserveCapacity(steps.underestimatedCount)
        for s in steps { append(s) }
    }

    public init(arrayLiteral elements: TraceStep...) { self.init(elements) }

    public var startIndex: Int { 0 }
    public var endIndex: Int {
        switch storage {
        case .columns(let c): c.count
        case .plain(let steps): steps.count
        }
    }

    public subscript(position: Int) -> TraceStep {
        precondition(position >= 0 && position < endIndex, "step index \(position) out of range 0..<\(endIndex)")
        switch storage {
        case .columns(let c): return c.step(position)
        case .plain(let steps): return steps[position]
        }
    }

    /// The stability after step `i`, without building the step.
    public func stability(at i: Int) -> Double {
        precondition(i >= 0 && i < endIndex, "step index \(i) out of range 0..<\(endIndex)")
        switch storage {
        case .columns(let c): return c.stability[i]
        case .plain(let steps): return steps[i].state.stability
        }
    }

    /// The tick of step `i`, without building the step.
    public func tick(at i: Int) -> Int {
        precondition(i >= 0 && i < endIndex, "step index \(i) out of range 0..<\(endIndex)")
        switch storage {
        case .columns(let c): return c.firstTick + i
        case .plain(let steps): return steps[i].tick
        }
    }

    /// Room for `n` steps in all (with the agents of the first step appended).
    public mutating func reserveCapacity(_ n: Int) {
        reserved = Swift.max(reserved, n)
        switch storage {
        case .columns(var c):
            if c.count > 0 {
                storage = .plain([])
                c.reserve(n, agents: c.agentIDs.count)
            }
            storage = .columns(c)
        case .plain(var steps):
            storage = .plain([])
            steps.reserveCapacity(n)
            storage = .plain(steps)
        }
    }

    public mutating func append(_ step: TraceStep) {
        switch storage {
        case .columns(var c):
            guard c.fits(step) else {
                var steps = Array(self)
                steps.append(step)
                storage = .plain(steps)
                return
            }
            storage = .plain([])  // drop the enum's reference so `c` is appended to in place
            if c.count == 0, reserved > 0 { c.reserve(reserved, agents: step.agents.count) }
            c.append(step)
            storage = .columns(c)
        case .plain(var steps):
            storage = .plain([])
            steps.append(step)
            storage = .plain(steps)
        }
    }

    public static func == (a: TraceSteps, b: TraceSteps) -> Bool {
        a.count == b.count && a.elementsEqual(b)
    }

    /// The same steps as an array holds (code that held `[TraceStep]` compares as before).
    public static func == (a: TraceSteps, b: [TraceStep]) -> Bool {
        a.count == b.count && a.elementsEqual(b)
    }

    public static func == (a: [TraceStep], b: TraceSteps) -> Bool { b == a }
}
