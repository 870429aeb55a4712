import Foundation
import SeamETL
import Testing

@testable import seam
@testable import SeamSettings

@Suite("Settings")
struct SettingsTests {
    func options(_ arguments: [String]) throws -> GlobalOptions { try GlobalOptions.parse(arguments) }

    func configFile(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("seam-\(UUID().uuidString).yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("defaults: embedded database, .seam home, 90 days retention, 7 days ahead")
    func defaults() throws {
        let settings = try Settings.resolve(options: options([]), environment: [:])
        #expect(settings.databaseURL == nil)
        #expect(settings.home == ".seam")
        #expect(settings.maintenance.retentionDays == 90)
        #expect(settings.maintenance.daysAhead == 7)
        #expect(settings.logLevel == .info)
    }

    @Test("flags beat environment, environment beats the config file")
    func precedence() throws {
        let file = try configFile(
            """
            database:
              url: postgresql://file/db
            home: /from/file
            lake:
              retention_days: 10
              partition_days_ahead: 2
            """)
        let environment = ["SEAM_DATABASE_URL": "postgresql://env/db", "SEAM_RETENTION_DAYS": "20", "SEAM_CONFIG": file]
        let settings = try Settings.resolve(options: options(["--database-url", "postgresql://flag/db"]), environment: environment)
        #expect(settings.databaseURL == "postgresql://flag/db")
        #expect(settings.maintenance.retentionDays == 20)
        #expect(settings.home == "/from/file")
        #expect(settings.maintenance.daysAhead == 2)
    }

    @Test("roles: all by default, a chosen subset, and a clear error for unknown ones")
    func roles() throws {
        #expect(try Settings.resolve(options: options([]), environment: [:]).roles == [.ingest, .maintenance, .join, .etl, .api])
        #expect(try Settings.resolve(options: options(["--roles", "ingest"]), environment: [:]).roles == [.ingest])
        #expect(try Settings.resolve(options: options([]), environment: ["SEAM_ROLES": "maintenance, ingest"]).roles == [.ingest, .maintenance])
        let error = try #require(throws: SettingsError.self) {
            try Settings.resolve(options: options(["--roles", "ingest,joiner"]), environment: [:])
        }
        #expect(error.description.contains("unknown role \"joiner\""))
        #expect(try Settings.resolve(options: options(["--roles", "join"]), environment: [:]).roles == [.join])
        #expect(throws: SettingsError.self) { try Settings.resolve(options: options(["--roles", ","]), environment: [:]) }
    }

    @Test("an unknown key names the file, the line and the key")
    func unknownKey() throws {
        let file = try configFile("lake:\n  retention_dayz: 3\n")
        let error = try #require(throws: SettingsError.self) {
            try Settings.resolve(options: options(["--config", file]), environment: [:])
        }
        #expect(error.description.contains(file))
        #expect(error.description.contains(":2"))
        #expect(error.description.contains("lake.retention_dayz"))
    }

    @Test("a bad value names its source and the reason")
    func badValues() throws {
        let file = try configFile("lake:\n  partition_days_ahead: soon\n")
        let error = try #require(throws: SettingsError.self) {
            try Settings.resolve(options: options(["--config", file]), environment: [:])
        }
        #expect(error.description.contains("lake.partition_days_ahead must be an integer from 1 to 366"))
        let environment = try #require(throws: SettingsError.self) {
            try Settings.resolve(options: options([]), environment: ["SEAM_RETENTION_DAYS": "-1"])
        }
        #expect(environment.description.contains("SEAM_RETENTION_DAYS"))
        let backlog = try #require(throws: SettingsError.self) {
            try Settings.resolve(options: options([]), environment: ["SEAM_JOIN_BACKLOG_ITEMS": "20000000"])
        }
        #expect(backlog.description.contains("SEAM_JOIN_BACKLOG_ITEMS"))
        #expect(backlog.description.contains("from 0 to 10000000"))
        let off = try Settings.resolve(options: options([]), environment: ["SEAM_JOIN_BACKLOG_ITEMS": "0"])
        #expect(off.join.backlogItems == 0)
        let wait = try #require(throws: SettingsError.self) {
            try Settings.resolve(options: options([]), environment: ["SEAM_JOIN_INDEX_REBUILD_WAIT_MS": "70000"])
        }
        #expect(wait.description.contains("SEAM_JOIN_INDEX_REBUILD_WAIT_MS"))
        let noRebuilds = try Settings.resolve(options: options([]), environment: ["SEAM_JOIN_INDEX_REBUILD_WAIT_MS": "0"])
        #expect(noRebuilds.join.indexRebuildWait == .zero)
        #expect(Settings().join.indexRebuildWait == .seconds(2))
        #expect(throws: SettingsError.self) {
            try Settings.resolve(options: options(["--log-level", "loud"]), environment: [:])
        }
        #expect(throws: SettingsError.self) {
            try Settings.resolve(options: options(["--config", "/nonexistent/seam.yaml"]), environment: [:])
        }
    }
}

