import DequeModule
import KairosAPI
import KairosEngine
import NIOConcurrencyHelpers
import NIOCore

/// Shared storage that keeps, for a while, the steps each stored change computed, so every
/// replica can send a change's events (PostgreSQL's `event_segment`).
protocol EventSegmentSource: Sendable {
    /// By the first log sequence of the change that computed them, from `sequence` on.
    func eventSegments(simulationId: String, from sequence: Int) async throws -> [Int: TraceSegment]
}

/// Which simulations this replica's live streams follow (PostgreSQL's `event_follow`).
protocol EventFollows: Sendable {
    func follow(_ id: String) async throws
    func unfollow(_ id: String) async
}

/// One event as SSE sends it: its id and its frame, encoded once for every subscriber.
struct EventFrame: Sendable {
    var id: SimulationEventID
    var kind: SimulationEvent.Kind
    var bytes: ByteBuffer

    init(_ event: SimulationEvent) {
        id = event.id ?? SimulationEventID(tick: 0, index: 0)
        kind = event.kind
        bytes = ByteBuffer(string: event.serverSentEvent)
    }

    static let heartbeat = ByteBuffer(string: SimulationEvent(id: nil, kind: .heartbeat, data: nil).serverSentEvent)
}

/// Where a subscriber is: every event of log entries before `sequence` is sent, and the last
/// event sent is `lastId` (events at or before it are never sent again).
struct EventCursor: Sendable, Equatable {
    var sequence: Int
    var lastId: SimulationEventID?
}

/// What wakes a subscriber's stream.
enum EventSignal: Sendable {
    /// New events were published.
    case wake
    /// Time for a heartbeat.
    case heartbeat
    /// The client's connection closed.
    case closed
}

/// The live side of SSE. Every stored change of a simulation passes through here once (the
/// repository decorator `PublishingSimulationRepository` publishes it under a per-simulation
/// gate, so in commit order); while a simulation has subscribers, its `SimulationEventChannel`
/// turns each change into frames once and keeps the recent ones in a bounded buffer that all
/// subscribers read. A subscriber that falls behind the buffer replays from the repository.
final class SimulationEventHub: Sendable {
    let repository: any SimulationRepository
    /// Serialises, per simulation, storing a change and publishing it (and creating a channel).
    let gate = KeyedGate()
    let bufferCapacity: Int
    private let channels = NIOLockedValueBox<[String: (channel: SimulationEventChannel, subscribers: Int)]>([:])
    private let heartbeat: HeartbeatTicker
    private let streamTokens = NIOLockedValueBox(0)

    /// On PostgreSQL: tells the other replicas which simulations are followed here, so their
    /// changes keep the steps the live events need (`event_segment`).
    let follows: (any EventFollows)?

    /// Where replays from the log and the frames they make are computed.
    let engine: EnginePool

    init(repository: any SimulationRepository, engine: EnginePool, heartbeatSeconds: Double, bufferCapacity: Int = 4096,
         follows: (any EventFollows)? = nil) {
        self.engine = engine
        self.follows = follows
        self.repository = repository
        self.bufferCapacity = bufferCapacity
        heartbeat = HeartbeatTicker(seconds: heartbeatSeconds)
    }

    /// Simulations with at least one live subscriber.
    var activeChannels: Int { channels.withLockedValue { $0.count } }

    func channel(for id: String) -> SimulationEventChannel? { channels.withLockedValue { $0[id]?.channel } }

    /// Called with the gate held, after `change` is stored.
    func publish(_ change: SimulationChange) async {
        guard !change.log.isEmpty, let channel = channel(for: change.record.id) else { return }
        // Shared storage: another replica may have stored changes just before this one that
        // this channel has not seen yet; take them all from the database, in order.
        if repository is any EventSegmentSource, let first = change.log.first?.sequence, await channel.expectedSequence < first {
            // Should reading fail, the channel stays where it is and the next notification retries.
            try? await catchUp(change.record.id)
            return
        }
        await channel.apply(change)
    }

    /// Simulations with a catch-up queued (coalesces notifications).
    private let pendingCatchUps = NIOLockedValueBox<Set<String>>([])

    /// Another replica stored a change of `id` (a PostgreSQL notification): if anyone here
    /// follows it, its channel catches up from the database.
    func changed(_ id: String) {
        guard channel(for: id) != nil, pendingCatchUps.withLockedValue({ $0.insert(id).inserted }) else { return }
        Task {
            pendingCatchUps.withLockedValue { _ = $0.remove(id) }
            _ = try? await gate.withLock(id) { try await catchUp(id) }
        }
    }

