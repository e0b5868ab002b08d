/// RFC 8785 (JCS) canonical JSON, written into a reusable byte buffer without Foundation:
/// sorted keys, no whitespace, numbers exactly as ECMAScript's `Number.prototype.toString`.
///
/// Scalars are laid out through a `ByteCursor` into a scratch buffer sized to an upper bound of
/// their text and appended to `bytes` in one copy; whole steps straight into `bytes`' spare
/// capacity (`StepLayout`). Writing a step checks no capacity and no uniqueness per byte (the
/// profile of issue 17: per-byte appends and the intermediate digit array cost as much as
/// formatting the numbers).
public struct CanonicalJSONWriter {
    /// The bytes written so far.
    public var bytes: [UInt8] = []
    private var scratch: [UInt8] = []
    /// The text of each number field of the previous step (`NumberCache`), allocated by the
    /// second step a writer lays out: one-step writers never pay for it.
    private var numberCache: [UInt8] = []
    private var stepsLaidOut = 0

    public init(capacity: Int = 4096) {
        bytes.reserveCapacity(capacity)
    }

    public mutating func reset() { bytes.removeAll(keepingCapacity: true) }

    @inline(__always)
    mutating func raw(_ s: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }

    @inline(__always)
    public mutating func byte(_ b: UInt8) { bytes.append(b) }

    /// Lets `body` write at most `bound` bytes through a cursor, then appends them to `bytes`.
    @inline(__always)
    private mutating func emit(bound: Int, _ body: (inout ByteCursor) -> Void) {
        if scratch.count < bound { scratch = [UInt8](repeating: 0, count: Swift.max(bound, 2 * scratch.count, 64)) }
        let written = scratch.withUnsafeMutableBufferPointer { buffer -> Int in
            let base = buffer.baseAddress.unsafelyUnwrapped
            var cursor = ByteCursor(base)
            body(&cursor)
            return cursor.p - base
        }
        bytes.append(contentsOf: scratch[..<written])
    }

    /// Writes an integer (`Int` values print exactly).
    public mutating func integer(_ value: Int) {
        emit(bound: ByteCursor.integerBound) { $0.integer(value) }
    }

    /// Writes a finite double as ECMAScript would print it; `-0` prints as `0`.
    /// Precondition: `value` is finite (the engine and validators never produce NaN/∞).
    public mutating func number(_ value: Double) {
        emit(bound: ByteCursor.numberBound) { $0.number(value) }
    }

    /// Writes a string with the escapes RFC 8785 requires and nothing else escaped
    /// (`ByteCursor.string`; at most six bytes a UTF-8 byte, plus the quotes).
    public mutating func string(_ value: String) {
        emit(bound: 6 * value.utf8.count + 2) { $0.string(value) }
    }

