// swift-tools-version:6.0
// Layers, one direction of dependency:
//   CEvaFFI (C headers + libmsgpack) <- EAPI (values, errors, host protocol)
//   <- EvaFFI (the ABI: exports, result buffers, op calls)
//   VirtualController (plain Swift, needs only EAPI)
//   EvaVirtualController (the @_cdecl shim) joins EvaFFI and VirtualController.
//   HelloService (examples/hello-service): the SDK's example, EvaFFI only.
import PackageDescription

let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "eva-virtual-controller",
    products: [
        .library(name: "eva-virtual-controller", type: .dynamic, targets: ["EvaVirtualController"]),
        .library(name: "EvaFFI", targets: ["EvaFFI"]),
        // The SDK's example service (examples/hello-service); `make examples`
        // links it to load on a node (mk/eva-ffi-service.mk).
        .library(name: "hello-service", type: .dynamic, targets: ["HelloService"]),
        // For fuzz/ (a separate package that depends on this one by path).
        .library(name: "VirtualController", targets: ["EAPI", "VirtualController"]),
    ],
    targets: [
        .systemLibrary(name: "CEvaFFI", path: "Sources/CEvaFFI", pkgConfig: "msgpack",
                       providers: [.apt(["libmsgpack-dev"])]),
        .target(name: "EAPI", dependencies: ["CEvaFFI"], swiftSettings: strict),
        .target(name: "EvaFFI", dependencies: ["CEvaFFI", "EAPI"], swiftSettings: strict),
        .target(name: "VirtualController", dependencies: ["EAPI"], swiftSettings: strict),
        .target(name: "EvaVirtualController", dependencies: ["EvaFFI", "VirtualController"],
                swiftSettings: strict),
        .target(name: "HelloService", dependencies: ["EvaFFI", "EAPI", "CEvaFFI"], path: "examples/hello-service",
                exclude: ["hello.svc.yml", "hello-workers2.svc.yml", "hello.yml"], swiftSettings: strict),
        .testTarget(name: "EAPITests", dependencies: ["EAPI"], swiftSettings: strict),
        .testTarget(name: "EvaFFITests", dependencies: ["EvaFFI", "CEvaFFI"], swiftSettings: strict),
        .testTarget(name: "VirtualControllerTests", dependencies: ["VirtualController"],
                    swiftSettings: strict),
    ]
)
