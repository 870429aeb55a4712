import Foundation
import SeamPostgres
import DatabaseSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// These start real PostgreSQL servers with initdb and pg_ctl, as `seam db` does.
@Suite("Embedded cluster", .serialized, .requiresPostgres)
struct EmbeddedClusterTests {
    /// A home directory the `postgres` user can reach (mktemp-style directories are 0700).
    func withHome(_ body: (EmbeddedCluster) async throws -> Void) async throws {
        let home = URL(fileURLWithPath: "/tmp/seam-embedded-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        let cluster = EmbeddedCluster(configuration: .init(home: home))
        do {
            try await body(cluster)
        } catch {
            try? cluster.stop()
            try? FileManager.default.removeItem(at: home)
            throw error
        }
        try? cluster.stop()
        try? FileManager.default.removeItem(at: home)
    }

    @Test("start, status, URL, stop, and start again with the data kept")
    func lifecycle() async throws {
        try await withHome { cluster in
            #expect(try cluster.status() == .notInitialized)
            #expect(try cluster.start() == true)
            guard case .running(let pid) = try cluster.status() else {
                Issue.record("cluster not running after start")
                return
            }
            #expect(pid > 0)
            #expect(try cluster.start() == false)  // already running: nothing to do
            #expect(cluster.url.hasPrefix("postgresql:///seam?host="))
            let c = try PostgresConnection(cluster.url)
            #expect(try c.query("SELECT current_database()").scalar(String.self) == "seam")
            // Unix socket only: no TCP listener.
            #expect(try c.query("SHOW listen_addresses").scalar(String.self) == "")
            try c.executeScript("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('survives restarts')")
            c.close()

            try cluster.stop()
            #expect(try cluster.status() == .stopped)
            #expect(throws: PostgresError.self) { try PostgresConnection(cluster.url) }

            #expect(try cluster.start() == true)
            let again = try PostgresConnection(cluster.url)
            #expect(try again.query("SELECT v FROM kept").scalar(String.self) == "survives restarts")
        }
    }

    @Test("a session recovers after the server restarts under it")
    func recoveryAfterRestart() async throws {
        try await withHome { cluster in
            try cluster.start()
            let c = try PostgresConnection(cluster.url)
            let before = c.backendPID
            #expect(try c.query("SELECT 1").scalar(Int.self) == 1)
            try cluster.stop()
            try cluster.start()
            let lost = try #require(throws: PostgresError.self, performing: { try c.query("SELECT 2") })
            #expect(lost.code == .connectionLost)
            #expect(try c.query("SELECT 3").scalar(Int.self) == 3)
            #expect(c.backendPID != before)

            // The pool recovers the same way.
            let pool = PostgresPool(configuration: .init(connectionString: cluster.url, maximumConnections: 1))
            #expect(try await pool.query("SELECT 4").scalar(Int.self) == 4)
            try cluster.stop()
            try cluster.start()
            await #expect(throws: PostgresError.self) { try await pool.query("SELECT 5") }
            #expect(try await pool.query("SELECT 6").scalar(Int.self) == 6)
            await pool.close()
        }
    }

    @Test("missing server programs give an error naming the package")
    func missingBinaries() throws {
        let error = try #require(throws: PostgresError.self) {
            try Tools.locate("/nonexistent", systemDirectories: [], path: "")
        }
        #expect(error.message.contains("apt-get install postgresql"))
    }
}
