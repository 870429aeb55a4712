import ArgumentParser
import Foundation

/// Options every command takes.
public struct GlobalOptions: ParsableArguments, Sendable {
    public init() {}

    @Option(name: .long, help: "YAML config file (or SEAM_CONFIG).")
    public var config: String?

    @Option(name: .long, help: "libpq connection string or URI (or SEAM_DATABASE_URL). Omit for the embedded cluster.")
    public var databaseURL: String?

    @Option(name: .long, help: "Seam's home directory for the embedded cluster (or SEAM_HOME; default .seam).")
    public var home: String?

    @Option(name: .long, help: "Directory of migration files (or SEAM_MIGRATIONS_DIR; found automatically).")
    public var migrations: String?

    @Option(name: .long, help: "trace, debug, info, notice, warning, error or critical (or SEAM_LOG_LEVEL).")
    public var logLevel: String?

    @Option(name: .long, help: "Roles seam serve runs, comma-separated: ingest, maintenance, join, etl, api (or SEAM_ROLES; default all).")
    public var roles: String?
}

extension GlobalOptions {
    /// The settings these options select (flags over environment over config file).
    public var overrides: Settings.Overrides {
        Settings.Overrides(config: config, databaseURL: databaseURL, home: home, migrations: migrations, logLevel: logLevel, roles: roles)
    }
}

extension Settings {
    /// Resolves the settings for a command's options.
    public static func resolve(options: GlobalOptions, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Settings {
        try resolve(options: options.overrides, environment: environment)
    }
}
