// swift-tools-version:6.0
// libFuzzer targets for the virtual controller, kept out of the root
// package so that its `swift build` / `swift test` never see them.
// Build (fuzz/run.sh does this):
//   swift build --package-path fuzz --scratch-path .build-fuzz -c release \
//     -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
// Targets: fuzz-rpc (svc_on_rpc_call against a running controller),
// fuzz-frame (svc_on_frame), fuzz-init (svc_init, a fresh runtime per input).
import PackageDescription

let package = Package(
    name: "eva-virtual-controller-fuzz",
    dependencies: [.package(name: "eva-virtual-controller", path: "..")],
    targets: [
        // The launcher's op function: a registry, publish/log sinks, and
        // checks that whatever the library hands the launcher is well formed.
        .target(name: "FuzzLauncher", linkerSettings: [.linkedLibrary("msgpackc")]),
        .target(name: "FuzzKit", dependencies: [
            "FuzzLauncher",
            .product(name: "EvaFFI", package: "eva-virtual-controller"),
            .product(name: "VirtualController", package: "eva-virtual-controller"),
        ]),
        .executableTarget(name: "fuzz-rpc", dependencies: ["FuzzKit"]),
        .executableTarget(name: "fuzz-frame", dependencies: ["FuzzKit"]),
        .executableTarget(name: "fuzz-init", dependencies: ["FuzzKit"]),
    ]
)