    /// Catches every channel up (after the notification connection was lost).
    func catchUpAll() {
        for id in channels.withLockedValue({ Array($0.keys) }) { changed(id) }
    }

    /// With the gate held: publishes the stored log entries the channel has not seen, with the
    /// steps other replicas kept for live streams (`EventSegmentSource`); when those are gone,
    /// renumbers from the stored record and its subscribers replay from the log.
    func catchUp(_ id: String) async throws {
        guard let channel = channel(for: id), let source = repository as? any EventSegmentSource else { return }
        let next = await channel.expectedSequence
        let entries = try await repository.log(simulationId: id, from: next)
        guard !entries.isEmpty else { return }
        let segments = entries.contains { $0.kind == .step }
            ? Array(try await source.eventSegments(simulationId: id, from: next).values) : []
        if await channel.apply(log: entries, segments: segments) { return }
        guard let record = try await repository.find(id: id) else { return }
        await channel.reset(sequence: record.logLength, numbering: try await Self.openNumbering(record, repository: repository))
    }

    /// A subscription to `id`'s live events, positioned at the events not yet published.
    func subscribe(_ id: String, signals: AsyncStream<EventSignal>.Continuation) async throws -> (SimulationEventChannel, Int, EventCursor) {
        let channel: SimulationEventChannel = try await gate.withLock(id) {
            if let existing = channels.withLockedValue({ entries -> SimulationEventChannel? in
                guard let entry = entries[id] else { return nil }
                entries[id] = (entry.channel, entry.subscribers + 1)
                return entry.channel
            }) { return existing }
            // Followed before the record is read: every change stored after it keeps its steps.
            if let follows { try await follows.follow(id) }
            guard let record = try await repository.find(id: id) else {
                await follows?.unfollow(id)
                throw APIError.simulationNotFound
            }
            let numbering = try await Self.openNumbering(record, repository: repository)
            let created = SimulationEventChannel(simulationId: id, sequence: record.logLength, numbering: numbering,
                                                 capacity: bufferCapacity)
            channels.withLockedValue { $0[id] = (created, 1) }
            return created
        }
        let token = streamTokens.withLockedValue { t in
            t += 1
            return t
        }
        let cursor = await channel.add(signals, token: token)
        heartbeat.add(token: token, signals)
        return (channel, token, cursor)
    }

    func unsubscribe(_ id: String, channel: SimulationEventChannel, token: Int) async {
        heartbeat.remove(token: token)
        await channel.remove(token)
        _ = try? await gate.withLock(id) {
            let closed = channels.withLockedValue { entries -> Bool in
                guard let entry = entries[id], entry.channel === channel else { return false }
                entries[id] = entry.subscribers <= 1 ? nil : (entry.channel, entry.subscribers - 1)
                return entry.subscribers <= 1
            }
            if closed { await follows?.unfollow(id) }
        }
    }

    /// The numbering of the tick group open after `record`'s log: the status, decree and
    /// policy entries at `record.tick` (log ticks never decrease, so they are the last ones).
    static func openNumbering(_ record: SimulationRecord, repository: any SimulationRepository) async throws -> EventNumbering {
        var from = max(0, record.logLength - 64)
        while true {
            let tail = try await repository.log(simulationId: record.id, from: from).filter { $0.sequence < record.logLength }
            var numbering = EventNumbering(tick: record.tick, index: 0)
            var open = 0
            for entry in tail.reversed() {
                guard entry.kind != .step, entry.tick == record.tick else { break }
                open += SimulationEventLog.entryEvents(entry, simulationId: record.id).count
            }
            if open == tail.count, from > 0 { // the whole tail is in the open group: look further back
                from = 0
                continue
            }
            numbering.index = open
            return numbering
        }
    }

    /// The events of the stored record's log entries from `fromSequence` on that come after
    /// `after` (nil: all of them), and the log length they cover: the durable path for a
    /// `Last-Event-ID` resume and for subscribers that fell behind the live buffer.
    func durableFrames(_ id: String, fromSequence: Int, after: SimulationEventID?) async throws -> ([EventFrame], Int) {
        guard let record = try await repository.find(id: id) else { throw APIError.simulationNotFound }
        let log = try await repository.log(simulationId: id, from: 0).filter { $0.sequence < record.logLength }
        var firstTick = after?.tick ?? 0
        if let entry = log.first(where: { $0.sequence >= fromSequence }) { firstTick = max(firstTick, entry.tick) }
        let needsSteps = record.tick > firstTick && log.contains(where: { $0.sequence >= fromSequence && $0.kind == .step })
        let stored = needsSteps && record.storesTrace
            ? try await repository.traceSegments(simulationId: id, fromTick: firstTick).filter { $0.firstTick < record.tick } : []
        let frames = try await engine.compute { [firstTick] in
            try Self.frames(of: record, log: log, stored: stored, needsSteps: needsSteps, id: id, fromSequence: fromSequence,
                            after: after, firstTick: firstTick)
        }
        return (frames, record.logLength)
    }

