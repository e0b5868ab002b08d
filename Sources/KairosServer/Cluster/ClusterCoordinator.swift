import KairosAPI
import Logging
import NIOConcurrencyHelpers
import PostgresNIO
import ServiceLifecycle

/// Replicas that see each other through PostgreSQL: each registers under its own id and
/// heartbeats; one that has not been seen for `deadAfterMilliseconds` is dead (its idempotency
/// keys in flight are settled, its SSE slots no longer count).
public enum ClusterMembership {
    public static let heartbeatMilliseconds: Int64 = 2000
    public static let deadAfterMilliseconds: Int64 = 10_000
}

/// The database clock in milliseconds, so every replica compares lease times on one clock.
private let databaseNow = "(extract(epoch from clock_timestamp()) * 1000)::bigint"

/// What a replica on PostgreSQL shares with the others beyond the repositories: membership,
/// playback leases, rate-limit windows and SSE slots.
final class ClusterCoordinator: Sendable {
    let database: KairosPostgres
    /// This replica (the idempotency owner id).
    let replicaId: String
    let logger: Logger

    /// A playback lease lasts this long unless renewed; the player renews it every
    /// `leaseRenewMilliseconds`, and every replica looks for expired ones as often.
    static let leaseMilliseconds: Int64 = 3000
    static let leaseRenewMilliseconds: Int64 = 1000

    /// The server's clock (rate windows are kept on it, as on one server).
    let now: @Sendable () -> Int64

    init(database: KairosPostgres, replicaId: String, logger: Logger,
         now: @escaping @Sendable () -> Int64 = ServerTime.nowMilliseconds) {
        self.database = database
        self.replicaId = replicaId
        self.logger = logger
        self.now = now
    }

    private var s: String { database.schema }

    // MARK: Membership

    func heartbeat() async throws {
        try await database.execute("""
            INSERT INTO \(unescaped: s).replica (id, started_at, seen_at) VALUES (\(replicaId), \(unescaped: databaseNow), \(unescaped: databaseNow))
            ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at
            """)
    }

    /// Leaves the cluster: the replica row, its SSE slots and its leases go at once.
    func leave() async {
        try? await database.execute("DELETE FROM \(unescaped: s).replica WHERE id = \(replicaId)")
        try? await database.execute("DELETE FROM \(unescaped: s).event_stream WHERE replica = \(replicaId)")
        try? await database.execute("DELETE FROM \(unescaped: s).playback_lease WHERE owner = \(replicaId)")
        try? await database.execute("DELETE FROM \(unescaped: s).event_follow WHERE replica = \(replicaId)")
    }

    // MARK: Live-event follows

    func follow(_ id: String) async throws {
        try await database.execute("""
            INSERT INTO \(unescaped: s).event_follow (simulation_id, replica) VALUES (\(id), \(replicaId)) ON CONFLICT DO NOTHING
            """)
    }

    func unfollow(_ id: String) async {
        try? await database.execute("""
            DELETE FROM \(unescaped: s).event_follow WHERE simulation_id = \(id) AND replica = \(replicaId)
            """)
    }

    /// Removes what is no longer needed: replicas long dead, event segments older than
    /// `eventSegmentMilliseconds`, rate windows that ended.
    func sweep(eventSegmentMilliseconds: Int64 = 300_000) async throws {
        try await database.execute("DELETE FROM \(unescaped: s).replica WHERE seen_at < \(unescaped: databaseNow) - 3600000")
        try await database.execute("""
            DELETE FROM \(unescaped: s).event_stream WHERE replica NOT IN (SELECT id FROM \(unescaped: s).replica)
            """)
        let aliveSince = ServerTime.nowMilliseconds() - ClusterMembership.deadAfterMilliseconds
        try await database.execute("""
            DELETE FROM \(unescaped: s).event_follow
            WHERE replica NOT IN (SELECT id FROM \(unescaped: s).replica WHERE seen_at > \(aliveSince))
            """)
        try await database.execute("""
            DELETE FROM \(unescaped: s).event_segment WHERE created_at < \(ServerTime.nowMilliseconds() - eventSegmentMilliseconds)
            """)
        _ = try await database.rows("""
            SELECT \(unescaped: s).kairos_rate_sweep(\(now()), \(RateLimitPolicy.windowMilliseconds)) AS n
            """)
    }