@Suite("Example configuration")
struct ExampleConfigurationTests {
    @Test("ops/seam.example.yaml is valid and states the defaults")
    func exampleIsValid() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("ops/seam.example.yaml").path
        let fromFile = try Settings.resolve(options: GlobalOptions.parse(["--config", path]), environment: [:])
        let defaults = Settings()
        #expect(fromFile.ingest.host == defaults.ingest.host && fromFile.ingest.port == defaults.ingest.port)
        #expect(fromFile.maintenance.retentionDays == defaults.maintenance.retentionDays)
        #expect(fromFile.maintenance.daysAhead == defaults.maintenance.daysAhead)
        #expect(fromFile.maintenance.interval == defaults.maintenance.interval)
        #expect(fromFile.spool.maximumBytes == defaults.spool.maximumBytes)
        #expect(fromFile.spool.segmentBytes == defaults.spool.segmentBytes)
        #expect(fromFile.ingest.maximumBodyBytes == defaults.ingest.maximumBodyBytes)
        #expect(fromFile.loaderEnabled)
        #expect(fromFile.roles == defaults.roles)
        #expect(fromFile.join.horizon == defaults.join.horizon)
        #expect(fromFile.join.sessionTimeout == defaults.join.sessionTimeout)
        #expect(fromFile.join.pollInterval == defaults.join.pollInterval)
        #expect(fromFile.join.batchItems == defaults.join.batchItems)
        #expect(fromFile.join.backlogItems == defaults.join.backlogItems)
        #expect(fromFile.join.indexRebuildWait == defaults.join.indexRebuildWait)
        #expect(fromFile.joinWorkers == defaults.joinWorkers)
        #expect(fromFile.etl.defaultSchedule == defaults.etl.defaultSchedule)
        #expect(fromFile.etl.lookbackHours == defaults.etl.lookbackHours)
        #expect(fromFile.etl.priorAlpha == defaults.etl.priorAlpha && fromFile.etl.priorBeta == defaults.etl.priorBeta)
        #expect(fromFile.apiTokens.isEmpty)
        let etl = try fromFile.etlConfiguration()
        #expect(etl.metrics.map(\.name) == MetricDefinition.builtIn.map(\.name))
        #expect(etl.segments.isEmpty && etl.experiments.isEmpty)
    }
}

