import Hummingbird
import HummingbirdTesting
import Testing

@testable import SeamAPI
@testable import SeamHTTP

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

@Suite("Shared HTTP pieces, in process")
struct SharedHTTPTests {
    static func application() -> some ApplicationProtocol {
        let router = Router(context: BasicRequestContext.self)
        HealthRoute.add(to: router)
        router.add(middleware: CORSPolicy(browserPaths: ["/v1/events"], readPrefixes: ReadAPI.pathPrefixes, readOrigins: []))
        router.get("/token") { request, _ -> String in
            guard let token = BearerToken.from(request) else {
                throw HTTPFailure(.unauthorized, "token: required", headers: [.wwwAuthenticate: "Bearer"])
            }
            return token
        }
        return Application(router: router)
    }

    @Test("one /healthz; failures render as {\"error\": …} with their status and headers")
    func failures() async throws {
        try await Self.application().test(.router) { client in
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == #"{"status":"ok"}"#)
            }
            try await client.execute(uri: "/token", method: .get) { response in
                #expect(response.status == .unauthorized)
                #expect(response.headers[.wwwAuthenticate] == "Bearer")
                #expect(String(buffer: response.body) == #"{"error":"token: required"}"#)
            }
        }
    }

    @Test("the bearer scheme is case-insensitive, as RFC 7235 says; an empty token is none")
    func bearer() async throws {
        try await Self.application().test(.router) { client in
            for header in ["Bearer abc", "bearer abc", "BEARER  abc "] {
                try await client.execute(uri: "/token", method: .get, headers: [.authorization: header]) { response in
                    #expect(String(buffer: response.body) == "abc", "\(header)")
                }
            }
            for header in ["Bearer ", "Basic abc", "Bearerabc"] {
                try await client.execute(uri: "/token", method: .get, headers: [.authorization: header]) { response in
                    #expect(response.status == .unauthorized, "\(header)")
                }
            }
        }
    }
}
