import Foundation
import Logging
import SeamETL
import SeamIngest
import SeamJoin
import SeamLake
import SeamSpool

/// Seam's resolved settings: flags, then environment, then the config file, then defaults.
/// Only the executable uses them: components take their own `Configuration`.
public struct Settings: Sendable {
    /// libpq connection string or URI; nil means the embedded cluster.
    public var databaseURL: String?
    /// Seam's home directory (embedded cluster, later the spool).
    public var home: String = ".seam"
    /// Directory of migration files; found automatically when nil.
    public var migrationsDirectory: String?
    /// Directory of PostgreSQL's server programs for the embedded cluster; found automatically when nil.
    public var pgBinDirectory: String?
    public var logLevel: Logger.Level = .info
    // Components' configurations, with their own defaults: settings only map flags,
    // environment and the config file onto them.
    /// Partitions ahead and retention (`lake.*`); retention 0 keeps everything.
    public var maintenance = PartitionMaintenance.Configuration()
    /// The HTTP server: address, body and header limits, timeouts, tokens and their scopes
    /// (`http.*`, `ingest.*`). The read-API-only role listens on the same address.
    public var ingest = IngestConfiguration()
    /// OTLP/gRPC (`grpc.addr`); nil when `off`. Its message limit is `http.max_body_bytes`.
    public var grpc: OTLPGRPCConfiguration? = OTLPGRPCConfiguration()
    /// Origins whose pages may call the read API (CORS); none by default.
    public var apiAllowedOrigins: Set<String> = []
    /// What `seam serve` runs.
    public var roles: Set<Role> = Set(Role.allCases)
    /// Whether `seam serve` loads its spool into the lake (off only for benchmarks and maintenance).
    public var loaderEnabled = true
    /// Spool directory; `home/spool` when nil.
    public var spoolDirectory: String?
    /// The spool's sizes (`spool.*`); its directory comes from `spoolDirectory` or home
    /// (see `spoolConfiguration`).
    public var spool = Spool.Configuration(directory: URL(fileURLWithPath: "spool"))
    /// The join service (`join.*`).
    public var join = JoinConfiguration()
    /// Join workers in one `seam serve` process, each with its own connection.
    public var joinWorkers: Int = 1
    /// The ETL's schedules, lookback and prior (`etl.*`); the metric, segment and
    /// experiment definitions are added by `etlConfiguration()`.
    public var etl = ETLConfiguration()
    /// Read tokens of the metrics API; empty means open.
    public var apiTokens: Set<String> = []
    /// Metrics, segments and experiments from the config file.
    var etlDefinitions = ETLDefinitionsFile(path: "")

