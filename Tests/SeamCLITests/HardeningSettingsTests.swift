import Foundation
import Testing

@testable import SeamSettings

@Suite("Hardening settings")
struct HardeningSettingsTests {
    func resolve(_ environment: [String: String]) throws -> Settings {
        try Settings.resolve(options: Settings.Overrides(), environment: environment)
    }

    @Test("browser tokens are ingestion tokens with the browser scope; service tokens keep theirs")
    func scopes() throws {
        let settings = try resolve(["SEAM_INGEST_TOKENS": "svc=checkout", "SEAM_BROWSER_TOKENS": "pub=web"])
        #expect(settings.ingest.tokens == ["svc": "checkout", "pub": "web"])
        #expect(settings.ingest.browserTokens == ["pub"])
    }

    @Test("a token may not be both an ingestion and a read token")
    func separateReadTokens() throws {
        let error = try #require(throws: SettingsError.self) {
            try resolve(["SEAM_INGEST_TOKENS": "same=svc", "SEAM_API_TOKENS": "same"])
        }
        #expect(error.description.contains("both an ingestion token and a read token"))
    }

    @Test("HTTP limits, the metrics token and read-API origins are read", arguments: [
        ("SEAM_HTTP_IDLE_TIMEOUT_SECONDS", "5"), ("SEAM_HTTP_MAX_CONNECTIONS", "10"), ("SEAM_HTTP_DECODE_BUDGET_BYTES", "2097152"),
    ])
    func limits(_ variable: String, _ value: String) throws {
        let settings = try resolve([variable: value, "SEAM_METRICS_TOKEN": "scrape", "SEAM_API_ALLOWED_ORIGINS": "https://a.example, https://b.example"])
        #expect(settings.ingest.metricsToken == "scrape")
        #expect(settings.apiAllowedOrigins == ["https://a.example", "https://b.example"])
        let number = Int(value)!
        #expect([settings.ingest.idleTimeoutSeconds, settings.ingest.maximumConnections, settings.ingest.decodeBudgetBytes].contains(number))
    }

    @Test("numbers beyond their range are refused with the range, so nothing derived from them overflows", arguments: [
        ("SEAM_RETENTION_DAYS", "99999999999"), ("SEAM_PARTITION_DAYS_AHEAD", "3000000000"), ("SEAM_MAX_BODY_BYTES", "4294967296"),
        ("SEAM_JOIN_HORIZON_DAYS", "9223372036854775807"), ("SEAM_HTTP_IDLE_TIMEOUT_SECONDS", "0"),
    ])
    func ranges(_ variable: String, _ value: String) throws {
        let error = try #require(throws: SettingsError.self) { try resolve([variable: value]) }
        #expect(error.description.contains("must be an integer from"))
    }

    @Test("with retention off, records older than ten years are still refused")
    func acceptedAge() throws {
        #expect(try resolve([:]).acceptedAgeDays == 90)
        #expect(try resolve(["SEAM_RETENTION_DAYS": "0"]).acceptedAgeDays == 3650)
    }
}
