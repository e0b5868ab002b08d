import KairosEngine

/// The OpenAPI 3.1 description of the whole API.
enum OpenAPIDocument {
    static let document: JSONValue = .object(["openapi": "3.1.0"])
}