    /// Every setting by its config-file key path, environment variable and flag (for errors and docs).
    public static let environmentNames: [(variable: String, keyPath: String)] = [
        ("SEAM_DATABASE_URL", "database.url"),
        ("SEAM_HOME", "home"),
        ("SEAM_MIGRATIONS_DIR", "migrations"),
        ("SEAM_PG_BINDIR", "database.embedded.bin_dir"),
        ("SEAM_LOG_LEVEL", "log_level"),
        ("SEAM_RETENTION_DAYS", "lake.retention_days"),
        ("SEAM_PARTITION_DAYS_AHEAD", "lake.partition_days_ahead"),
        ("SEAM_MAINTENANCE_INTERVAL_SECONDS", "lake.maintenance_interval_seconds"),
        ("SEAM_HTTP_ADDR", "http.addr"),
        ("SEAM_GRPC_ADDR", "grpc.addr"),
        ("SEAM_MAX_BODY_BYTES", "http.max_body_bytes"),
        ("SEAM_INGEST_TOKENS", "ingest.tokens"),
        ("SEAM_BROWSER_TOKENS", "ingest.browser_tokens"),
        ("SEAM_HTTP_IDLE_TIMEOUT_SECONDS", "http.idle_timeout_seconds"),
        ("SEAM_HTTP_BODY_TIMEOUT_SECONDS", "http.body_timeout_seconds"),
        ("SEAM_HTTP_MAX_CONNECTIONS", "http.max_connections"),
        ("SEAM_HTTP_DECODE_BUDGET_BYTES", "http.decode_budget_bytes"),
        ("SEAM_HTTP_MAX_HEADER_BYTES", "http.max_header_bytes"),
        ("SEAM_METRICS_TOKEN", "http.metrics_token"),
        ("SEAM_API_ALLOWED_ORIGINS", "api.allowed_origins"),
        ("SEAM_SPOOL_DIR", "spool.dir"),
        ("SEAM_LOADER", "spool.loader"),
        ("SEAM_ROLES", "roles"),
        ("SEAM_SPOOL_MAX_BYTES", "spool.max_bytes"),
        ("SEAM_SPOOL_SEGMENT_BYTES", "spool.segment_bytes"),
        ("SEAM_JOIN_HORIZON_DAYS", "join.horizon_days"),
        ("SEAM_SESSION_TIMEOUT_MINUTES", "join.session_timeout_minutes"),
        ("SEAM_JOIN_POLL_MS", "join.poll_ms"),
        ("SEAM_JOIN_BATCH_ITEMS", "join.batch_items"),
        ("SEAM_JOIN_BACKLOG_ITEMS", "join.backlog_items"),
        ("SEAM_JOIN_INDEX_REBUILD_WAIT_MS", "join.index_rebuild_wait_ms"),
        ("SEAM_JOIN_WORKERS", "join.workers"),
        ("SEAM_ETL_SCHEDULE", "etl.schedule"),
        ("SEAM_ETL_LOOKBACK_HOURS", "etl.lookback_hours"),
        ("SEAM_ETL_USER_FEATURES_SCHEDULE", "etl.jobs.user_features.schedule"),
        ("SEAM_ETL_SEGMENTS_SCHEDULE", "etl.jobs.segments.schedule"),
        ("SEAM_ETL_SEGMENT_METRICS_SCHEDULE", "etl.jobs.segment_metrics.schedule"),
        ("SEAM_ETL_EXPERIMENT_RESULTS_SCHEDULE", "etl.jobs.experiment_results.schedule"),
        ("SEAM_PRIOR_ALPHA", "etl.user_features.prior_alpha"),
        ("SEAM_PRIOR_BETA", "etl.user_features.prior_beta"),
        ("SEAM_API_TOKENS", "api.tokens"),
    ]

    /// What the command line gives (each nil when not given).
    public struct Overrides: Sendable {
        public var config: String?
        public var databaseURL: String?
        public var home: String?
        public var migrations: String?
        public var logLevel: String?
        public var roles: String?

        public init(
            config: String? = nil, databaseURL: String? = nil, home: String? = nil, migrations: String? = nil,
            logLevel: String? = nil, roles: String? = nil
        ) {
            self.config = config
            self.databaseURL = databaseURL
            self.home = home
            self.migrations = migrations
            self.logLevel = logLevel
            self.roles = roles
        }
    }

