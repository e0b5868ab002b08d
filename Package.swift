// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "Kairos",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "kairos", targets: ["kairos"]),
        .library(name: "KairosEngine", targets: ["KairosEngine"]),
        .library(name: "KairosAPI", targets: ["KairosAPI"]),
        .library(name: "KairosScript", targets: ["KairosScript"]),
        .library(name: "KairosServer", targets: ["KairosServer"]),
        .library(name: "KairosClient", targets: ["KairosClient"]),
        .library(name: "KairosRemote", targets: ["KairosRemote"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.8.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-async-algorithms", from: "1.1.4"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        .target(
            name: "KairosEngine",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")]
        ),
        .target(name: "KairosAPI", dependencies: ["KairosEngine"]),
        .target(name: "KairosScript", dependencies: ["KairosEngine"]),
        .target(
            name: "KairosServer",
            dependencies: [
                "KairosEngine", "KairosAPI",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            exclude: ["Dashboard/www"]  // the dashboard's files, embedded by scripts/dashboard-embed
        ),
        .target(
            name: "KairosClient",
            dependencies: [
                "KairosEngine", "KairosAPI",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(name: "KairosRemote", dependencies: ["KairosEngine", "KairosAPI", "KairosScript", "KairosClient"]),
        .executableTarget(
            name: "kairos",
            dependencies: [
                "KairosEngine", "KairosAPI", "KairosScript", "KairosREPL", "KairosServer", "KairosRemote",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .systemLibrary(name: "CLibEdit", pkgConfig: "libedit", providers: [.apt(["libedit-dev"])]),
        .target(name: "KairosREPL", dependencies: ["CLibEdit", "KairosEngine", "KairosScript"]),
        .executableTarget(name: "KairosBench", dependencies: ["KairosEngine"]),
        // The libFuzzer target (scripts/fuzz); an ordinary build makes it a replayer of inputs.
        .executableTarget(name: "KairosFuzz", dependencies: ["KairosScript"]),
        .target(name: "KairosTestSupport", path: "Tests/KairosTestSupport"),
        .testTarget(
            name: "KairosEngineTests",
            dependencies: ["KairosEngine", "KairosAPI", "kairos", "KairosTestSupport"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "KairosScriptTests",
            dependencies: ["KairosScript", "KairosEngine", "KairosAPI", "kairos", "KairosTestSupport"],
            exclude: ["Conformance"]
        ),
        .testTarget(name: "KairosREPLTests", dependencies: ["KairosREPL", "kairos", "KairosTestSupport"]),
        .testTarget(
            name: "KairosServerTests",
            dependencies: [
                "KairosServer", "KairosAPI", "KairosEngine", "kairos", "KairosClient", "KairosRemote", "KairosScript", "KairosTestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .testTarget(
            name: "KairosClientTests",
            dependencies: [
                "KairosClient", "KairosAPI", "KairosEngine", "KairosRemote", "KairosScript", "KairosTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]
        ),
    ]
)
