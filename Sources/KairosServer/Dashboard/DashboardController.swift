import Crypto
import Foundation
import Hummingbird
import KairosAPI
import KairosEngine

/// `GET /dashboard` and its assets (`/dashboard/<name>`): the live dashboard, a public page
/// that talks to the ordinary `/v1` API with the key the user pastes into it.
///
/// The assets are Swift string literals compiled into the binary (`DashboardAssets`), not
/// SwiftPM resources: an installed `kairos` copied on its own (e.g. to /usr/local/bin) has no
/// resource bundle beside it, and `Bundle.module` would stop the process when it looks for
/// one. Every response carries a strict Content-Security-Policy (scripts, styles, images and
/// connections from this server only; no inline script, no `eval`), `nosniff`, and a strong
/// ETag so a reload costs a 304.
struct DashboardController: Sendable {
    /// One served file.
    struct Asset: Sendable {
        var bytes: [UInt8]
        var contentType: String
        var etag: String

        init(_ text: String, contentType: String) {
            bytes = Array(text.utf8)
            self.contentType = contentType
            let digest = SHA256.hash(data: bytes)
            etag = "\"" + digest.prefix(12).map { String($0, radix: 16).leftPadded(to: 2) }.joined() + "\""
        }
    }

    static let contentSecurityPolicy = [
        "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self'", "connect-src 'self'",
        "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
    ].joined(separator: "; ")

    let page: Asset
    let assets: [String: Asset]

    init() {
        page = Asset(DashboardAssets.html, contentType: "text/html; charset=utf-8")
        assets = [
            "dashboard.js": Asset(DashboardAssets.script, contentType: "text/javascript; charset=utf-8"),
            "chart.js": Asset(DashboardAssets.chart, contentType: "text/javascript; charset=utf-8"),
            "dashboard.css": Asset(DashboardAssets.style, contentType: "text/css; charset=utf-8"),
            "icon.svg": Asset(DashboardAssets.icon, contentType: "image/svg+xml"),
        ]
    }

    /// Headers of every dashboard response, errors included.
    static func securityHeaders() -> HTTPFields {
        var headers: HTTPFields = [:]
        headers[.contentSecurityPolicy] = contentSecurityPolicy
        headers[.xContentTypeOptions] = "nosniff"
        headers[.referrerPolicy] = "no-referrer"
        headers[.xFrameOptions] = "DENY"
        return headers
    }

    func addRoutes(to router: Router<KairosRequestContext>) {
        router.get("/dashboard") { [page] request, _ in try Self.serve(page, request) }
        router.get("/dashboard/:asset") { [assets] request, context in
            guard let name = context.parameters.get("asset"), let asset = assets[name] else {
                throw APIError(.notFound, "No such dashboard asset.",
                               details: .object(["available": .array(assets.keys.sorted().map { .string($0) })]),
                               headers: Self.securityHeaders())
            }
            return try Self.serve(asset, request)
        }
    }

    /// A query string is ignored (the page keeps nothing in its URL).
    static func serve(_ asset: Asset, _ request: Request) throws(APIError) -> Response {
        var headers = securityHeaders()
        headers[.eTag] = asset.etag
        headers[.cacheControl] = "no-cache"
        if let sent = request.headers[.ifNoneMatch], sent.split(separator: ",").contains(where: {
            $0.trimmingCharacters(in: .whitespaces) == asset.etag
        }) {
            return Response(status: .notModified, headers: headers)
        }
        return JSONResponse.bytes(asset.bytes, contentType: asset.contentType, headers: headers)
    }
}

private extension String {
    func leftPadded(to width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}

extension HTTPFields.Element.Name {
    static let referrerPolicy = HTTPFields.Element.Name("Referrer-Policy")!
    static let xFrameOptions = HTTPFields.Element.Name("X-Frame-Options")!
}