    /// Resolves the settings for a command.
    public static func resolve(
        options: Overrides, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> Settings {
        var settings = Settings()
        if let path = options.config ?? environment["SEAM_CONFIG"] {
            try ConfigFile.load(path: path).apply(to: &settings)
            settings.etlDefinitions = try ETLDefinitionsFile.load(path: path)
        }
        for (variable, keyPath) in environmentNames {
            guard let value = environment[variable], !value.isEmpty else { continue }
            try settings.set(keyPath, to: value, source: "environment variable \(variable)")
        }
        if let value = options.databaseURL { settings.databaseURL = value }
        if let value = options.home { settings.home = value }
        if let value = options.migrations { settings.migrationsDirectory = value }
        if let value = options.logLevel { try settings.set("log_level", to: value, source: "--log-level") }
        if let value = options.roles { try settings.set("roles", to: value, source: "--roles") }
        _ = try settings.etlConfiguration()
        let shared = settings.apiTokens.intersection(settings.ingest.tokens.keys)
        guard shared.isEmpty else {
            throw SettingsError("a token is both an ingestion token and a read token (api.tokens); give each scope its own token")
        }
        return settings
    }

    /// Sets one setting from text, validating it; `source` names where the text came from.
    public mutating func set(_ keyPath: String, to value: String, source: String) throws {
        // Every number has an upper bound too: settings multiply into seconds, bytes and
        // partition counts, and nothing derived from them may overflow.
        func integer(minimum: Int, maximum: Int) throws -> Int {
            guard let number = Int(value.trimmingCharacters(in: .whitespaces)), number >= minimum, number <= maximum else {
                throw SettingsError("\(source): \(keyPath) must be an integer from \(minimum) to \(maximum), got \"\(value)\"")
            }
            return number
        }
        switch keyPath {
        case "database.url": databaseURL = value
        case "home": home = value
        case "migrations": migrationsDirectory = value
        case "database.embedded.bin_dir": pgBinDirectory = value
        case "log_level":
            guard let level = Logger.Level(rawValue: value.lowercased()) else {
                throw SettingsError(
                    "\(source): log_level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(value)\"")
            }
            logLevel = level
        case "lake.retention_days": maintenance.retentionDays = try integer(minimum: 0, maximum: 36_500)
        case "lake.partition_days_ahead": maintenance.daysAhead = try integer(minimum: 1, maximum: 366)
        case "lake.maintenance_interval_seconds": maintenance.interval = .seconds(try integer(minimum: 1, maximum: 604_800))
        case "http.addr":
            guard let address = IngestConfiguration.parseAddress(value) else {
                throw SettingsError("\(source): http.addr must be host:port (e.g. 127.0.0.1:4318), got \"\(value)\"")
            }
            (ingest.host, ingest.port) = address
        case "grpc.addr":
            if value.lowercased() == "off" {
                grpc = nil
            } else {
                guard let address = IngestConfiguration.parseAddress(value) else {
                    throw SettingsError("\(source): grpc.addr must be host:port (e.g. 127.0.0.1:4317) or off, got \"\(value)\"")
                }
                grpc = OTLPGRPCConfiguration(host: address.host, port: address.port)
            }
        case "http.max_body_bytes": ingest.maximumBodyBytes = try integer(minimum: 1024, maximum: 256 << 20)
        case "ingest.tokens", "ingest.browser_tokens":
            var tokens: [String: String] = [:]
            for pair in value.split(separator: ",") {
                let parts = pair.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                    throw SettingsError("\(source): \(keyPath) must be token=source pairs separated by commas")
                }
                tokens[parts[0]] = parts[1]
            }
            if keyPath == "ingest.tokens" {
                ingest.tokens = ingest.tokens.filter { ingest.browserTokens.contains($0.key) }.merging(tokens) { $1 }
            } else {
                ingest.tokens = ingest.tokens.filter { !ingest.browserTokens.contains($0.key) }.merging(tokens) { $1 }
                ingest.browserTokens = Set(tokens.keys)
            }
        case "http.idle_timeout_seconds": ingest.idleTimeoutSeconds = try integer(minimum: 1, maximum: 3600)
        case "http.body_timeout_seconds": ingest.bodyTimeoutSeconds = try integer(minimum: 1, maximum: 3600)
        case "http.max_connections": ingest.maximumConnections = try integer(minimum: 1, maximum: 1_000_000)
        case "http.decode_budget_bytes": ingest.decodeBudgetBytes = try integer(minimum: 1 << 20, maximum: 1 << 40)
        case "http.max_header_bytes": ingest.maximumHeaderBytes = try integer(minimum: 1024, maximum: 1 << 20)
        case "http.metrics_token":
            let token = value.trimmingCharacters(in: .whitespaces)
            ingest.metricsToken = token.isEmpty ? nil : token
        case "api.allowed_origins":
            apiAllowedOrigins = Set(value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
        case "spool.dir": spoolDirectory = value
        case "roles":
            var roles = Set<Role>()
            for name in value.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces).lowercased() }) where !name.isEmpty {
                guard let role = Role(rawValue: name) else {
                    throw SettingsError(
                        "\(source): roles: unknown role \"\(name)\" (known: \(Role.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                roles.insert(role)
            }
            guard !roles.isEmpty else { throw SettingsError("\(source): roles: name at least one role") }
            self.roles = roles
        case "spool.loader":
            switch value.lowercased() {
            case "on", "true", "1": loaderEnabled = true
            case "off", "false", "0": loaderEnabled = false
            default: throw SettingsError("\(source): spool.loader must be on or off, got \"\(value)\"")
            }
        case "spool.max_bytes": spool.maximumBytes = try integer(minimum: 1 << 20, maximum: 1 << 50)
        case "spool.segment_bytes": spool.segmentBytes = try integer(minimum: 64 << 10, maximum: 1 << 30)
        case "join.horizon_days": join.horizon = .seconds(try integer(minimum: 1, maximum: 3650) * 86_400)
        case "join.session_timeout_minutes": join.sessionTimeout = .seconds(try integer(minimum: 1, maximum: 10_080) * 60)
        case "join.poll_ms": join.pollInterval = .milliseconds(try integer(minimum: 10, maximum: 60_000))
        case "join.batch_items": join.batchItems = try integer(minimum: 100, maximum: 1_000_000)
        case "join.backlog_items": join.backlogItems = try integer(minimum: 0, maximum: 10_000_000)
        case "join.index_rebuild_wait_ms": join.indexRebuildWait = .milliseconds(try integer(minimum: 0, maximum: 60_000))
        case "join.workers": joinWorkers = try integer(minimum: 1, maximum: 64)
        case "etl.schedule":
            do { etl.defaultSchedule = try CronExpression(value) } catch { throw SettingsError("\(source): etl.schedule: \(error)") }
        case "etl.lookback_hours": etl.lookbackHours = Double(try integer(minimum: 0, maximum: 87_600))
        case let path where path.hasPrefix("etl.jobs.") && path.hasSuffix(".schedule"):
            let name = String(path.dropFirst("etl.jobs.".count).dropLast(".schedule".count))
            guard let job = JobName(rawValue: name) else { throw SettingsError("\(source): unknown setting \(keyPath)") }
            do { etl.schedules[job] = try CronExpression(value) } catch { throw SettingsError("\(source): \(keyPath): \(error)") }
        case "etl.user_features.prior_alpha", "etl.user_features.prior_beta":
            guard let number = Double(value), number > 0, number.isFinite else {
                throw SettingsError("\(source): \(keyPath) must be a number > 0, got \"\(value)\"")
            }
            if keyPath.hasSuffix("alpha") { etl.priorAlpha = number } else { etl.priorBeta = number }
        case "api.tokens":
            apiTokens = Set(value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
        default: throw SettingsError("\(source): unknown setting \(keyPath)")
        }
    }

    /// Every key path `set` accepts.
    public static var keyPaths: [String] { environmentNames.map(\.keyPath) }

    /// Records older than this many days are refused at ingestion: the retention, or ten
    /// years when retention is off (a record claiming a far past would otherwise need a
    /// partition of its own).
    public var acceptedAgeDays: Int { maintenance.retentionDays > 0 ? maintenance.retentionDays : 3650 }

    /// The spool's configuration, its directory resolved.
    public var spoolConfiguration: Spool.Configuration {
        var configuration = spool
        configuration.directory = spoolURL
        return configuration
    }

    /// The spool directory as an absolute URL.
    public var spoolURL: URL {
        guard let spoolDirectory else { return homeURL.appendingPathComponent("spool") }
        return URL(fileURLWithPath: spoolDirectory, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath, isDirectory: true))
            .standardizedFileURL
    }