    /// Writes any JSON value canonically: object members sorted by UTF-16 code units.
    public mutating func value(_ value: JSONValue) {
        switch value {
        case .null: raw("null")
        case .bool(let b): if b { raw("true") } else { raw("false") }
        case .number(let n): number(n)
        case .string(let s): string(s)
        case .array(let items):
            bytes.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { bytes.append(UInt8(ascii: ",")) }
                self.value(item)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let members):
            bytes.append(UInt8(ascii: "{"))
            let sorted = members.sorted { $0.key.utf16.lexicographicallyPrecedes($1.key.utf16) }
            for (i, member) in sorted.enumerated() {
                if i > 0 { bytes.append(UInt8(ascii: ",")) }
                string(member.key)
                bytes.append(UInt8(ascii: ":"))
                self.value(member.value)
            }
            bytes.append(UInt8(ascii: "}"))
        }
    }

    /// Writes a value compactly like `value`, but object members in their given order (SSE
    /// data follows seed 003's field order: `{t, b, lastMove, state, warning, agents}`).
    public mutating func orderedValue(_ value: JSONValue) {
        switch value {
        case .array(let items):
            bytes.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { bytes.append(UInt8(ascii: ",")) }
                orderedValue(item)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let members):
            bytes.append(UInt8(ascii: "{"))
            for (i, member) in members.enumerated() {
                if i > 0 { bytes.append(UInt8(ascii: ",")) }
                string(member.key)
                bytes.append(UInt8(ascii: ":"))
                orderedValue(member.value)
            }
            bytes.append(UInt8(ascii: "}"))
        default:
            self.value(value)
        }
    }

    /// Writes a trace step canonically, keys in sorted order by construction: laid out straight
    /// into `bytes`' spare capacity (`StepLayout`), through the number cache from the second step.
    public mutating func step(_ s: TraceStep) {
        stepsLaidOut += 1
        let bound = ByteCursor.bound(of: s)
        if bytes.capacity - bytes.count < bound {
            bytes.reserveCapacity(Swift.max(bytes.count + bound, 2 * bytes.capacity))
        }
        guard stepsLaidOut > 1 else {
            layOut(s, bound: bound, cache: nil)
            return
        }
        // Taken out of `self` while the cursor uses it (no overlapping access, no copy).
        var cache = numberCache.isEmpty ? [UInt8](repeating: 0, count: NumberCache.bytes) : numberCache
        numberCache = []
        cache.withUnsafeMutableBytes { cache in layOut(s, bound: bound, cache: cache.baseAddress) }
        numberCache = cache
    }

    @inline(__always)
    private mutating func layOut(_ s: TraceStep, bound: Int, cache: UnsafeMutableRawPointer?) {
        var done = false
        withUnsafeMutablePointer(to: &done) { done in
            bytes.append(contentsOf: StepLayout(step: s, bound: bound, cache: cache, done: done))
        }
        if done { return }
        // The standard library offered less room than `bound` (it never does today): by the scratch buffer.
        emit(bound: bound) { cursor in
            cursor.cache = cache
            cursor.step(s)
        }
    }
}

/// A step as a sequence of bytes that `Array.append(contentsOf:)` asks to initialise the
/// array's spare capacity (`_copyContents`): the cursor writes there directly, so a step is
/// not laid out in a scratch buffer and copied (the copy was ~15 % of encoding a step). It
/// reports 0 as its underestimated count and lays out nothing (leaving `done` false) when the
/// room offered is under `bound`.
private struct StepLayout: Sequence {
    typealias Element = UInt8
    typealias Iterator = EmptyCollection<UInt8>.Iterator
    let step: TraceStep
    let bound: Int
    let cache: UnsafeMutableRawPointer?
    let done: UnsafeMutablePointer<Bool>

    func makeIterator() -> Iterator { EmptyCollection<UInt8>().makeIterator() }
    var underestimatedCount: Int { 0 }

    func _copyContents(initializing buffer: UnsafeMutableBufferPointer<UInt8>) -> (Iterator, Int) {
        guard buffer.count >= bound, let base = buffer.baseAddress else { return (makeIterator(), 0) }
        var cursor = ByteCursor(base)
        cursor.cache = cache
        cursor.step(step)
        done.pointee = true
        return (makeIterator(), cursor.p - base)
    }
}

extension Phase {
    var staticName: StaticString {
        switch self {
        case .stable: "stable"
        case .strained: "strained"
        case .critical: "critical"
        case .collapsed: "collapsed"
        }
    }
}

/// The text of each number field of a step as last laid out, by field (`slot`): a step's
/// policies and many of its figures repeat from one step to the next (a policy changes only by
/// decree), and a repeated double is copied instead of formatted again. An entry is the
/// double's bit pattern (0: empty — zero never reaches it), the text's length, and the text.
enum NumberCache {
    /// Six numbers per agent for the first 16 agents, then the step's own.
    static let agentSlots = 16 * 6
    static let slots = agentSlots + 8
    static let entry = 40
    static let bytes = slots * entry
    /// The longest text cached (`-0.000001234567890123456` is 24 bytes; nothing is longer).
    static let text = 24
}

/// A write position in a buffer the caller has sized (`numberBound`, `bound(of:)`): the
/// canonical layout of scalars and steps without bounds checks.
struct ByteCursor {
    var p: UnsafeMutablePointer<UInt8>
    /// `NumberCache.bytes` bytes, or nil: every number formatted.
    var cache: UnsafeMutableRawPointer?

    init(_ p: UnsafeMutablePointer<UInt8>) { self.p = p }