    // MARK: Playback leases

    /// Takes the lease on `id` if it is free, expired or already ours.
    func acquireLease(_ id: String) async throws -> Bool {
        try await !database.rows("""
            INSERT INTO \(unescaped: s).playback_lease AS l (simulation_id, owner, expires_at)
            VALUES (\(id), \(replicaId), \(unescaped: databaseNow) + \(Self.leaseMilliseconds))
            ON CONFLICT (simulation_id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
            WHERE l.expires_at < \(unescaped: databaseNow) OR l.owner = excluded.owner
            RETURNING 1 AS ok
            """).isEmpty
    }

    /// Extends our lease; false when it is no longer ours (it expired and another replica took it).
    func renewLease(_ id: String) async throws -> Bool {
        try await !database.rows("""
            UPDATE \(unescaped: s).playback_lease SET expires_at = \(unescaped: databaseNow) + \(Self.leaseMilliseconds)
            WHERE simulation_id = \(id) AND owner = \(replicaId) RETURNING 1 AS ok
            """).isEmpty
    }

    func releaseLease(_ id: String) async {
        try? await database.execute("""
            DELETE FROM \(unescaped: s).playback_lease WHERE simulation_id = \(id) AND owner = \(replicaId)
            """)
    }

    /// Simulations stored as playing that no replica holds a live lease on.
    func unleasedPlaying() async throws -> [String] {
        try await database.rows("""
            SELECT s.id FROM \(unescaped: s).simulation s
            LEFT JOIN \(unescaped: s).playback_lease l ON l.simulation_id = s.id AND l.expires_at >= \(unescaped: databaseNow)
            WHERE s.status = 'playing' AND l.simulation_id IS NULL ORDER BY s.created_at, s.id
            """).map { try $0.get("id", as: String.self) }
    }

    // MARK: Rate limits

    /// Counts one request of `key` if the cluster admitted fewer than `limit` in the sliding
    /// window (`count: false` only reads): the same exact sliding log as one server's
    /// `SlidingWindowLimiter` (one row per identity, class and millisecond that saw requests,
    /// plus a running total), kept in PostgreSQL and updated under a transaction-scoped
    /// advisory lock on the key, so it is exact across replicas. One round trip per request.
    func acquireRate(key: String, limit: Int, now: Int64, count: Bool = true) async throws -> SlidingWindowLimiter.Decision {
        let window = RateLimitPolicy.windowMilliseconds
        guard let row = try await database.rows("""
            SELECT admitted, used, oldest, free_at FROM \(unescaped: s).kairos_rate_acquire(\(key), \(limit), \(now), \(window), \(count))
            """).first else { throw StorageError("rate-limit function answered nothing") }
        let admitted: Bool = try row.get("admitted")
        let used: Int = try row.get("used")
        let reset = try row.get("oldest", as: Int64?.self).map { $0 + window } ?? now
        if admitted {
            return .init(allowed: true, limit: limit, remaining: max(0, limit - used), resetMilliseconds: reset, retryAfterSeconds: 0)
        }
        let freeAt = try row.get("free_at", as: Int64?.self) ?? now + window
        return .init(allowed: false, limit: limit, remaining: 0, resetMilliseconds: freeAt,
                     retryAfterSeconds: Int(max(1, (freeAt - now + 999) / 1000)))
    }

    // MARK: SSE slots

    /// Takes one of `subject`'s concurrent-stream slots if the live replicas hold fewer than `limit`.
    func acquireStream(_ subject: String, limit: Int) async throws -> Bool {
        let aliveSince = ServerTime.nowMilliseconds() - ClusterMembership.deadAfterMilliseconds
        return try await database.rows("""
            SELECT \(unescaped: s).kairos_stream_acquire(\(subject), \(replicaId), \(limit), \(aliveSince)) AS ok
            """).first?.get("ok", as: Bool.self) ?? false
    }