    /// The home directory as an absolute URL.
    public var homeURL: URL {
        URL(fileURLWithPath: home, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath, isDirectory: true))
            .standardizedFileURL
    }
}

/// What a `seam serve` process runs; each can run alone so ingestion nodes scale out
/// separately from the rest.
public enum Role: String, CaseIterable, Sendable {
    /// HTTP API for telemetry, the spool, and the loader that drains it into the lake.
    case ingest
    /// Partition creation and retention.
    case maintenance
    /// The join worker: derived traces, exposures, event facts and sessions.
    case join
    /// The ETL scheduler: user features, segments, segment metrics, experiment results.
    case etl
    /// The read API for the A/B framework (`/v1/experiments`, `/v1/segments`).
    case api
}

/// A configuration problem a person can fix: names the source, the key and the reason.
public struct SettingsError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

extension Settings {
    /// The ETL's configuration: schedules, lookback, prior, and the metric, segment and
    /// experiment definitions (built-in metrics first). Throws when it is invalid, naming
    /// the config file and the key path.
    public func etlConfiguration() throws -> ETLConfiguration {
        var configuration = etl
        for metric in etlDefinitions.metrics { configuration.define(metric) }
        configuration.segments = etlDefinitions.segments
        configuration.experiments = etlDefinitions.experiments
        configuration.bandits = etlDefinitions.bandits
        let problems = configuration.problems()
        guard problems.isEmpty else {
            throw SettingsError(
                "\(etlDefinitions.path.isEmpty ? "configuration" : etlDefinitions.path): "
                    + problems.map(\.description).joined(separator: "; "))
        }
        return configuration
    }

}
