import SeamSettings
import ArgumentParser
import SeamPostgres

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply pending lake migrations, create the lake roles and upcoming partitions.")

    @OptionGroup var options: GlobalOptions

    func run() async throws {
        try await Runtime(options: options).withLake { _, report in
            let applied = report.migrations.applied.map { String(format: "%04d", $0) }
            print(
                applied.isEmpty
                    ? "seam migrate: up to date (\(report.migrations.alreadyApplied.count) migrations applied)"
                    : "seam migrate: applied \(applied.joined(separator: ", "))")
            if !report.roles.isComplete {
                print("seam migrate: lake roles need an administrator; run:\n\(report.roles.pendingSQL.joined(separator: "\n"))")
            }
        }
    }
}
