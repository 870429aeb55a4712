import ArgumentParser
import Foundation
import SeamAPI
import SeamPostgres
import SeamSettings

#if canImport(Glibc)
    import Glibc
#endif

struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Export lake data for other tools.", subcommands: [DSJSON.self])

    struct DSJSON: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "dsjson",
            abstract: "A bandit's decisions with their rewards as Vowpal Wabbit DSJSON (vw --cb_explore_adf --dsjson).",
            discussion: """
                One decision per line, in decision time order; only decisions whose reward window has closed \
                (the bandits ETL job computes rewards: run `seam etl run bandits` first). Times are RFC 3339 \
                (2026-11-20T00:00:00Z) or dates (2026-11-20, midnight UTC).
                """)
        @OptionGroup var options: GlobalOptions
        @Option(help: "The bandit (lake.decisions.bandit_key).") var bandit: String
        @Option(help: "Start of the decision time window (inclusive); default: the first decision.") var from: String?
        @Option(help: "End of the window (exclusive); default: now.") var to: String?
        @Option(help: "File to write (replaced); default: standard output.") var out: String?

        func run() async throws {
            let start = try from.map { try JoinCommand.Rebuild.parse($0, "--from") }
            let end = try to.map { try JoinCommand.Rebuild.parse($0, "--to") }
            if let start, let end, start >= end { throw ValidationError("--from must be before --to") }
            let runtime = try Runtime(options: options)
            let handle: FileHandle
            if let out {
                guard FileManager.default.createFile(atPath: out, contents: nil) else {
                    throw ValidationError("--out: cannot create \(out): \(String(cString: strerror(errno)))")
                }
                handle = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
            } else {
                handle = FileHandle.standardOutput
            }
            let written = try await runtime.withLake { pool, _ in
                try await DSJSONExport.export(bandit: bandit, from: start, to: end, pool: pool) { bytes in
                    // File writes block: on a thread of their own, off the cooperative pool.
                    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
                        Thread.detachNewThread { continuation.resume(with: Result { try handle.write(contentsOf: bytes) }) }
                    }
                }
            }
            if out != nil { try handle.close() }
            FileHandle.standardError.write(Data("seam export dsjson: \(written) decisions of \(bandit)\n".utf8))
        }
    }
}
