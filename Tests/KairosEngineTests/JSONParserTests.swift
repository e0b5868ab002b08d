import KairosEngine
import Testing

@Suite struct JSONParserTests {
    @Test(arguments: [
        ("{\"a\": 1,}", 1, 9, "expected a member name in quotes, got '}'"),
        ("{\"a\": NaN}", 1, 7, "NaN and Infinity are not JSON numbers"),
        ("[1, 2", 1, 6, "expected ']' to close '[' at 1:1"),
        ("{\n  \"a\": 1,\n  \"a\": 2\n}", 3, 3, "duplicate member \"a\""),
        ("{\"a\": 01}", 1, 8, "numbers may not have leading zeros"),
        ("{\"a\": 1e999}", 1, 7, "number 1e999 is out of range"),
        ("\"abc", 1, 5, "unterminated string starting at 1:1"),
        ("{} x", 1, 4, "unexpected content after the JSON value"),
        ("", 1, 1, "expected a value, got end of input"),
        ("{\"a\": tru}", 1, 7, "expected a value, got 't'"),
    ])
    func errorsSayWhereAndWhat(text: String, line: Int, column: Int, message: String) {
        do {
            _ = try JSONParser.parse(text)
            Issue.record("parsed invalid JSON: \(text)")
        } catch {
            #expect(error.line == line)
            #expect(error.column == column)
            #expect(error.message == message)
        }
    }

    @Test func deepNestingIsRefusedNotCrashed() {
        let text = String(repeating: "[", count: 100_000)
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(text) }
    }

    @Test func keepsMemberOrderAndValues() throws {
        let v = try JSONParser.parse("{\"b\": [true, false, null], \"a\": -2.5e-3, \"c\": \"x\\ny\"}")
        #expect(v.objectMembers?.map(\.key) == ["b", "a", "c"])
        #expect(v["a"] == .number(-0.0025))
        #expect(v["c"] == .string("x\ny"))
        #expect(v["b"] == [true, false, nil])
    }
}
