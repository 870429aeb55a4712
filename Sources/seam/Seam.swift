import Foundation
import ArgumentParser
import SeamBenchmarks
import SeamSettings

@main
struct Seam: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seam",
        abstract: "Seam: an event-joining data lake for OpenTelemetry traces, logs and tag events, on PostgreSQL.",
        discussion: """
            Without a database URL (--database-url, SEAM_DATABASE_URL or database.url in the config file) \
            Seam runs a private PostgreSQL cluster under its home directory (.seam/ or SEAM_HOME).
            """,
        subcommands: [ServeCommand.self, MigrateCommand.self, DBCommand.self, JoinCommand.self, ETLCommand.self, ExportCommand.self, SpoolCommand.self, BenchCommand.self]
    )
}
