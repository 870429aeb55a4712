import SeamSettings
import ArgumentParser
import Foundation
import SeamPostgres

#if canImport(Glibc)
    import Glibc
#endif

struct DBCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db",
        abstract: "Manage the embedded PostgreSQL cluster (used when no database URL is set).",
        subcommands: [Start.self, Stop.self, Status.self, Psql.self, URLCommand.self])

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Initialize (first time) and start the embedded cluster.")
        @OptionGroup var options: GlobalOptions

        func run() async throws {
            let runtime = try Runtime(options: options)
            try refuseExternal(runtime)
            let cluster = runtime.embeddedCluster
            let started = try await runBlocking { try cluster.start() }
            print(started ? "started: \(cluster.url)" : "already running: \(cluster.url)")
        }
    }

    struct Stop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop the embedded cluster (data is kept).")
        @OptionGroup var options: GlobalOptions

        func run() async throws {
            let runtime = try Runtime(options: options)
            try refuseExternal(runtime)
            try await runtime.embeddedCluster.stopAsync()
            print("stopped")
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print whether the embedded cluster runs; exit 0 when running, 3 when not.")
        @OptionGroup var options: GlobalOptions

        func run() async throws {
            let runtime = try Runtime(options: options)
            if runtime.settings.databaseURL != nil {
                print("external database configured; the embedded cluster is not used")
                return
            }
            let cluster = runtime.embeddedCluster
            let status = try await runBlocking { try cluster.status() }
            print("\(status) — \(cluster.dataDirectory.path)")
            if case .running = status { return }
            throw ExitCode(3)
        }
    }

    struct Psql: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Open psql on Seam's database (embedded or configured); extra arguments go to psql.")
        @OptionGroup var options: GlobalOptions
        @Argument(parsing: .captureForPassthrough, help: "Arguments passed to psql.")
        var psqlArguments: [String] = []

        func run() async throws {
            let runtime = try Runtime(options: options)
            let url = runtime.settings.databaseURL ?? runtime.embeddedCluster.url
            let arguments = ["psql", url] + psqlArguments
            var cArguments = arguments.map { strdup($0) }
            cArguments.append(nil)
            execvp("psql", &cArguments)
            throw ValidationError("cannot run psql (\(String(cString: strerror(errno)))); install postgresql-client")
        }
    }

    struct URLCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "url", abstract: "Print the libpq URL of Seam's database (embedded or configured).")
        @OptionGroup var options: GlobalOptions

        func run() async throws {
            let runtime = try Runtime(options: options)
            print(runtime.settings.databaseURL ?? runtime.embeddedCluster.url)
        }
    }
}

private func refuseExternal(_ runtime: Runtime) throws {
    if runtime.settings.databaseURL != nil {
        throw ValidationError("a database URL is configured, so the embedded cluster is not used; unset SEAM_DATABASE_URL to manage it")
    }
}
