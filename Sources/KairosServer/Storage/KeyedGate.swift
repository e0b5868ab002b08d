/// One holder at a time per key; the others wait their turn in arrival order. Unlike an actor,
/// the holder may suspend (await the database) without letting the next one in.
final class KeyedGate: Sendable {
    private let state = GateState()

    func withLock<T: Sendable>(_ key: String, _ body: () async throws -> T) async throws -> T {
        await state.acquire(key)
        do {
            let value = try await body()
            await state.release(key)
            return value
        } catch {
            await state.release(key)
            throw error
        }
    }
}

private actor GateState {
    /// For each held key, the continuations waiting for it.
    private var waiting: [String: [CheckedContinuation<Void, Never>]] = [:]

    func acquire(_ key: String) async {
        if waiting[key] == nil {
            waiting[key] = []
            return
        }
        await withCheckedContinuation { waiting[key, default: []].append($0) }
    }

    func release(_ key: String) {
        guard var queue = waiting[key], !queue.isEmpty else {
            waiting[key] = nil
            return
        }
        let next = queue.removeFirst()
        waiting[key] = queue
        next.resume()
    }
}
