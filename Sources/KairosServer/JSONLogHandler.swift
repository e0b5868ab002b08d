import Foundation
import KairosEngine
import Logging

/// One JSON object per line on standard error (`kairos serve --log-format json`):
/// `{"time","level","label","message", …metadata}` — request lines carry `request.id`.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    private let label: String

    public init(label: String) { self.label = label }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let level = event.level
        let message = event.message
        let explicit = event.metadata
        var members: [JSONMember] = [
            JSONMember(key: "time", value: .string(ServerTime.iso8601(milliseconds: ServerTime.nowMilliseconds()))),
            JSONMember(key: "level", value: .string(level.rawValue)),
            JSONMember(key: "label", value: .string(label)),
            JSONMember(key: "message", value: .string(message.description)),
        ]
        let merged = metadata.merging(explicit ?? [:]) { _, new in new }
        for key in merged.keys.sorted() where !["time", "level", "label", "message"].contains(key) {
            if let value = merged[key] { members.append(JSONMember(key: key, value: Self.json(value))) }
        }
        var w = CanonicalJSONWriter(capacity: 256)
        w.value(.object(members))
        w.byte(0x0A)
        FileHandle.standardError.write(Data(w.bytes))
    }

    static func json(_ value: Logger.Metadata.Value) -> JSONValue {
        switch value {
        case .string(let s): .string(s)
        case .stringConvertible(let c): .string(c.description)
        case .array(let a): .array(a.map(json))
        case .dictionary(let d): .object(d.keys.sorted().compactMap { k in d[k].map { JSONMember(key: k, value: json($0)) } })
        }
    }
}