    func releaseStream(_ subject: String) async {
        try? await database.execute("""
            UPDATE \(unescaped: s).event_stream SET count = count - 1 WHERE subject = \(subject) AND replica = \(replicaId) AND count > 0
            """)
    }

    /// SQL functions the migrations create (per schema).
    static func functions(_ s: String) -> [String] {
        [
            """
            CREATE FUNCTION \(s).kairos_rate_acquire(p_key TEXT, p_limit BIGINT, p_now BIGINT, p_window BIGINT, p_count BOOLEAN)
            RETURNS TABLE (admitted BOOLEAN, used BIGINT, oldest BIGINT, free_at BIGINT) LANGUAGE plpgsql AS $f$
            DECLARE
                expired BIGINT;
                t BIGINT;
                oldest_start BIGINT;
                leaving BIGINT;
                free BIGINT;
                r RECORD;
            BEGIN
                IF NOT p_count THEN
                    SELECT COALESCE(SUM(w.count), 0), MIN(w.window_start) INTO t, oldest_start FROM \(s).rate_window w
                        WHERE w.key = p_key AND w.window_start > p_now - p_window;
                    RETURN QUERY SELECT TRUE, t, oldest_start, NULL::BIGINT;
                    RETURN;
                END IF;
                -- Rate windows need no fsync per request (a database crash forgets the last instants of
                -- counting, never more): this transaction commits asynchronously.
                PERFORM set_config('synchronous_commit', 'off', true);
                PERFORM pg_advisory_xact_lock(hashtext(p_key));
                WITH gone AS (DELETE FROM \(s).rate_window w WHERE w.key = p_key AND w.window_start <= p_now - p_window
                              RETURNING w.count AS n)
                    SELECT COALESCE(SUM(n), 0) INTO expired FROM gone;
                INSERT INTO \(s).rate_total AS rt (key, total) VALUES (p_key, 0)
                    ON CONFLICT (key) DO UPDATE SET total = rt.total - expired
                    RETURNING rt.total INTO t;
                SELECT w.window_start INTO oldest_start FROM \(s).rate_window w WHERE w.key = p_key ORDER BY w.window_start LIMIT 1;
                IF t < p_limit THEN
                    INSERT INTO \(s).rate_window AS w (key, window_start, count) VALUES (p_key, p_now, 1)
                        ON CONFLICT (key, window_start) DO UPDATE SET count = w.count + 1;
                    UPDATE \(s).rate_total SET total = total + 1 WHERE key = p_key;
                    RETURN QUERY SELECT TRUE, t + 1, COALESCE(oldest_start, p_now), NULL::BIGINT;
                    RETURN;
                END IF;
                -- Refused (not counted): admitted again once t - limit + 1 requests have left.
                leaving := t - p_limit + 1;
                free := p_now + p_window;
                FOR r IN SELECT w.window_start, w.count FROM \(s).rate_window w WHERE w.key = p_key ORDER BY w.window_start LOOP
                    leaving := leaving - r.count;
                    IF leaving <= 0 THEN
                        free := r.window_start + p_window;
                        EXIT;
                    END IF;
                END LOOP;
                RETURN QUERY SELECT FALSE, t, oldest_start, free;
            END
            $f$
            """,
            """
            CREATE FUNCTION \(s).kairos_rate_sweep(p_now BIGINT, p_window BIGINT) RETURNS BIGINT LANGUAGE plpgsql AS $f$
            DECLARE
                k RECORD;
                expired BIGINT;
                swept BIGINT := 0;
            BEGIN
                FOR k IN SELECT rt.key FROM \(s).rate_total rt WHERE NOT EXISTS (
                    SELECT 1 FROM \(s).rate_window w WHERE w.key = rt.key AND w.window_start > p_now - p_window) LOOP
                    PERFORM pg_advisory_xact_lock(hashtext(k.key));
                    WITH gone AS (DELETE FROM \(s).rate_window w WHERE w.key = k.key AND w.window_start <= p_now - p_window
                                  RETURNING w.count AS n)
                        SELECT COALESCE(SUM(n), 0) INTO expired FROM gone;
                    UPDATE \(s).rate_total SET total = total - expired WHERE key = k.key;
                    DELETE FROM \(s).rate_total rt WHERE rt.key = k.key AND rt.total = 0
                        AND NOT EXISTS (SELECT 1 FROM \(s).rate_window w WHERE w.key = k.key);
                    swept := swept + 1;
                END LOOP;
                RETURN swept;
            END
            $f$
            """,
            """
            CREATE FUNCTION \(s).kairos_stream_acquire(p_subject TEXT, p_replica TEXT, p_limit BIGINT, p_alive_since BIGINT)
            RETURNS BOOLEAN LANGUAGE plpgsql AS $f$
            DECLARE
                held BIGINT;
            BEGIN
                PERFORM set_config('synchronous_commit', 'off', true);
                PERFORM pg_advisory_xact_lock(hashtext('stream:' || p_subject));
                SELECT COALESCE(SUM(e.count), 0) INTO held FROM \(s).event_stream e
                    JOIN \(s).replica r ON r.id = e.replica
                    WHERE e.subject = p_subject AND (r.seen_at > p_alive_since OR e.replica = p_replica);
                IF held >= p_limit THEN
                    RETURN FALSE;
                END IF;
                INSERT INTO \(s).event_stream AS e (subject, replica, count) VALUES (p_subject, p_replica, 1)
                    ON CONFLICT (subject, replica) DO UPDATE SET count = e.count + 1;
                RETURN TRUE;
            END
            $f$
            """,
        ]
    }
}