    /// `durableFrames`' CPU part (on the engine pool): the steps' lines (`stored`, or the log
    /// replayed) and the events of the log entries.
    private static func frames(of record: SimulationRecord, log: [SimulationLogEntry], stored: [TraceSegment], needsSteps: Bool,
                               id: String, fromSequence: Int, after: SimulationEventID?, firstTick: Int) throws -> [EventFrame] {
        var lines = TraceLines()
        if needsSteps {
            if record.storesTrace {
                for segment in stored { lines.add(segment) }
            } else {
                // Replayed from tick 0 (the engine is cheap), encoded only from the resume point.
                lines.add(TraceSegment(firstTick: firstTick, tickCount: record.tick - firstTick,
                                       lines: try SimulationDriver.replay(record, log: log, fromTick: firstTick)))
            }
        }
        // Steps before the first wanted entry are skipped (a step closes its tick groups); the
        // other entries are numbered so the open group's count stays exact.
        var numbering = EventNumbering()
        var frames: [EventFrame] = []
        for entry in log {
            if entry.kind == .step, entry.sequence < fromSequence || entry.tick + (entry.payload["ticks"]?.integerValue ?? 0) <= firstTick {
                continue
            }
            let events = numbering.events(of: entry, simulationId: id, skipTicksBefore: firstTick, step: lines.step)
            guard entry.sequence >= fromSequence else { continue }
            for event in events {
                if let after, let eventId = event.id, eventId <= after { continue }
                frames.append(EventFrame(event))
            }
        }
        return frames
    }
}

/// Trace lines by tick, parsed into steps only when asked for.
struct TraceLines {
    private var segments: [TraceSegment] = []
    private var offsets: [[Int]] = []

    mutating func add(_ segment: TraceSegment) {
        var starts: [Int] = [0]
        starts.reserveCapacity(segment.tickCount + 1)
        for (i, byte) in segment.lines.enumerated() where byte == 0x0A { starts.append(i + 1) }
        segments.append(segment)
        offsets.append(starts)
    }

    /// Whether every tick of `ticks` has a line.
    func covers(_ ticks: Range<Int>) -> Bool {
        ticks.allSatisfy { t in
            segments.indices.contains { t >= segments[$0].firstTick && t < segments[$0].firstTick + segments[$0].tickCount
                && t - segments[$0].firstTick + 1 < offsets[$0].count }
        }
    }

    func step(_ tick: Int) -> TraceStep? {
        for (s, segment) in segments.enumerated() where tick >= segment.firstTick && tick < segment.firstTick + segment.tickCount {
            let i = tick - segment.firstTick
            guard i + 1 < offsets[s].count else { return nil }
            let line = segment.lines[offsets[s][i] ..< offsets[s][i + 1] - 1]
            return (try? JSONParser.parse(Array(line))).flatMap(TraceStep.init(json:))
        }
        return nil
    }
}

