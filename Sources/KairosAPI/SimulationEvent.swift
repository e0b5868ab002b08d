import KairosEngine

/// One live event of a simulation (seed 003, API.md "Events"): what SSE sends as
/// `id: …\nevent: …\ndata: …\n\n` and what the client reads back.
public struct SimulationEvent: Sendable, Equatable {
    /// The event types of seed 003.
    public enum Kind: String, Sendable, CaseIterable {
        case tick, loss, warning, paradox, decree, prophecy
        case status = "simulation:status"
        case error, heartbeat
    }

    public var id: SimulationEventID?
    public var kind: Kind
    public var data: JSONValue?

    public init(id: SimulationEventID?, kind: Kind, data: JSONValue?) {
        self.id = id
        self.kind = kind
        self.data = data
    }

    /// The SSE frame (data compact JSON on one line; a heartbeat has an empty `data:`).
    public var serverSentEvent: String {
        var text = ""
        if let id { text += "id: \(id)\n" }
        text += "event: \(kind.rawValue)\n"
        text += "data: " + (data.map(Self.compact) ?? "") + "\n\n"
        return text
    }

    /// Compact JSON with the members in the order the event builds them (seed 003's order).
    public static func compact(_ value: JSONValue) -> String {
        var w = CanonicalJSONWriter(capacity: 1024)
        w.orderedValue(value)
        return String(decoding: w.bytes, as: UTF8.self)
    }
}

/// An event id `<tick>-<n>`: the n-th event (from 0) of tick group `tick`. A tick group holds
/// the decrees, policy changes and status changes made while `tick` was the next tick to
/// compute, then the events of computing it (tick, warning, loss, prophecy, paradox). Ids
/// order events exactly as they happened, and are derived from the durable log and trace, so
/// `Last-Event-ID` resumes without losing or repeating anything.
public struct SimulationEventID: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var tick: Int
    public var index: Int

    public init(tick: Int, index: Int) {
        self.tick = tick
        self.index = index
    }

    /// Parses `<tick>-<n>`; nil otherwise.
    public init?(_ text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let tick = Int(parts[0]), let index = Int(parts[1]), tick >= 0, index >= 0 else { return nil }
        self.init(tick: tick, index: index)
    }

    public var description: String { "\(tick)-\(index)" }

    public static func < (a: Self, b: Self) -> Bool { (a.tick, a.index) < (b.tick, b.index) }
}

extension SimulationEvent {
    /// The `tick` event's data: `{t, b, lastMove, state, warning, agents}`.
    public static func tickData(_ step: TraceStep) -> JSONValue {
        .object([
            "t": .number(Double(step.tick)), "b": .number(Double(step.state.basin)), "lastMove": .string(step.move),
            "state": step.state.jsonValue, "warning": step.jsonValue["warning"] ?? .null,
            "agents": .array(step.agents.map(\.jsonValue)),
        ])
    }

    /// The events of computing one step, numbered from `firstIndex` in its tick group.
    public static func events(of step: TraceStep, firstIndex: Int = 0) -> [SimulationEvent] {
        var events: [(Kind, JSONValue)] = [(.tick, tickData(step))]
        let json = step.jsonValue
        if step.warning != nil, let w = json["warning"] { events.append((.warning, w)) }
        if let loss = step.loss { events.append((.loss, loss.jsonValue)) }
        if let prophecy = step.prophecy { events.append((.prophecy, prophecy.jsonValue)) }
        if step.paradox != nil, let p = json["paradox"] { events.append((.paradox, p)) }
        return events.enumerated().map { i, e in
            SimulationEvent(id: SimulationEventID(tick: step.tick, index: firstIndex + i), kind: e.0, data: e.1)
        }
    }
}
