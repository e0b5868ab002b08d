import Foundation
import Hummingbird
import HummingbirdTesting
import KairosAPI
import Testing
@testable import KairosServer

/// `GET /dashboard` and its assets: served from the binary with a strict CSP and nosniff; the
/// browser tests (scripts/dashboard-test, KAIROS_HEAVY_TESTS=1) drive the page itself.
@Suite struct DashboardTests {
    static let assets: [(path: String, type: String, file: String)] = [
        ("/dashboard", "text/html; charset=utf-8", "dashboard.html"),
        ("/dashboard/dashboard.js", "text/javascript; charset=utf-8", "dashboard.js"),
        ("/dashboard/chart.js", "text/javascript; charset=utf-8", "chart.js"),
        ("/dashboard/dashboard.css", "text/css; charset=utf-8", "dashboard.css"),
        ("/dashboard/icon.svg", "image/svg+xml", "icon.svg"),
    ]

    /// The project's copy of a file under Sources/KairosServer/Dashboard/www.
    static func sourceFile(_ name: String) throws -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return try String(contentsOf: root.appendingPathComponent("Sources/KairosServer/Dashboard/www/\(name)"), encoding: .utf8)
    }

    @Test func everyFileIsServedWithItsTypeAndSecurityHeaders() async throws {
        try await TestServer().test { client in
            for asset in Self.assets {
                let r = try await client.send(.get, asset.path)
                #expect(r.status == .ok, "\(asset.path)")
                #expect(r.headers[.contentType] == asset.type, "\(asset.path)")
                #expect(r.headers[.xContentTypeOptions] == "nosniff", "\(asset.path)")
                let csp = try #require(r.headers[.contentSecurityPolicy], "\(asset.path)")
                #expect(csp.contains("default-src 'none'"))
                #expect(csp.contains("script-src 'self'"))
                #expect(csp.contains("connect-src 'self'"))
                #expect(csp.contains("frame-ancestors 'none'"))
                #expect(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "no inline script, no eval")
                let source = try Self.sourceFile(asset.file)
                #expect(r.text == source, "\(asset.path) is the embedded copy of www/\(asset.file)")
                #expect(r.headers[.requestID] != nil, "the same middleware as every route")
            }
        }
    }

    @Test func embeddedTextEqualsTheFiles() throws {
        // scripts/dashboard-embed writes DashboardAssets.swift from www/; a forgotten run fails here.
        let embedded = [("dashboard.html", DashboardAssets.html), ("dashboard.js", DashboardAssets.script),
                        ("chart.js", DashboardAssets.chart), ("dashboard.css", DashboardAssets.style), ("icon.svg", DashboardAssets.icon)]
        for (file, text) in embedded {
            let source = try Self.sourceFile(file)
            #expect(text == source, "\(file): run scripts/dashboard-embed")
        }
    }

    @Test func unknownAssetsAre404WithTheEnvelope() async throws {
        try await TestServer().test { client in
            for path in ["/dashboard/nope.js", "/dashboard/..%2Fdashboard.js", "/dashboard/DASHBOARD.JS", "/dashboard/dashboard.js.map"] {
                let r = try await client.send(.get, path)
                #expect(r.status == .notFound, "\(path)")
                #expect(r.errorCode == "NOT_FOUND", "\(path)")
                #expect(r.headers[.xContentTypeOptions] == "nosniff", "\(path)")
                #expect(r.headers[.contentType] == "application/json")
            }
            let deeper = try await client.send(.get, "/dashboard/a/b.js")
            #expect(deeper.status == .notFound)
            let post = try await client.send(.post, "/dashboard", body: "{}")
            #expect(post.status == .methodNotAllowed)
        }
    }

    @Test func revalidationAnswers304() async throws {
        try await TestServer().test { client in
            let first = try await client.send(.get, "/dashboard/dashboard.js")
            let etag = try #require(first.headers[.eTag])
            #expect(first.headers[.cacheControl] == "no-cache")
            let again = try await client.send(.get, "/dashboard/dashboard.js", headers: [("If-None-Match", etag)])
            #expect(again.status == .notModified)
            #expect(again.bytes.isEmpty)
            #expect(again.headers[.xContentTypeOptions] == "nosniff")
            let other = try await client.send(.get, "/dashboard/dashboard.js", headers: [("If-None-Match", "\"other\"")])
            #expect(other.status == .ok)
            let page = try await client.send(.get, "/dashboard")
            #expect(page.headers[.eTag] != etag, "each file has its own tag")
        }
    }

    /// What the CSP promises, checked in the source: the page has no inline script or style and
    /// loads only same-origin files that exist; the scripts never build HTML from strings.
    @Test func pageLoadsOnlyItsOwnFilesAndNeverInjectsHTML() async throws {
        let html = DashboardAssets.html
        #expect(!html.contains("http://") && !html.contains("https://"), "nothing from another origin")
        let scripts = html.matches(of: /<script[^>]*>/).map { String($0.output) }
        #expect(scripts.count == 2)
        for tag in scripts { #expect(tag.contains("src=\"/dashboard/"), "\(tag): no inline script") }
        #expect(html.matches(of: /<script[^>]*>[^<]+<\/script>/).isEmpty, "no inline script body")
        #expect(html.matches(of: /\son[a-z]+\s*=/).isEmpty, "no inline event handlers")
        #expect(html.matches(of: /\sstyle\s*=/).isEmpty && !html.contains("<style"), "no inline style (style-src 'self')")
        let referenced = Set(html.matches(of: /"(\/dashboard\/[^"]+)"/).map { String($0.output.1) })
        #expect(referenced.count == 4)
        try await TestServer().test { client in
            for path in referenced {
                let status = try await client.send(.get, path).status
                #expect(status == .ok, "\(path)")
            }
        }
        for script in [DashboardAssets.script, DashboardAssets.chart] {
            for banned in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "setTimeout(\"",
                           "localStorage.setItem(KEY", "?key=", "&key="] {
                #expect(!script.contains(banned), "\(banned)")
            }
        }
        #expect(DashboardAssets.script.contains("sessionStorage.setItem(KEY_STORAGE"), "the key is kept for the tab only")
    }

    @Test func dashboardIsPublicAndLimitedLikeOtherPublicRoutes() async throws {
        var server = TestServer()
        server.rateLimitMultiplier = 1
        try await server.test { client in
            let r = try await client.send(.get, "/dashboard")
            #expect(r.status == .ok)
            #expect(r.headers[.rateLimitLimit] == "120", "per address, like /v1/docs")
        }
    }
}
