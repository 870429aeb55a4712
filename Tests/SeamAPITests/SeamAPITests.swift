import Hummingbird
import Testing

@testable import SeamAPI

@Suite("Read API hardening")
struct SeamAPITests {
    @Test("CSV cells that a spreadsheet would run as a formula are neutralized; plain text and numbers are not",
          arguments: ["=HYPERLINK(\"http://evil\")", "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"])
    func formulas(_ text: String) {
        #expect(Table.neutralized(text) == "'" + text)
    }

    @Test("ordinary text is left alone")
    func plain() {
        for text in ["control", "treatment-b", "a=b", "", "ünïcode", "1e300"] {
            #expect(Table.neutralized(text) == text)
        }
    }

    @Test("CORS: browser routes for any origin, read routes for allowed origins, nothing else")
    func cors() {
        let policy = CORSPolicy<BasicRequestContext>(
            browserPaths: ["/v1/events"], readPrefixes: ReadAPI.pathPrefixes, readOrigins: ["https://dash.example"])
        #expect(policy.allowance(path: "/v1/events", origin: "https://any.example") == "POST, OPTIONS")
        #expect(policy.allowance(path: "/v1/experiments/x/results", origin: "https://dash.example") == "GET, OPTIONS")
        #expect(policy.allowance(path: "/v1/experiments", origin: "https://evil.example") == nil)
        #expect(policy.allowance(path: "/v1/traces", origin: "https://dash.example") == nil)
        #expect(policy.allowance(path: "/metrics", origin: "https://any.example") == nil)
    }
}