/// The background work of a replica on PostgreSQL: heartbeats, taking over simulations whose
/// player died (expired leases), waking live streams when another replica stores a change
/// (LISTEN), and sweeping old cluster rows. Leaves the cluster at shutdown.
struct ClusterService: Service {
    let coordinator: ClusterCoordinator
    let hub: SimulationEventHub
    let playback: PlaybackScheduler
    let logger: Logger

    func run() async throws {
        try? await coordinator.heartbeat()
        try? await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await listen() }
                group.addTask { await maintain() }
            }
        }
        // Draining: players stop and give their leases back, so another replica takes over within a second.
        await playback.stopAll()
        await coordinator.leave()
    }

    /// Heartbeat and lease sweep every second; cleanup every minute.
    private func maintain() async {
        var beats = 0
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(Int(ClusterCoordinator.leaseRenewMilliseconds)))
            if Task.isCancelled { return }
            beats += 1
            do {
                if Int64(beats) * ClusterCoordinator.leaseRenewMilliseconds % ClusterMembership.heartbeatMilliseconds == 0 {
                    try await coordinator.heartbeat()
                }
                for id in try await coordinator.unleasedPlaying() { await playback.play(id) }
                if beats % 60 == 0 { try await coordinator.sweep() }
            } catch {
                logger.warning("cluster maintenance failed", metadata: ["error": .string(KairosPostgres.describe(error))])
            }
        }
    }

    /// LISTENs for stored changes (payload `<simulation id> <log length>`); reconnects on loss,
    /// then catches every live channel up from the log (notifications sent meanwhile are lost).
    private func listen() async {
        let database = coordinator.database
        while !Task.isCancelled {
            do {
                // Its own connection, outside the pool: it is held for as long as the replica runs.
                let connection = try await database.dedicatedConnection()
                do {
                    try await connection.listen(on: database.changeChannel) { notifications in
                        hub.catchUpAll()
                        for try await notification in notifications {
                            guard let space = notification.payload.lastIndex(of: " ") else { continue }
                            hub.changed(String(notification.payload[..<space]))
                        }
                    }
                } catch {
                    try? await connection.close()
                    throw error
                }
                try? await connection.close()
            } catch {
                if Task.isCancelled { return }
                logger.warning("listening for changes failed; retrying", metadata: ["error": .string(KairosPostgres.describe(error))])
            }
            try? await Task.sleep(for: .milliseconds(500))
        }
    }
}

extension ClusterCoordinator: EventFollows {}
