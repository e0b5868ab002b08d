import KairosAPI
import KairosEngine
import Synchronization

/// Remembers what `POST /simulations/run` computed, keyed by what determines it: the canonical
/// scenario, the engine version and the tick count. The engine is deterministic (ENGINE.md), so
/// a second identical request may reuse the steps, digest, final state and checkpoint of the
/// first instead of recomputing and re-encoding them; it still stores a new simulation of its
/// own. Sweeps that repeat a baseline and dashboards that re-run a catalog scenario hit this.
///
/// Bounded by the bytes it holds (least recently used entries go first); entries bigger than a
/// quarter of the budget are never kept.
final class RunMemo: Sendable {
    struct Key: Hashable, Sendable {
        var scenario: [UInt8]
        var version: EngineVersion
        var ticks: Int

        /// Hashes the scenario's bytes in one call rather than byte by byte.
        func hash(into hasher: inout Hasher) {
            scenario.withUnsafeBytes { hasher.combine(bytes: $0) }
            hasher.combine(version)
            hasher.combine(ticks)
        }
    }

    /// A computed run with the request-specific fields (id, organization, catalog id, times)
    /// still to be filled in, plus the digest of its steps (the answer is laid out from the
    /// stored lines, `TraceDocument.runAnswer`).
    struct Entry: Sendable {
        var change: SimulationChange
        var digest: String
        var bytes: Int {
            (change.segment?.lines.count ?? 0) + change.record.checkpoint.data.count
                + change.record.state.count + change.record.initialState.count
        }
    }

    /// An entry and its last use, boxed so that finding the oldest copies no entry.
    private final class Slot {
        let entry: Entry
        var lastUse: UInt64
        init(_ entry: Entry, lastUse: UInt64) {
            self.entry = entry
            self.lastUse = lastUse
        }
    }

    private struct State {
        var entries: [Key: Slot] = [:]
        var bytes = 0
        var clock: UInt64 = 0
        var hits = 0
        var misses = 0
    }

    let capacityBytes: Int
    private let state = Mutex(State())

    init(capacityBytes: Int = 48 << 20) {
        self.capacityBytes = capacityBytes
    }

    /// The remembered run for `key`, if any.
    func lookup(_ key: Key) -> Entry? {
        state.withLock { s in
            s.clock += 1
            guard let found = s.entries[key] else {
                s.misses += 1
                return nil
            }
            s.hits += 1
            found.lastUse = s.clock
            return found.entry
        }
    }

    func remember(_ entry: Entry, for key: Key) {
        let size = entry.bytes + key.scenario.count
        guard size <= capacityBytes / 4 else { return }
        state.withLock { s in
            s.clock += 1
            if let old = s.entries.updateValue(Slot(entry, lastUse: s.clock), forKey: key) {
                s.bytes -= old.entry.bytes + key.scenario.count
            }
            s.bytes += size
            while s.bytes > capacityBytes, let oldest = s.entries.min(by: { $0.value.lastUse < $1.value.lastUse }) {
                s.bytes -= oldest.value.entry.bytes + oldest.key.scenario.count
                s.entries[oldest.key] = nil
            }
        }
    }

    /// Hits and misses so far (tests, metrics).
    var counts: (hits: Int, misses: Int, bytes: Int) {
        state.withLock { ($0.hits, $0.misses, $0.bytes) }
    }
}

/// A segment's steps rendered once for answers: the digest and the JSON array body
/// (`step,step,…`, no brackets).
struct RenderedSteps: Sendable, Equatable {
    var digest: String
    var jsonSteps: [UInt8]

    init(_ segments: [TraceSegment]) {
        digest = TraceDocument.digest(segments)
        jsonSteps = TraceDocument.jsonSteps(segments)
    }
}