    /// `number(value)`, through the cache entry `slot` when there is a cache.
    @inline(__always)
    mutating func number(_ value: Double, slot: Int) {
        let bits = value.bitPattern
        guard let cache, slot < NumberCache.slots, bits != 0 else {
            number(value)
            return
        }
        let entry = cache + slot &* NumberCache.entry
        if entry.load(as: UInt64.self) == bits {
            let count = Int(entry.load(fromByteOffset: 8, as: UInt64.self))
            let to = UnsafeMutableRawPointer(p)
            to.storeBytes(of: entry.load(fromByteOffset: 16, as: UInt64.self), as: UInt64.self)
            to.storeBytes(of: entry.load(fromByteOffset: 24, as: UInt64.self), toByteOffset: 8, as: UInt64.self)
            to.storeBytes(of: entry.load(fromByteOffset: 32, as: UInt64.self), toByteOffset: 16, as: UInt64.self)
            p += count
            return
        }
        let start = p
        number(value)
        let count = p - start
        guard count <= NumberCache.text else { return }
        entry.storeBytes(of: bits, as: UInt64.self)
        entry.storeBytes(of: UInt64(count), toByteOffset: 8, as: UInt64.self)
        (entry + 16).copyMemory(from: start, byteCount: count)
    }

    /// Longest text of an `Int`: a sign and 19 digits.
    static let integerBound = 20
    /// Longest text of a double, as Swift prints it or as ECMAScript lays it out
    /// (`-0.000001234567890123456` is 24 bytes).
    static let numberBound = 32

    /// An upper bound on the canonical text of `s` (strings counted as if every byte needed
    /// a six-byte `\u00XX` escape).
    static func bound(of s: TraceStep) -> Int {
        var strings = s.move.utf8.count
        if let agent = s.loss?.agent { strings += agent.utf8.count }
        if let kind = s.paradox?.kind { strings += kind.utf8.count }
        var agents = 0
        for a in s.agents { agents += 192 + 6 * numberBound + 6 * a.id.utf8.count }
        // The fixed text of a step with every optional member is under 400 bytes; it holds
        // 7 doubles and 10 integers besides the agents.
        return 400 + 17 * numberBound + 6 * strings + 8 + agents
    }

    @inline(__always)
    mutating func raw(_ s: StaticString) {
        let n = s.utf8CodeUnitCount
        p.initialize(from: s.utf8Start, count: n)
        p += n
    }

    @inline(__always)
    mutating func byte(_ b: UInt8) {
        p.pointee = b
        p += 1
    }

    @inline(__always)
    mutating func integer(_ value: Int) {
        if value < 0 {
            byte(UInt8(ascii: "-"))
            unsigned(value.magnitude)
        } else {
            unsigned(UInt(bitPattern: value))
        }
    }

    @inline(__always)
    mutating func unsigned(_ value: UInt) {
        if value < 10 {
            byte(0x30 &+ UInt8(truncatingIfNeeded: value))
            return
        }
        var n = 1
        var t = value
        while t >= 10 {
            t /= 10
            n += 1
        }
        var v = value
        var q = p + n
        repeat {
            q -= 1
            q.pointee = 0x30 &+ UInt8(truncatingIfNeeded: v % 10)
            v /= 10
        } while v > 0
        p += n
    }

