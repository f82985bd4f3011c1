// swift-tools-version:6.0
// swinetd: an inetd-style super-server. One library holds the logic; the
// executable is a thin CLI over it; two small C targets reach what Swift
// should not do itself (libyaml, and the child side of fork/exec).
import PackageDescription

let package = Package(
    name: "swinetd",
    products: [
        .executable(name: "swinetd", targets: ["swinetd"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
    ],
    targets: [
        // The system libyaml (Debian: libyaml-dev); only Config/YAMLDocument.swift imports it.
        .systemLibrary(
            name: "CYAML",
            pkgConfig: "yaml-0.1",
            providers: [.apt(["libyaml-dev"])]
        ),
        // The system libseccomp (Debian: libseccomp-dev): the handlers' seccomp
        // filters are built with it once per service (Spawn/SeccompFilter.swift).
        .systemLibrary(
            name: "CSeccomp",
            pkgConfig: "libseccomp",
            providers: [.apt(["libseccomp-dev"])]
        ),
        // The child side of spawning: async-signal-safe C between vfork and execve.
        .target(name: "CSpawn"),
        // Linux calls Swift's Glibc module lacks: epoll, signalfd, accept4, pipe2, raw signal masks.
        .target(name: "CLinux"),
        // Everything swinetd does: the table, sockets, the event loop, spawning, logging.
        .target(
            name: "SwinetdCore",
            dependencies: [
                "CYAML", "CSeccomp", "CSpawn", "CLinux",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "HeapModule", package: "swift-collections"),
                .product(name: "DequeModule", package: "swift-collections"),
            ]
        ),
        // The command line: parse flags, then hand over to SwinetdCore.
        .executableTarget(
            name: "swinetd",
            dependencies: [
                "SwinetdCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // libFuzzer's target for the table loader (`make fuzz`); built plainly
        // it replays the files it is given.
        .executableTarget(
            name: "TableFuzzer",
            dependencies: ["SwinetdCore"]
        ),
        // Unit and golden tests of the library.
        .testTarget(
            name: "SwinetdCoreTests",
            dependencies: ["SwinetdCore"],
            exclude: ["Fixtures"]
        ),
        // The real binary on loopback: serve, limits, reload, signals, privileges.
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["swinetd"],
            exclude: ["Fixtures"]
        ),
    ]
)
