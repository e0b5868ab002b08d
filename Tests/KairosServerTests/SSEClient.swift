import Foundation
import KairosAPI
import KairosEngine
import NIOCore
import NIOPosix
import Testing

/// One server-sent event as a client reads it.
struct ReceivedEvent: Sendable, Equatable {
    var id: String?
    var event: String
    var data: String

    var json: JSONValue? { try? JSONParser.parse(Array(data.utf8)) }
}

/// A raw HTTP/1.1 SSE client over NIO (no buffering of the whole body, as the HTTP test client
/// does): the status, the headers, then events as they arrive; closing the connection is
/// returning from `with`.
final class SSEConnection {
    private var inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    private var pending: [UInt8] = []
    /// De-chunked body bytes not yet parsed into events.
    private var body: [UInt8] = []
    private var chunked = false
    private(set) var status = 0
    private(set) var headers: [String: String] = [:]
    /// The body, when the response is not a stream (an error envelope).
    private(set) var plainBody: [UInt8] = []

    private init(inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator) { self.inbound = inbound }

    static func with<T: Sendable>(port: Int, path: String, headers: [(String, String)],
                                  _ body: (SSEConnection) async throws -> T) async throws -> T {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            var request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nAccept: text/event-stream\r\n"
            for (name, value) in headers { request += "\(name): \(value)\r\n" }
            request += "\r\n"
            try await outbound.write(ByteBuffer(string: request))
            let connection = SSEConnection(inbound: inbound.makeAsyncIterator())
            try await connection.readHead()
            return try await body(connection)
        }
    }

    private func more() async throws -> Bool {
        guard let buffer = try await inbound.next() else { return false }
        pending += buffer.readableBytesView
        return true
    }

    private func readHead() async throws {
        while true {
            if let end = find([13, 10, 13, 10], in: pending) {
                let head = String(decoding: pending[..<end], as: UTF8.self).components(separatedBy: "\r\n")
                pending.removeFirst(end + 4)
                status = Int(head[0].split(separator: " ")[1]) ?? 0
                for line in head.dropFirst() {
                    guard let colon = line.firstIndex(of: ":") else { continue }
                    headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                }
                chunked = headers["transfer-encoding"]?.lowercased() == "chunked"
                if status != 200 {
                    if let length = headers["content-length"].flatMap(Int.init) {
                        while pending.count < length { guard try await more() else { break } }
                        plainBody = Array(pending.prefix(length))
                    }
                }
                return
            }
            guard try await more() else { throw SSEError("connection closed before the response head") }
        }
    }

    /// Moves complete chunks from `pending` into `body`.
    private func dechunk() {
        guard chunked else {
            body += pending
            pending = []
            return
        }
        while let lineEnd = find([13, 10], in: pending) {
            let sizeText = String(decoding: pending[..<lineEnd], as: UTF8.self).split(separator: ";").first ?? ""
            guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else { return }
            guard pending.count >= lineEnd + 2 + size + 2 else { return }
            body += pending[(lineEnd + 2) ..< (lineEnd + 2 + size)]
            pending.removeFirst(lineEnd + 2 + size + 2)
        }
    }

    /// The next event, or nil when the server ended the stream.
    func next() async throws -> ReceivedEvent? {
        while true {
            dechunk()
            if let end = find([10, 10], in: body) {
                let text = String(decoding: body[..<end], as: UTF8.self)
                body.removeFirst(end + 2)
                var event = ReceivedEvent(id: nil, event: "message", data: "")
                for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
                    if line.hasPrefix("id: ") { event.id = String(line.dropFirst(4)) }
                    if line.hasPrefix("event: ") { event.event = String(line.dropFirst(7)) }
                    if line.hasPrefix("data:") { event.data = String(line.dropFirst(5)).trimmingCharacters(in: .whitespaces) }
                }
                return event
            }
            guard try await more() else { return nil }
        }
    }

    /// Events until `stop` says so (the stopping event included); fails after `timeout`.
    func events(timeout: Duration = .seconds(20), until stop: (ReceivedEvent) -> Bool) async throws -> [ReceivedEvent] {
        let deadline = ContinuousClock.now + timeout
        var events: [ReceivedEvent] = []
        while ContinuousClock.now < deadline {
            guard let event = try await next() else { throw SSEError("stream ended after \(events.count) events") }
            events.append(event)
            if stop(event) { return events }
        }
        throw SSEError("timed out after \(events.count) events")
    }

    private func find(_ needle: [UInt8], in bytes: [UInt8]) -> Int? {
        guard bytes.count >= needle.count else { return nil }
        for i in 0 ... (bytes.count - needle.count) where bytes[i] == needle[0] {
            if Array(bytes[i ..< i + needle.count]) == needle { return i }
        }
        return nil
    }
}

struct SSEError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
