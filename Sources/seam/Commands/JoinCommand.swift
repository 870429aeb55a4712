import SeamSettings
import ArgumentParser
import SeamProgress
import Foundation
import Logging
import SeamJoin
import SeamModel
import SeamPostgres

struct JoinCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "join", abstract: "The join service: derived traces, exposures, event facts and sessions.",
        subcommands: [Run.self, Rebuild.self, Status.self])

    /// Runs `body` with a pool on Seam's database (starting the embedded cluster when needed).
    static func withPool(_ options: GlobalOptions, _ body: (Runtime, PostgresPool) async throws -> Void) async throws {
        let runtime = try Runtime(options: options)
        try await runtime.withLake(maximumConnections: 2) { pool, _ in try await body(runtime, pool) }
    }

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Process the join queue until it is empty, then exit (seam serve does this continuously).")
        @OptionGroup var options: GlobalOptions

        func run() async throws {
            try await JoinCommand.withPool(options) { runtime, pool in
                let worker = JoinWorker(pool: pool, configuration: runtime.settings.join)
                print("seam join run: \(try await worker.drain().summary)")
            }
        }
    }

    struct Rebuild: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recompute the derived tables for a time range, late data older than the horizon included.",
            discussion: "Times are RFC 3339 (2026-11-20T00:00:00Z) or dates (2026-11-20, midnight UTC); the range is [from, to).")
        @OptionGroup var options: GlobalOptions
        @Option(help: "Start of the range (inclusive).") var from: String
        @Option(help: "End of the range (exclusive).") var to: String

        func run() async throws {
            let start = try Self.parse(from, "--from")
            let end = try Self.parse(to, "--to")
            guard start < end else { throw ValidationError("--from must be before --to") }
            try await JoinCommand.withPool(options) { runtime, pool in
                let progress = ProgressReporter(label: "seam join rebuild")
                progress.step("queueing the keys of the range")
                let queued = try await pool.withConnection { try JoinRebuild.enqueue(from: start, to: end, on: $0) }
                progress.finish("\(queued.values.reduce(0, +)) keys")
                print(
                    "seam join rebuild: queued \(queued.map { "\($0.key.label)=\($0.value)" }.sorted().joined(separator: " "))")
                let worker = JoinWorker(pool: pool, configuration: runtime.settings.join)
                // The queued keys are what is known to do; recomputing them queues what depends
                // on them (sessions, propagation), so the count may pass the total.
                let keys = queued.values.reduce(0, +)
                progress.step("recomputing", total: keys)
                let report = try await worker.drain { progress.update(done: min($0.totalItems, keys)) }
                progress.finish("\(report.totalItems) items")
                print("seam join rebuild: \(report.summary)")
            }
        }

        static func parse(_ text: String, _ option: String) throws -> Date {
            if let date = RFC3339.parse(text) { return date }
            if let date = RFC3339.parse(text + "T00:00:00Z") { return date }
            throw ValidationError("\(option): expected an RFC 3339 time or a YYYY-MM-DD date, got \"\(text)\"")
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the join lag and the queue length.")
        @OptionGroup var options: GlobalOptions

        func run() async throws {
            try await JoinCommand.withPool(options) { _, pool in
                let status = try await JoinStatus.read(from: pool)
                print(
                    String(
                        format: "lag_seconds %.3f\npending_items %d\nset_aside_items %d", status.lagSeconds, status.pendingItems,
                        status.setAsideItems))
            }
        }
    }
}
