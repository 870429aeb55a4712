import Foundation
import Testing

@testable import seam

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
        #expect(settings.retentionDays == 90)
        #expect(settings.partitionDaysAhead == 7)
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
        #expect(settings.retentionDays == 20)
        #expect(settings.home == "/from/file")
        #expect(settings.partitionDaysAhead == 2)
    }

    @Test("roles: all by default, a chosen subset, and a clear error for unknown ones")
    func roles() throws {
        #expect(try Settings.resolve(options: options([]), environment: [:]).roles == [.ingest, .maintenance, .join])
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
        #expect(error.description.contains("lake.partition_days_ahead must be an integer >= 1"))
        let environment = try #require(throws: SettingsError.self) {
            try Settings.resolve(options: options([]), environment: ["SEAM_RETENTION_DAYS": "-1"])
        }
        #expect(environment.description.contains("SEAM_RETENTION_DAYS"))
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
        #expect(fromFile.httpAddress == defaults.httpAddress)
        #expect(fromFile.retentionDays == defaults.retentionDays)
        #expect(fromFile.spoolMaximumBytes == defaults.spoolMaximumBytes)
        #expect(fromFile.spoolSegmentBytes == defaults.spoolSegmentBytes)
        #expect(fromFile.maximumBodyBytes == defaults.maximumBodyBytes)
        #expect(fromFile.loaderEnabled)
        #expect(fromFile.roles == defaults.roles)
        #expect(fromFile.joinHorizonDays == defaults.joinHorizonDays)
        #expect(fromFile.sessionTimeoutMinutes == defaults.sessionTimeoutMinutes)
        #expect(fromFile.joinPollMilliseconds == defaults.joinPollMilliseconds)
        #expect(fromFile.joinBatchItems == defaults.joinBatchItems)
        #expect(fromFile.joinWorkers == defaults.joinWorkers)
    }
}
