import KairosAPI
import KairosEngine

/// Derives a simulation's live events from its durable record — the log and the trace — so
/// the SSE endpoint (issue 6) can replay everything after a `Last-Event-ID` and then go on
/// live with the same numbering (`SimulationEventID`).
enum SimulationEventLog {
    /// Every event in order, or those after `after`. `steps` is the trace (tick i at index i).
    static func events(simulationId: String, log: [SimulationLogEntry], steps: [TraceStep],
                       after: SimulationEventID? = nil) -> [SimulationEvent] {
        var nextIndex: [Int: Int] = [:]
        var events: [SimulationEvent] = []
        func take(_ tick: Int) -> SimulationEventID {
            let index = nextIndex[tick, default: 0]
            nextIndex[tick] = index + 1
            return SimulationEventID(tick: tick, index: index)
        }
        for entry in log {
            switch entry.kind {
            case .step:
                let ticks = entry.payload["ticks"]?.integerValue ?? 0
                for t in entry.tick ..< entry.tick + ticks where t < steps.count {
                    let stepEvents = SimulationEvent.events(of: steps[t], firstIndex: nextIndex[t, default: 0])
                    nextIndex[t, default: 0] += stepEvents.count
                    events += stepEvents
                }
            case .decree, .policy:
                let id = entry.payload["id"]?.stringValue ?? "policy-\(entry.sequence)"
                let data = JSONValue.object(["id": .string(id), "simulationId": .string(simulationId),
                                             "tick": .number(Double(entry.tick)), "decree": entry.payload["decree"] ?? .null])
                events.append(SimulationEvent(id: take(entry.tick), kind: .decree, data: data))
            case .status:
                guard case .object(var members) = entry.payload else { continue }
                members.append(JSONMember(key: "tick", value: .number(Double(entry.tick))))
                events.append(SimulationEvent(id: take(entry.tick), kind: .status, data: .object(members)))
            }
        }
        guard let after else { return events }
        return events.filter { ($0.id.map { $0 > after }) ?? false }
    }
}
