import Foundation
import ArgumentParser
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
        subcommands: [ServeCommand.self, MigrateCommand.self, DBCommand.self, JoinCommand.self, ETLCommand.self, SpoolCommand.self, BenchCommand.self]
    )
}

/// Options every command takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "YAML config file (or SEAM_CONFIG).")
    var config: String?

    @Option(name: .long, help: "libpq connection string or URI (or SEAM_DATABASE_URL). Omit for the embedded cluster.")
    var databaseURL: String?

    @Option(name: .long, help: "Seam's home directory for the embedded cluster (or SEAM_HOME; default .seam).")
    var home: String?

    @Option(name: .long, help: "Directory of migration files (or SEAM_MIGRATIONS_DIR; found automatically).")
    var migrations: String?

    @Option(name: .long, help: "trace, debug, info, notice, warning, error or critical (or SEAM_LOG_LEVEL).")
    var logLevel: String?

    @Option(name: .long, help: "Roles seam serve runs, comma-separated: ingest, maintenance, join, etl, api (or SEAM_ROLES; default all).")
    var roles: String?
}

extension GlobalOptions {
    /// The settings these options select (flags over environment over config file).
    var overrides: Settings.Overrides {
        Settings.Overrides(config: config, databaseURL: databaseURL, home: home, migrations: migrations, logLevel: logLevel, roles: roles)
    }
}

extension Settings {
    /// Resolves the settings for a command's options.
    static func resolve(options: GlobalOptions, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Settings {
        try resolve(options: options.overrides, environment: environment)
    }
}
