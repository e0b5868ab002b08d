extension JSONValue {
    /// Human-readable JSON: two-space indentation, members in their own order, numbers and
    /// strings exactly as the canonical writer prints them. For people, never for digests.
    public func prettyPrinted(indent: String = "  ") -> String {
        var out = ""
        var writer = CanonicalJSONWriter(capacity: 64)
        func scalar(_ v: JSONValue) -> String {
            writer.reset()
            writer.value(v)
            return String(decoding: writer.bytes, as: UTF8.self)
        }
        func write(_ v: JSONValue, _ depth: Int) {
            let pad = String(repeating: indent, count: depth)
            let inner = pad + indent
            switch v {
            case .array(let items) where !items.isEmpty:
                if items.allSatisfy({ if case .array = $0 { false } else if case .object = $0 { false } else { true } }),
                   items.count <= 12
                {
                    out += "[" + items.map(scalar).joined(separator: ", ") + "]"
                    return
                }
                out += "[\n"
                for (i, item) in items.enumerated() {
                    out += inner
                    write(item, depth + 1)
                    out += i < items.count - 1 ? ",\n" : "\n"
                }
                out += pad + "]"
            case .object(let members) where !members.isEmpty:
                out += "{\n"
                for (i, m) in members.enumerated() {
                    out += inner + scalar(.string(m.key)) + ": "
                    write(m.value, depth + 1)
                    out += i < members.count - 1 ? ",\n" : "\n"
                }
                out += pad + "}"
            default:
                out += scalar(v)
            }
        }
        write(self, 0)
        return out
    }
}
