// swift-tools-version:6.1
import Foundation
import PackageDescription

// Products of the dependencies that several targets use.
let logging: Target.Dependency = .product(name: "Logging", package: "swift-log")
let serviceLifecycle: Target.Dependency = .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")
let swiftProtobuf: Target.Dependency = .product(name: "SwiftProtobuf", package: "swift-protobuf")
let hummingbird: Target.Dependency = .product(name: "Hummingbird", package: "hummingbird")
let coreMetrics: Target.Dependency = .product(name: "CoreMetrics", package: "swift-metrics")
let serviceLifecycleTestKit: Target.Dependency = .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle")
let prometheus: Target.Dependency = .product(name: "Prometheus", package: "swift-prometheus")
let grpcProtobuf: Target.Dependency = .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf")
let grpcTransport: Target.Dependency = .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport")
let grpcCore: Target.Dependency = .product(name: "GRPCCore", package: "grpc-swift-2")

let package = Package(
    name: "seam",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "seam", targets: ["seam"]),
        .library(name: "SeamPostgres", targets: ["SeamPostgres"]),
        .library(name: "SeamLake", targets: ["SeamLake"]),
        .library(name: "SeamSpool", targets: ["SeamSpool"]),
        .library(name: "SeamRecords", targets: ["SeamRecords"]),
        .library(name: "SeamIngest", targets: ["SeamIngest"]),
        .library(name: "SeamLoader", targets: ["SeamLoader"]),
        .library(name: "SeamJoin", targets: ["SeamJoin"]),
        .library(name: "SeamETL", targets: ["SeamETL"]),
        .library(name: "SeamAPI", targets: ["SeamAPI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-async-algorithms.git", from: "1.1.4"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", from: "2.4.1"),
    ],
    targets: [
        // System library shim; never a product.
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"]), .brew(["libpq"])]
        ),
        // Records, ids, timestamps, validation: pure Swift, no I/O.
        .target(name: "SeamModel"),
        .systemLibrary(
            name: "CLZ4",
            pkgConfig: "liblz4",
            providers: [.apt(["liblz4-dev"]), .brew(["lz4"])]
        ),
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"]), .brew(["zlib"])]
        ),
        // gzip bodies decoded exactly: every member, trailers checked, output bounded.
        .target(name: "SeamGzip", dependencies: ["CZlib"]),
        // Durable spool: segment files of checksummed LZ4 frames, group-commit fsync, replay.
        .target(
            name: "SeamSpool",
            dependencies: [
                "CLZ4",
                logging,
            ]
        ),
        // OTLP protobuf and JSON → SeamModel records (generated code under Generated/).
        .target(
            name: "SeamOTLP",
            dependencies: [
                "SeamModel",
                swiftProtobuf,
            ],
            exclude: ["Generated/README.md"]
        ),
        // The time services read and wait on (the system's, or a manual one in tests).
        .target(name: "SeamClock"),
        // Metric handles made once and reused, for every component's metrics.
        .target(
            name: "SeamMetrics",
            dependencies: [coreMetrics]
        ),
        // What both HTTP servers share: the error type, tokens, CORS, /healthz, request metrics.
        .target(
            name: "SeamHTTP",
            dependencies: [
                "SeamMetrics",
                hummingbird,
            ]
        ),
        // The spool record: the one format the HTTP side writes and the loader reads
        // (kind, encoding, receive time, body), and the tag events' binary body.
        .target(name: "SeamRecords", dependencies: ["SeamModel"]),
        // HTTP ingestion (Hummingbird): validation and the acknowledgement into the spool.
        .target(
            name: "SeamIngest",
            dependencies: [
                "SeamModel",
                "SeamOTLP",
                "SeamSpool",
                "SeamRecords",
                "SeamGzip",
                "SeamHTTP",
                "SeamMetrics",
                hummingbird,
                .product(name: "HummingbirdCore", package: "hummingbird"),
                swiftProtobuf,
                coreMetrics,
                logging,
            ]
        ),
        // OTLP/gRPC ingestion (grpc-swift 2; service code generated under Generated/ by
        // ops/gen-proto) on SeamIngest's acknowledgement. Its own module, so that what reads
        // only HTTP (the fuzz targets) does not build the gRPC transport and its TLS.
        .target(
            name: "SeamGRPC",
            dependencies: [
                "SeamIngest",
                "SeamOTLP",
                logging,
                grpcCore,
                grpcTransport,
                grpcProtobuf,
                serviceLifecycle,
            ],
            exclude: ["Generated/README.md"]
        ),
        // The spool → lake path: the loader, the record reader, COPY into the lake tables, progress.
        .target(
            name: "SeamLoader",
            dependencies: [
                "SeamClock",
                "SeamModel",
                "SeamOTLP",
                "SeamSpool",
                "SeamRecords",
                "SeamPostgres",
                "SeamLake",
                "SeamMetrics",
                swiftProtobuf,
                coreMetrics,
                logging,
                serviceLifecycle,
            ]
        ),
        // Generic PostgreSQL client on libpq: connections, pool, COPY, migrations, embedded cluster.
        .target(
            name: "SeamPostgres",
            dependencies: [
                "CLibPQ",
                "SeamModel",
                logging,
            ]
        ),
        // The lake schema as a product: where migrations live, partitions, retention, roles.
        .target(
            name: "SeamLake",
            dependencies: [
                "SeamPostgres",
                "SeamModel",
                logging,
                serviceLifecycle,
                .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
            ]
        ),
        // The join service: derived traces, exposures, event facts and sessions, computed in PostgreSQL.
        .target(
            name: "SeamJoin",
            dependencies: [
                "SeamPostgres",
                "SeamClock",
                "SeamMetrics",
                coreMetrics,
                logging,
                serviceLifecycle,
            ],
            exclude: ["SQL"],
            plugins: ["EmbedSQL"]
        ),
        // Embeds SeamJoin's SQL/*.sql at build time (the tool and its build-tool plugin).
        .executableTarget(name: "embed-sql"),
        .plugin(name: "EmbedSQL", capability: .buildTool(), dependencies: ["embed-sql"]),
        // Scheduled ETL: cron scheduler, jobs (user features, segments, metrics, experiment results), statistics.
        .target(
            name: "SeamETL",
            dependencies: [
                "SeamPostgres",
                "SeamClock",
                "SeamModel",
                "SeamMetrics",
                coreMetrics,
                logging,
                serviceLifecycle,
            ]
        ),
        // Read API for the A/B framework and dashboards: experiments, results, segments.
        .target(
            name: "SeamAPI",
            dependencies: [
                "SeamPostgres",
                "SeamModel",
                "SeamHTTP",
                "SeamMetrics",
                hummingbird,
                logging,
            ]
        ),
        // Settings from flags, environment and seam.yaml, and what a command needs at run time
        // (logging, the database, the lake), for the executable, the benchmarks and the config fuzzer.
        .target(
            name: "SeamSettings",
            dependencies: [
                "SeamETL", "SeamJoin", "SeamIngest", "SeamLake", "SeamSpool", "SeamPostgres",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                logging,
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        // Fuzz targets over every reader of untrusted input (ops/fuzz; replayed by FuzzRegressionTests).
        .target(
            name: "SeamFuzzing",
            dependencies: ["SeamModel", "SeamOTLP", "SeamGzip", "SeamSpool", "SeamRecords", "SeamIngest", "SeamETL", "SeamSettings"]
        ),
        // libFuzzer driver (built with -DFUZZING by ops/fuzz), or a replayer of saved inputs.
        .executableTarget(name: "seam-fuzz", dependencies: ["SeamFuzzing"]),
        // `seam bench`: benchmarks that print a figure and a baseline measured in the same run.
        .target(
            name: "SeamBenchmarks",
            dependencies: [
                "SeamSettings", "SeamPostgres", "SeamLake", "SeamIngest", "SeamLoader", "SeamJoin", "SeamETL", "SeamModel", "SeamOTLP",
                "SeamMetrics", "SeamRecords", "SeamGRPC", "SeamProgress", "SeamAPI",
                swiftProtobuf,
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                logging,
                grpcCore,
                grpcTransport,
                grpcProtobuf,
            ]
        ),
        // The executable only wires: flags, environment, config file, services.
        // Progress of long commands on standard error: redrawn on a terminal, plain lines elsewhere.
        .target(name: "SeamProgress"),
        .executableTarget(
            name: "seam",
            dependencies: [
                "SeamProgress",
                "SeamSettings",
                "SeamBenchmarks",
                "SeamPostgres",
                "SeamLake",
                "SeamSpool",
                "SeamIngest",
                "SeamGRPC",
                "SeamLoader",
                "SeamJoin",
                "SeamETL",
                "SeamAPI",
                "SeamModel",
                "SeamOTLP",
                "SeamMetrics",
                swiftProtobuf,
                prometheus,
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                logging,
                serviceLifecycle,
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        // Helpers several test targets share (a seeded generator, the system's gzip); not a product.
        .target(name: "TestSupport", dependencies: ["SeamClock"], path: "Tests/TestSupport"),
        // A database of its own per test, on the server ops/test starts; not a product.
        .target(name: "DatabaseSupport", dependencies: ["SeamPostgres", "SeamLake"], path: "Tests/DatabaseSupport"),
        .testTarget(
            name: "SeamPostgresTests",
            dependencies: ["SeamPostgres", "DatabaseSupport"]
        ),
        .testTarget(
            name: "SeamLakeTests",
            dependencies: ["SeamLake", "SeamPostgres", "DatabaseSupport", logging]
        ),
        .testTarget(
            name: "SeamJoinTests",
            dependencies: [
                "SeamJoin", "SeamPostgres", "SeamLake", "SeamClock", "SeamMetrics", "DatabaseSupport", "TestSupport",
                prometheus,
                serviceLifecycle,
                serviceLifecycleTestKit,
            ]
        ),
        .testTarget(
            name: "SeamLoaderTests",
            dependencies: [
                "SeamLoader", "SeamPostgres", "SeamModel", "SeamRecords", "SeamSpool", "SeamClock", "DatabaseSupport", "TestSupport",
                serviceLifecycle,
                serviceLifecycleTestKit,
            ]
        ),
        .testTarget(
            name: "SeamModelTests",
            dependencies: ["SeamModel"]
        ),
        .testTarget(
            name: "SeamOTLPTests",
            dependencies: ["SeamOTLP", "SeamModel", "TestSupport", swiftProtobuf]
        ),
        .testTarget(
            name: "SeamIngestTests",
            dependencies: [
                "SeamIngest", "SeamGRPC", "SeamModel", "SeamGzip", "SeamOTLP", "SeamRecords", "SeamSpool", "SeamMetrics",
                hummingbird,
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                prometheus,
                swiftProtobuf,
                logging,
                grpcCore,
                grpcTransport,
                grpcProtobuf,
                serviceLifecycle,
            ]
        ),
        .testTarget(
            name: "SeamRecordsTests",
            dependencies: ["SeamRecords", "SeamModel"]
        ),
        .testTarget(
            name: "SeamETLTests",
            dependencies: [
                "SeamETL", "SeamPostgres", "DatabaseSupport", "TestSupport",
                serviceLifecycle,
                serviceLifecycleTestKit,
            ],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "SeamAPITests",
            dependencies: [
                "SeamAPI", "SeamHTTP", hummingbird,
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]
        ),
        .testTarget(
            name: "SeamGzipTests",
            dependencies: ["SeamGzip", "TestSupport"]
        ),
        .testTarget(
            name: "FuzzRegressionTests",
            dependencies: ["SeamFuzzing"],
            exclude: ["Inputs", "audited-sites.txt"]
        ),
        .testTarget(
            name: "SeamSpoolTests",
            dependencies: ["SeamSpool"]
        ),
        .testTarget(
            name: "SeamCLITests",
            dependencies: ["seam", "SeamSettings", "SeamETL", "SeamProgress"]
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "SeamPostgres", "SeamLake", "SeamSpool", "SeamModel", "SeamIngest", "SeamLoader", "SeamRecords", "SeamMetrics", "SeamOTLP", "SeamJoin", "SeamETL", "SeamAPI",
                "TestSupport", "DatabaseSupport",
                swiftProtobuf,
                .product(name: "CompressNIO", package: "compress-nio"),
                prometheus,
                .product(name: "Yams", package: "Yams"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)

// ops/fuzz sets SEAM_FUZZING: the targets the fuzzer reaches are built with libFuzzer's and
// AddressSanitizer's instrumentation and -DFUZZING, and seam-fuzz links their runtimes. Not
// the build-time tools (embed-sql): they must stay ordinary programs that run during the build.
if ProcessInfo.processInfo.environment["SEAM_FUZZING"] != nil {
    for target in package.targets where target.type == .regular || target.name == "seam-fuzz" {
        target.swiftSettings = (target.swiftSettings ?? []) + [.unsafeFlags(["-sanitize=fuzzer,address"]), .define("FUZZING")]
    }
    for target in package.targets where target.name == "seam-fuzz" {
        target.linkerSettings = (target.linkerSettings ?? []) + [.unsafeFlags(["-sanitize=fuzzer,address"])]
    }
}