/// The live events of one simulation while it has subscribers.
actor SimulationEventChannel {
    private struct Batch {
        var sequence: Int
        var frames: [EventFrame]
    }

    let simulationId: String
    /// The next log sequence to publish.
    private var nextSequence: Int
    /// Events of log entries from here on are in `batches`.
    private var firstSequence: Int
    private var numbering: EventNumbering
    private var batches: Deque<Batch> = []
    private var buffered = 0
    private let capacity: Int
    private var subscribers: [Int: AsyncStream<EventSignal>.Continuation] = [:]

    init(simulationId: String, sequence: Int, numbering: EventNumbering, capacity: Int) {
        self.simulationId = simulationId
        nextSequence = sequence
        firstSequence = sequence
        self.numbering = numbering
        self.capacity = capacity
    }

    func add(_ signals: AsyncStream<EventSignal>.Continuation, token: Int) -> EventCursor {
        subscribers[token] = signals
        return EventCursor(sequence: nextSequence, lastId: nil)
    }

    func remove(_ token: Int) { subscribers[token] = nil }

    /// The next log sequence to publish.
    var expectedSequence: Int { nextSequence }

    /// Numbers and encodes the events of a stored change (once, whoever listens), then wakes
    /// every subscriber.
    func apply(_ change: SimulationChange) {
        _ = apply(log: change.log, segments: change.segment.map { [$0] } ?? [], checked: false)
    }

    /// `apply` for log entries read back from shared storage with the steps they computed;
    /// false (nothing applied) when a step's ticks are not all in `segments`.
    func apply(log: [SimulationLogEntry], segments: [TraceSegment], checked: Bool = true) -> Bool {
        let log = log.filter { $0.sequence >= nextSequence }
        guard let first = log.first?.sequence, first >= nextSequence else { return true }
        var lines = TraceLines()
        for segment in segments { lines.add(segment) }
        if checked {
            if first != nextSequence { return false }
            for entry in log where entry.kind == .step {
                let ticks = entry.payload["ticks"]?.integerValue ?? 0
                guard lines.covers(entry.tick ..< entry.tick + ticks) else { return false }
            }
        }
        var frames: [EventFrame] = []
        for entry in log {
            for event in numbering.events(of: entry, simulationId: simulationId, skipTicksBefore: 0, step: lines.step) {
                frames.append(EventFrame(event))
            }
        }
        nextSequence = (log.last?.sequence ?? first) + 1
        if !frames.isEmpty {
            batches.append(Batch(sequence: first, frames: frames))
            buffered += frames.count
            while buffered > capacity, batches.count > 1, let dropped = batches.popFirst() {
                buffered -= dropped.frames.count
                firstSequence = batches.first?.sequence ?? nextSequence
            }
        }
        for signals in subscribers.values { signals.yield(.wake) }
        return true
    }

    /// Forgets the buffer and continues at `sequence`, numbered from `numbering`: subscribers
    /// behind it replay from the log.
    func reset(sequence: Int, numbering: EventNumbering) {
        self.numbering = numbering
        batches.removeAll()
        buffered = 0
        nextSequence = max(nextSequence, sequence)
        firstSequence = nextSequence
        for signals in subscribers.values { signals.yield(.wake) }
    }

    enum Read: Sendable {
        case frames([EventFrame], EventCursor)
        /// The buffer no longer holds everything after the cursor: replay from the repository.
        case behind
    }

    /// The buffered events after `cursor`.
    func read(after cursor: EventCursor) -> Read {
        if cursor.sequence < firstSequence { return .behind }
        var start = batches.endIndex
        while start > batches.startIndex, batches[batches.index(before: start)].sequence >= cursor.sequence {
            start = batches.index(before: start)
        }
        var frames: [EventFrame] = []
        for batch in batches[start...] {
            for frame in batch.frames where cursor.lastId.map({ frame.id > $0 }) ?? true { frames.append(frame) }
        }
        return .frames(frames, EventCursor(sequence: max(cursor.sequence, nextSequence), lastId: frames.last?.id ?? cursor.lastId))
    }

    /// A cursor right after `id` when the buffer still holds every event after it.
    func cursor(after id: SimulationEventID) -> EventCursor? {
        guard let oldest = batches.first?.frames.first, oldest.id <= id else { return nil }
        return EventCursor(sequence: firstSequence, lastId: id)
    }
}

/// Sends `heartbeat` to every open stream every `seconds`, from one task.
final class HeartbeatTicker: Sendable {
    let seconds: Double
    private let state = NIOLockedValueBox<(streams: [Int: AsyncStream<EventSignal>.Continuation], task: Task<Void, Never>?)>(([:], nil))

    init(seconds: Double) { self.seconds = seconds }

    func add(token: Int, _ signals: AsyncStream<EventSignal>.Continuation) {
        state.withLockedValue { s in
            s.streams[token] = signals
            if s.task == nil {
                let seconds = seconds
                s.task = Task { [weak self] in
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
                        guard let self, !Task.isCancelled else { return }
                        for signals in self.state.withLockedValue({ Array($0.streams.values) }) { signals.yield(.heartbeat) }
                    }
                }
            }
        }
    }

    func remove(token: Int) {
        state.withLockedValue { s in
            s.streams[token] = nil
            if s.streams.isEmpty {
                s.task?.cancel()
                s.task = nil
            }
        }
    }
}

/// Stores through `base` and publishes every stored change to the hub, under the hub's
/// per-simulation gate so changes reach subscribers in commit order.
struct PublishingSimulationRepository<Base: SimulationRepository>: SimulationRepositoryDecorator {
    let base: Base
    let hub: SimulationEventHub

    func update<Result: Sendable>(
        id: String, _ body: @Sendable (SimulationRecord) async throws -> (SimulationChange, Result)
    ) async throws -> Result? {
        try await hub.gate.withLock(id) {
            guard let (result, change) = try await base.updateReturningChange(id: id, body) else { return nil }
            await hub.publish(change)
            return result
        }
    }
}
