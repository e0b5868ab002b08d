import Testing
@testable import KairosServer
@Test func placeholder() {}
