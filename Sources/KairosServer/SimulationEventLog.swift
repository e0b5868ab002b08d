import KairosAPI
import KairosEngine

/// Derives a simulation's live events from its durable record — the log and the trace — so
/// the SSE endpoint can replay everything after a `Last-Event-ID` and then go on live with
/// the same numbering (`SimulationEventID`). The live hub (`SimulationEventChannel`) numbers
/// new log entries with the same `EventNumbering`, so replayed and live ids always agree.
enum SimulationEventLog {
    /// Every event in order, or those after `after`. `steps` is the trace (tick i at index i).
    static func events(simulationId: String, log: [SimulationLogEntry], steps: [TraceStep],
                       after: SimulationEventID? = nil) -> [SimulationEvent] {
        var numbering = EventNumbering()
        var events: [SimulationEvent] = []
        for entry in log {
            events += numbering.events(of: entry, simulationId: simulationId, skipTicksBefore: 0) { t in
                t < steps.count ? steps[t] : nil
            }
        }
        guard let after else { return events }
        return events.filter { ($0.id.map { $0 > after }) ?? false }
    }

    /// The events of one log entry (data only: the frame is `SimulationEvent.serverSentEvent`).
    static func entryEvents(_ entry: SimulationLogEntry, simulationId: String) -> [(SimulationEvent.Kind, JSONValue)] {
        switch entry.kind {
        case .step:
            return []
        case .decree, .policy:
            let id = entry.payload["id"]?.stringValue ?? "policy-\(entry.sequence)"
            return [(.decree, .object(["id": .string(id), "simulationId": .string(simulationId),
                                       "tick": .number(Double(entry.tick)), "decree": entry.payload["decree"] ?? .null]))]
        case .status:
            guard case .object(let members) = entry.payload else { return [] }
            var events: [(SimulationEvent.Kind, JSONValue)] = []
            // A playback step the engine refused: the `error` event, then the pause it caused.
            // Members in a fixed order, whether the payload comes from the change just stored or
            // from the log (stored as canonical JSON, keys sorted): every replica and every
            // replay sends the same bytes.
            func ordered(_ members: [JSONMember], first keys: [String]) -> [JSONMember] {
                keys.compactMap { key in members.first { $0.key == key } } + members.filter { !keys.contains($0.key) }
            }
            if let error = entry.payload["error"], case .object(let found) = error {
                var errorMembers = ordered(found, first: ["code", "message", "details"])
                errorMembers.append(JSONMember(key: "simulationId", value: .string(simulationId)))
                errorMembers.append(JSONMember(key: "tick", value: .number(Double(entry.tick))))
                events.append((.error, .object(errorMembers)))
            }
            var status = ordered(members.filter { $0.key != "error" }, first: ["status", "speed"])
            status.append(JSONMember(key: "tick", value: .number(Double(entry.tick))))
            events.append((.status, .object(status)))
            return events
        }
    }
}

/// Numbers events `<tick>-<n>` as the log is walked in order. Log ticks never decrease, so
/// only the open tick group needs a counter.
struct EventNumbering: Sendable, Equatable {
    var tick = 0
    var index = 0

    /// Opens tick group `t` (a new group counts from 0).
    private mutating func enter(_ t: Int) {
        if t != tick {
            tick = t
            index = 0
        }
    }

    mutating func take(_ t: Int) -> SimulationEventID {
        enter(t)
        index += 1
        return SimulationEventID(tick: t, index: index - 1)
    }

    /// The events of `entry`, numbered; steps come from `step` (nil: that tick is skipped).
    /// Ticks below `skipTicksBefore` are not derived at all (a resume after a later id).
    mutating func events(of entry: SimulationLogEntry, simulationId: String, skipTicksBefore: Int,
                         step: (Int) -> TraceStep?) -> [SimulationEvent] {
        guard entry.kind == .step else {
            return SimulationEventLog.entryEvents(entry, simulationId: simulationId).map { kind, data in
                SimulationEvent(id: take(entry.tick), kind: kind, data: data)
            }
        }
        let ticks = entry.payload["ticks"]?.integerValue ?? 0
        var events: [SimulationEvent] = []
        for t in max(entry.tick, skipTicksBefore) ..< max(entry.tick + ticks, skipTicksBefore) {
            guard let s = step(t) else { continue }
            enter(t)
            let stepEvents = SimulationEvent.events(of: s, firstIndex: index)
            index += stepEvents.count
            events += stepEvents
        }
        return events
    }
}