@Suite("ETL configuration in seam.yaml")
struct ETLConfigurationFileTests {
    func write(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("seam-etl-\(UUID().uuidString).yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func definitionsAreRead() throws {
        let path = try write(
            """
            etl:
              schedule: "0 * * * *"
              lookback_hours: 6
              jobs:
                experiment_results:
                  schedule: "30 2 * * *"
            api:
              tokens: "a, b"
            metrics:
              capped_revenue: {type: mean, events: [purchase], value: revenue, cap: {percentile: 0.99}, window_hours: 24}
              revenue_per_visit:
                type: ratio
                numerator: {events: [purchase], value: revenue}
                denominator: {events: [page_view]}
              purchase_conversion: {type: proportion, events: [purchase], window_hours: 1}
            segments:
              big: {predicate: "revenue >= 100", description: Big}
            experiments:
              exp1:
                control: a
                weights: {a: 2, b: 1}
                primary_metrics: [capped_revenue]
                dimensions: [device]
                cuped_days: 7
                engine: sequential
                prior: {mean: 0.01, variance: 0.04}
                sequential_tuning: 2000
                multiple_exposures: first
                multiple_exposure_threshold: 0.05
              exp2: {}
            bandits:
              reco:
                rules: [{events: [purchase], points: 5}, {events: [product_view], points: 1, within_seconds: 10}]
                reward_window_seconds: 600
              plain:
            """)
        let settings = try Settings.resolve(options: GlobalOptions.parse(["--config", path]), environment: [:])
        let configuration = try settings.etlConfiguration()
        #expect(configuration.schedule(for: .experimentResults).description == "30 2 * * *")
        #expect(configuration.schedule(for: .segments).description == "0 * * * *")
        #expect(configuration.lookbackHours == 6)
        #expect(settings.apiTokens == ["a", "b"])
        #expect(configuration.metric(named: "capped_revenue")?.cap == .percentile(0.99))
        #expect(configuration.metric(named: "revenue_per_visit")?.denominator?.events == ["page_view"])
        // A configured metric replaces the built-in one of the same name, in place.
        #expect(configuration.metric(named: "purchase_conversion")?.windowHours == 1)
        #expect(configuration.metrics.first?.name == "purchase_conversion")
        #expect(configuration.segments.map(\.name) == ["big"])
        let experiment = try #require(configuration.experiments.first)
        #expect(experiment.weights == ["a": 2, "b": 1] && experiment.dimensions == [.device] && experiment.cupedDays == 7)
        #expect(experiment.engine == .sequential && experiment.sequentialTuning == 2000)
        #expect(experiment.prior == GaussianPrior(mean: 0.01, variance: 0.04, proper: true, scale: .relative))
        #expect(experiment.multipleExposures == .first && experiment.multipleExposureThreshold == 0.05)
        // gbstats' defaults: frequentist reported, a flat prior, tuning 5000; units with several variants excluded.
        let defaults = try #require(configuration.experiments.first { $0.key == "exp2" })
        #expect(defaults.engine == .frequentist && defaults.prior == GaussianPrior() && defaults.sequentialTuning == 5000)
        #expect(defaults.multipleExposures == .exclude && defaults.multipleExposureThreshold == 0.01)
        let reco = try #require(configuration.bandits.first { $0.key == "reco" })
        #expect(reco.rewardWindowSeconds == 600 && reco.rules.map(\.points) == [5, 1] && reco.rules[1].withinSeconds == 10)
        let plain = try #require(configuration.bandits.first { $0.key == "plain" })
        #expect(plain.rules == BanditDefinition.defaultRules && plain.rewardWindowSeconds == 3600)
    }

    @Test func errorsNameFileLineAndKeyPath() throws {
        let cases: [(String, String)] = [
            ("metrics:\n  m1: {type: median, events: [x]}\n", "metrics.m1.type"),
            ("metrics:\n  m1: {type: mean, events: [x], colour: red}\n", "metrics.m1.colour"),
            ("metrics:\n  m1: {type: mean, value: dollars}\n", "metrics.m1.value"),
            ("metrics:\n  m1: {type: mean, cap: {absolute: 1, percentile: 0.5}}\n", "metrics.m1.cap"),
            ("segments:\n  s1: {description: no predicate}\n", "segments.s1.predicate"),
            ("experiments:\n  e1: {alpha: high}\n", "experiments.e1.alpha"),
            ("experiments:\n  e1: {dimensions: [country]}\n", "experiments.e1.dimensions"),
            ("experiments:\n  e1: {primary_metrics: [nope]}\n", "experiments.e1.primary_metrics"),
            ("experiments:\n  e1: {engine: bootstrap}\n", "experiments.e1.engine"),
            ("experiments:\n  e1: {prior: {mean: 0}}\n", "experiments.e1.prior.variance"),
            ("experiments:\n  e1: {prior: {variance: -1}}\n", "experiments.e1.prior.variance"),
            ("experiments:\n  e1: {prior: {variance: 1, scale: log}}\n", "experiments.e1.prior.scale"),
            ("experiments:\n  e1: {sequential_tuning: 0}\n", "experiments.e1.sequential_tuning"),
            ("experiments:\n  e1: {multiple_exposures: last}\n", "experiments.e1.multiple_exposures"),
            ("experiments:\n  e1: {multiple_exposure_threshold: 2}\n", "experiments.e1.multiple_exposure_threshold"),
            ("bandits:\n  b1: {reward_window_seconds: 0}\n", "bandits.b1.reward_window_seconds"),
            ("bandits:\n  b1: {rules: [{events: [x]}]}\n", "bandits.b1.rules[0].points"),
            ("bandits:\n  b1: {rules: [{events: [x], points: 1, within_seconds: -1}]}\n", "bandits.b1.rules[0].within_seconds"),
            ("bandits:\n  b1: {window: 5}\n", "bandits.b1.window"),
            ("etl:\n  schedule: \"61 * * * *\"\n", "etl.schedule"),
            ("etl:\n  jobs:\n    nope:\n      schedule: \"* * * * *\"\n", "etl.jobs.nope"),
        ]
        for (text, keyPath) in cases {
            let path = try write(text)
            do {
                let settings = try Settings.resolve(options: GlobalOptions.parse(["--config", path]), environment: [:])
                _ = try settings.etlConfiguration()
                Issue.record("accepted: \(text)")
            } catch {
                #expect("\(error)".contains(path), "\(error)")
                #expect("\(error)".contains(keyPath), "\(keyPath): \(error)")
            }
        }
    }
}