    /// A finite double as ECMAScript prints it; `-0` prints as `0`, NaN and ∞ as `null`.
    mutating func number(_ value: Double) {
        if value == 0 {
            byte(0x30)
            return
        }
        // Integral values below 2^53 print as integers in every ECMAScript layout.
        if value.magnitude < 9_007_199_254_740_992, value == value.rounded(.towardZero) {
            integer(Int(value))
            return
        }
        guard value.isFinite else {
            raw("null")
            return
        }
        if value < 0 { byte(UInt8(ascii: "-")) }
        if value.magnitude >= Double.leastNormalMagnitude {
            let (f, e) = Schubfach.decimal(value.magnitude)
            decimal(f, e)
            return
        }
        // Subnormals: Swift's shortest round-trip digits, written straight into the output.
        var sink = PointerSink(p: p)
        value.magnitude.write(to: &sink)
        let count = sink.p - p
        // Non-integral values that Swift prints without an exponent (about 1e-4 up to 2^53)
        // are already in ECMAScript's layout. (2^53 itself prints "….0".)
        var plain = p[count - 1] != 0x30
        if plain {
            for i in 0 ..< count where p[i] == UInt8(ascii: "e") {
                plain = false
                break
            }
        }
        if plain {
            p += count
            return
        }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 2 * Self.numberBound) { buffer in
            let base = buffer.baseAddress.unsafelyUnwrapped
            base.initialize(from: p, count: count)
            relayECMAScript(swiftText: UnsafeBufferPointer(start: base, count: count),
                            digits: base + Self.numberBound)
        }
    }

    private static let digitPairs: StaticString =
        "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899"

    /// `f × 10^e` (f > 0) in ECMAScript's layout.
    @inline(__always)
    private mutating func decimal(_ f: UInt64, _ e: Int) {
        var m = f
        var exponent = e
        // Strip trailing zeros (up to 16 of them: 0.7 comes as 70000000000000000e-17).
        if m % 10_000_000_000_000_000 == 0 {
            m /= 10_000_000_000_000_000
            exponent += 16
        }
        if m % 100_000_000 == 0 {
            m /= 100_000_000
            exponent += 8
        }
        if m % 10_000 == 0 {
            m /= 10_000
            exponent += 4
        }
        if m % 100 == 0 {
            m /= 100
            exponent += 2
        }
        if m % 10 == 0 {
            m /= 10
            exponent += 1
        }
        // The digits, last first, into a small buffer.
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &digits) { buffer in
            var i = 24
            let pairs = Self.digitPairs.utf8Start
            if m >= 100_000_000 {
                // The low eight digits in 32-bit arithmetic, independent of the high ones.
                var low = UInt32(truncatingIfNeeded: m % 100_000_000)
                m /= 100_000_000
                for _ in 0 ..< 4 {
                    let r = Int(low % 100) &* 2
                    low /= 100
                    i -= 2
                    buffer[i] = pairs[r]
                    buffer[i + 1] = pairs[r + 1]
                }
            }
            while m >= 100 {
                let r = Int(truncatingIfNeeded: m % 100) &* 2
                m /= 100
                i -= 2
                buffer[i] = pairs[r]
                buffer[i + 1] = pairs[r + 1]
            }
            if m >= 10 {
                let r = Int(truncatingIfNeeded: m) &* 2
                i -= 2
                buffer[i] = pairs[r]
                buffer[i + 1] = pairs[r + 1]
            } else {
                i -= 1
                buffer[i] = 0x30 &+ UInt8(truncatingIfNeeded: m)
            }
            let k = 24 - i
            let d = buffer.baseAddress.unsafelyUnwrapped.assumingMemoryBound(to: UInt8.self) + i
            let n = k + exponent
            if k <= n && n <= 21 {
                p.update(from: d, count: k)
                p += k
                for _ in 0 ..< (n - k) { byte(0x30) }
            } else if 0 < n && n <= 21 {
                p.update(from: d, count: n)
                p += n
                byte(UInt8(ascii: "."))
                p.update(from: d + n, count: k - n)
                p += k - n
            } else if -6 < n && n <= 0 {
                byte(0x30)
                byte(UInt8(ascii: "."))
                for _ in 0 ..< -n { byte(0x30) }
                p.update(from: d, count: k)
                p += k
            } else {
                let x = n - 1
                byte(d[0])
                if k > 1 {
                    byte(UInt8(ascii: "."))
                    p.update(from: d + 1, count: k - 1)
                    p += k - 1
                }
                byte(UInt8(ascii: "e"))
                byte(x < 0 ? UInt8(ascii: "-") : UInt8(ascii: "+"))
                let mag = x.magnitude
                if mag >= 100 { byte(0x30 + UInt8(mag / 100)) }
                if mag >= 10 { byte(0x30 + UInt8(mag / 10 % 10)) }
                byte(0x30 + UInt8(mag % 10))
            }
        }
    }

    /// Re-lays Swift's shortest round-trip text (`1e-07`, `100.0`, `1.25e+21`) in
    /// ECMAScript's layout. Both print the shortest digit string that round-trips, closest to
    /// the value, so only the layout differs. `digits` has room for the text's digits.
    private mutating func relayECMAScript(swiftText: UnsafeBufferPointer<UInt8>, digits scratch: UnsafeMutablePointer<UInt8>) {
        var dCount = 0
        var pointPosition = -1
        var exponent = 0
        var index = 0
        while index < swiftText.count {
            let c = swiftText[index]
            if c == UInt8(ascii: ".") {
                pointPosition = dCount
            } else if c == UInt8(ascii: "e") || c == UInt8(ascii: "E") {
                var sign = 1
                var j = index + 1
                if j < swiftText.count, swiftText[j] == UInt8(ascii: "-") {
                    sign = -1
                    j += 1
                } else if j < swiftText.count, swiftText[j] == UInt8(ascii: "+") {
                    j += 1
                }
                var e = 0
                while j < swiftText.count {
                    e = e * 10 + Int(swiftText[j] - 0x30)
                    j += 1
                }
                exponent = sign * e
                break
            } else {
                scratch[dCount] = c
                dCount += 1
            }
            index += 1
        }
        let d = UnsafeBufferPointer(start: scratch, count: dCount)
        if pointPosition < 0 { pointPosition = d.count }
        var lead = 0
        while lead < d.count - 1, d[lead] == 0x30 { lead += 1 }
        var end = d.count
        while end > lead + 1, d[end - 1] == 0x30 { end -= 1 }
        let k = end - lead
        let n = pointPosition - lead + exponent
        let s = UnsafeBufferPointer(rebasing: d[lead ..< end])
        if k <= n && n <= 21 {
            copy(s)
            for _ in 0 ..< (n - k) { byte(0x30) }
        } else if 0 < n && n <= 21 {
            copy(UnsafeBufferPointer(rebasing: s.prefix(n)))
            byte(UInt8(ascii: "."))
            copy(UnsafeBufferPointer(rebasing: s.dropFirst(n)))
        } else if -6 < n && n <= 0 {
            byte(0x30)
            byte(UInt8(ascii: "."))
            for _ in 0 ..< -n { byte(0x30) }
            copy(s)
        } else {
            let e = n - 1
            byte(s[0])
            if k > 1 {
                byte(UInt8(ascii: "."))
                copy(UnsafeBufferPointer(rebasing: s.dropFirst()))
            }
            byte(UInt8(ascii: "e"))
            byte(e < 0 ? UInt8(ascii: "-") : UInt8(ascii: "+"))
            let m = e.magnitude
            if m >= 100 { byte(0x30 + UInt8(m / 100)) }
            if m >= 10 { byte(0x30 + UInt8(m / 10 % 10)) }
            byte(0x30 + UInt8(m % 10))
        }
    }

    @inline(__always)
    private mutating func copy(_ s: UnsafeBufferPointer<UInt8>) {
        guard let base = s.baseAddress, s.count > 0 else { return }
        p.update(from: base, count: s.count)
        p += s.count
    }

    /// A string with the escapes RFC 8785 requires and nothing else escaped.
    mutating func string(_ value: String) {
        byte(UInt8(ascii: "\""))
        var v = value
        v.withUTF8 { utf8 in
            for c in utf8 {
                if c >= 0x20, c != 0x22, c != 0x5C {
                    p.pointee = c
                    p += 1
                    continue
                }
                switch c {
                case 0x22: raw("\\\"")
                case 0x5C: raw("\\\\")
                case 0x08: raw("\\b")
                case 0x09: raw("\\t")
                case 0x0A: raw("\\n")
                case 0x0C: raw("\\f")
                case 0x0D: raw("\\r")
                default:
                    raw("\\u00")
                    let hex: StaticString = "0123456789abcdef"
                    byte(hex.utf8Start[Int(c >> 4)])
                    byte(hex.utf8Start[Int(c & 0xF)])
                }
            }
        }
        byte(UInt8(ascii: "\""))
    }

    /// A trace step, keys in sorted order by construction (within `bound(of:)`).
    mutating func step(_ s: TraceStep) {
        raw("{\"agents\":[")
        for (i, a) in s.agents.enumerated() {
            if i > 0 { byte(UInt8(ascii: ",")) }
            let slot = i < 16 ? i &* 6 : NumberCache.slots
            raw("{\"id\":")
            string(a.id)
            raw(",\"policy\":{\"gamma\":")
            number(a.gamma, slot: slot &+ 0)
            raw(",\"lambda\":")
            number(a.lambda, slot: slot &+ 1)
            raw("},\"state\":{\"alignment\":")
            number(a.alignment, slot: slot &+ 2)
            raw(",\"capability\":")
            number(a.capability, slot: slot &+ 3)
            raw(",\"guardrail\":")
            number(a.guardrail, slot: slot &+ 4)
            raw(",\"pressure\":")
            number(a.pressure, slot: slot &+ 5)
            raw("}}")
        }
        raw("],\"loss\":")
        if let l = s.loss {
            raw("{\"agent\":")
            if let agent = l.agent { string(agent) } else { raw("null") }
            raw(",\"basin\":")
            integer(l.basin)
            raw(",\"magnitude\":")
            number(l.magnitude, slot: NumberCache.agentSlots + 0)
            raw(",\"tick\":")
            integer(l.tick)
            raw("}")
        } else {
            raw("null")
        }
        raw(",\"move\":")
        string(s.move)
        raw(",\"paradox\":")
        if let p = s.paradox {
            raw("{\"kind\":")
            string(p.kind)
            raw(",\"prophecy\":")
            integer(p.prophecy)
            raw(",\"tick\":")
            integer(p.tick)
            raw("}")
        } else {
            raw("null")
        }
        raw(",\"prophecy\":")
        if let p = s.prophecy {
            raw("{\"horizon\":")
            integer(p.horizon)
            raw(",\"id\":")
            integer(p.id)
            raw(",\"predictedLoss\":")
            if let loss = p.predictedLoss { integer(loss) } else { raw("null") }
            raw(",\"predictedStability\":")
            number(p.predictedStability, slot: NumberCache.agentSlots + 1)
            raw(",\"tick\":")
            integer(p.tick)
            raw("}")
        } else {
            raw("null")
        }
        raw(",\"state\":{\"basin\":")
        integer(s.state.basin)
        raw(",\"ceiling\":")
        number(s.state.ceiling, slot: NumberCache.agentSlots + 2)
        raw(",\"phase\":\"")
        raw(s.state.phase.staticName)
        raw("\",\"pressure\":")
        number(s.state.pressure, slot: NumberCache.agentSlots + 3)
        raw(",\"stability\":")
        number(s.state.stability, slot: NumberCache.agentSlots + 4)
        raw("},\"tick\":")
        integer(s.tick)
        raw(",\"warning\":")
        if let w = s.warning {
            raw("{\"level\":\"")
            raw(w.level == .caution ? "caution" : "danger")
            raw("\",\"stability\":")
            number(w.stability, slot: NumberCache.agentSlots + 5)
            raw(",\"threshold\":")
            number(w.threshold, slot: NumberCache.agentSlots + 6)
            raw("}")
        } else {
            raw("null")
        }
        raw("}")
    }
}

