import SeamSettings
import ArgumentParser
import Foundation
import SeamProgress
import SeamSpool

struct SpoolCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spool", abstract: "Inspect the durable spool.", subcommands: [Verify.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check every frame of a spool directory (read-only); exit 1 when damage is found.")
        @OptionGroup var options: GlobalOptions
        @Option(help: "Spool directory (default: the configured spool, home/spool).")
        var dir: String?

        func run() async throws {
            let runtime = try Runtime(options: options)
            let directory = dir.map { URL(fileURLWithPath: $0) } ?? runtime.settings.spoolURL
            guard FileManager.default.fileExists(atPath: directory.path) else {
                throw ValidationError("no spool at \(directory.path)")
            }
            let progress = ProgressReporter(label: "seam spool verify")
            progress.step("segments", total: (try? FileManager.default.contentsOfDirectory(atPath: directory.path))?.filter { $0.hasSuffix(".seg") }.count)
            let report = try await runBlockingVerify(directory, progress: progress)
            progress.finish("\(report.segments.count) segments, \(report.isClean ? "clean" : "damage found")")
            print("spool \(directory.path): \(report.segments.count) segments")
            for segment in report.segments {
                var line = "  segment \(segment.number): \(segment.bytes) bytes, \(segment.frames) frames, \(segment.payloadBytes) payload bytes"
                for damage in segment.corrupt { line += "\n    CORRUPT at offset \(damage.offset), \(damage.length) bytes (valid frames follow; the loader keeps these bytes in lake.rejected)" }
                if segment.preallocatedBytes > 0 { line += "\n    \(segment.preallocatedBytes) bytes preallocated after the last frame (zeros, not data)" }
                if let torn = segment.tornTail { line += "\n    TORN TAIL at offset \(torn.offset), \(torn.length) bytes (an unfinished, unacknowledged write; cut when Seam opens the spool)" }
                print(line)
            }
            print(report.isClean ? "ok: every frame is intact" : "damage found")
            if !report.isClean { throw ExitCode(1) }
        }

        private func runBlockingVerify(_ directory: URL, progress: ProgressReporter) async throws -> SpoolVerification {
            try await withCheckedThrowingContinuation { continuation in
                Thread.detachNewThread {
                    continuation.resume(with: Result { try SpoolVerification.run(directory: directory) { done, _ in progress.update(done: done) } })
                }
            }
        }
    }
}
