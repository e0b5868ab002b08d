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
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
    ],
    targets: [
        .target(
            name: "KairosEngine",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")]
        ),
        .target(name: "KairosAPI", dependencies: ["KairosEngine"]),
        .target(name: "KairosScript", dependencies: ["KairosEngine"]),
        .executableTarget(
            name: "kairos",
            dependencies: [
                "KairosEngine", "KairosAPI", "KairosScript", "KairosREPL",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .systemLibrary(name: "CLibEdit", pkgConfig: "libedit", providers: [.apt(["libedit-dev"])]),
        .target(name: "KairosREPL", dependencies: ["CLibEdit", "KairosEngine", "KairosScript"]),
        .executableTarget(name: "KairosBench", dependencies: ["KairosEngine"]),
        .testTarget(
            name: "KairosEngineTests",
            dependencies: ["KairosEngine", "KairosAPI", "kairos"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "KairosScriptTests",
            dependencies: ["KairosScript", "KairosEngine", "KairosAPI", "kairos"],
            exclude: ["Conformance"]
        ),
        .testTarget(name: "KairosREPLTests", dependencies: ["KairosREPL", "kairos"]),
    ]
)