/// Receives Swift's float printing straight into the output buffer.
private struct PointerSink: TextOutputStream {
    var p: UnsafeMutablePointer<UInt8>
    mutating func write(_ string: String) {
        for b in string.utf8 {
            p.pointee = b
            p += 1
        }
    }
    mutating func _writeASCII(_ buffer: UnsafeBufferPointer<UInt8>) {
        guard let base = buffer.baseAddress else { return }
        p.update(from: base, count: buffer.count)
        p += buffer.count
    }
}

/// Canonical text helpers.
public enum CanonicalJSON {
    /// The canonical text of a value.
    public static func string(_ value: JSONValue) -> String {
        var w = CanonicalJSONWriter(capacity: 256)
        w.value(value)
        return String(decoding: w.bytes, as: UTF8.self)
    }

    /// The canonical text of a step (one NDJSON line without its newline).
    public static func string(_ step: TraceStep) -> String {
        var w = CanonicalJSONWriter(capacity: 512)
        w.step(step)
        return String(decoding: w.bytes, as: UTF8.self)
    }

    /// ECMAScript's text for a number.
    public static func number(_ value: Double) -> String {
        var w = CanonicalJSONWriter(capacity: 32)
        w.number(value)
        return String(decoding: w.bytes, as: UTF8.self)
    }
}
