import Foundation
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// A private PostgreSQL cluster under Seam's home directory (`.seam/` by default), used
/// when no database URL is configured.
///
/// `initdb` creates it on first start; it listens only on a unix socket inside the home
/// directory (no TCP), trusts local connections there (the socket directory is private to
/// the server's user), and keeps its log in `postgresql.log`. When Seam runs as root the
/// server runs as the unprivileged `postgres` user, as PostgreSQL requires.
///
/// Every method blocks; call them off the cooperative pool (`runBlocking`).
public struct EmbeddedCluster: Sendable {
    public struct Configuration: Sendable {
        /// Seam's home directory; the cluster lives in `home/postgres`.
        public var home: URL
        /// The socket's port number (part of the socket file name; no TCP is opened).
        public var port: Int
        /// Database Seam uses inside the cluster.
        public var database: String
        /// Superuser created by `initdb`.
        public var user: String
        /// Directory holding `initdb`, `pg_ctl` and `postgres`; found automatically when nil.
        public var binDirectory: String?

        public init(home: URL, port: Int = 5432, database: String = "seam", user: String = "seam", binDirectory: String? = nil) {
            self.home = home
            self.port = port
            self.database = database
            self.user = user
            self.binDirectory = binDirectory
        }
    }

    /// Whether the cluster exists and runs.
    public enum Status: Sendable, Equatable, CustomStringConvertible {
        case notInitialized
        case stopped
        case running(pid: Int)

        public var description: String {
            switch self {
            case .notInitialized: "not initialized"
            case .stopped: "stopped"
            case .running(let pid): "running (pid \(pid))"
            }
        }
    }

    public let configuration: Configuration
    private let logger: Logger

    public init(configuration: Configuration, logger: Logger = Logger(label: "seam.db")) {
        var configuration = configuration
        configuration.home = configuration.home.standardizedFileURL
        self.configuration = configuration
        self.logger = logger
    }

    /// `home/postgres/data`.
    public var dataDirectory: URL { clusterDirectory.appendingPathComponent("data") }
    /// `home/postgres/run`: the unix socket directory.
    public var socketDirectory: URL { clusterDirectory.appendingPathComponent("run") }
    /// `home/postgres/postgresql.log`.
    public var logFile: URL { clusterDirectory.appendingPathComponent("postgresql.log") }
    private var clusterDirectory: URL { configuration.home.appendingPathComponent("postgres") }

    /// libpq URI of Seam's database in the cluster (unix socket).
    public var url: String { url(database: configuration.database) }

    /// libpq URI of `database` in the cluster.
    public func url(database: String) -> String {
        var components = URLComponents()
        components.scheme = "postgresql"
        components.host = ""
        components.path = "/" + database
        components.queryItems = [
            URLQueryItem(name: "host", value: socketDirectory.path),
            URLQueryItem(name: "port", value: String(configuration.port)),
            URLQueryItem(name: "user", value: configuration.user),
        ]
        return components.string!
    }

    // MARK: Lifecycle

    /// Initializes the cluster when needed, starts it when stopped and creates Seam's database.
    /// Returns true when this call started the server (so the caller should stop it later).
    @discardableResult
    public func start() throws -> Bool {
        let tools = try Tools.locate(configuration.binDirectory)
        if case .notInitialized = try status() { try initialize(tools) }
        var started = false
        if case .stopped = try status() {
            try prepareDirectories()
            logger.info("starting embedded PostgreSQL", metadata: ["data": "\(dataDirectory.path)"])
            let outcome = try runAsOwner(
                tools.pgCtl,
                ["-D", dataDirectory.path, "-l", logFile.path, "-w", "-t", "60", "-s", "start"])
            guard outcome.status == 0 else {
                throw failure("pg_ctl start failed (exit \(outcome.status)): \(outcome.output)\n\(tail(of: logFile))")
            }
            started = true
        }
        try createDatabase()
        return started
    }

    /// Stops the server (fast shutdown: open sessions are ended, data is flushed).
    public func stop() throws {
        guard case .running = try status() else { return }
        let tools = try Tools.locate(configuration.binDirectory)
        logger.info("stopping embedded PostgreSQL", metadata: ["data": "\(dataDirectory.path)"])
        let outcome = try runAsOwner(tools.pgCtl, ["-D", dataDirectory.path, "-m", "fast", "-w", "-t", "60", "-s", "stop"])
        guard outcome.status == 0 else { throw failure("pg_ctl stop failed (exit \(outcome.status)): \(outcome.output)") }
    }

    /// Reads the state from the data directory's `postmaster.pid`, as `pg_ctl status` does.
    public func status() throws -> Status {
        let fm = FileManager.default
        guard fm.fileExists(atPath: dataDirectory.appendingPathComponent("PG_VERSION").path) else { return .notInitialized }
        let pidFile = dataDirectory.appendingPathComponent("postmaster.pid")
        guard let text = try? String(contentsOf: pidFile, encoding: .utf8),
            let first = text.split(separator: "\n").first, let pid = Int32(first.trimmingCharacters(in: .whitespaces))
        else { return .stopped }
        // Signal 0 checks that the process exists; EPERM means it exists under another user.
        if kill(pid, 0) == 0 || errno == EPERM { return .running(pid: Int(pid)) }
        return .stopped
    }

    // MARK: Steps

    private func initialize(_ tools: Tools) throws {
        try prepareDirectories()
        logger.info("initializing embedded PostgreSQL cluster", metadata: ["data": "\(dataDirectory.path)"])
        let outcome = try runAsOwner(
            tools.initdb,
            [
                "-D", dataDirectory.path, "-U", configuration.user, "--auth-local=trust", "--auth-host=scram-sha-256",
                "--encoding=UTF8", "--no-locale",
            ])
        guard outcome.status == 0 else {
            throw failure("initdb failed (exit \(outcome.status)): \(outcome.output)")
        }
        let settings = """

            # Added by Seam: a private cluster reachable only through its own unix socket.
            listen_addresses = ''
            unix_socket_directories = '\(socketDirectory.path.replacingOccurrences(of: "'", with: "''"))'
            unix_socket_permissions = 0700
            port = \(configuration.port)
            logging_collector = off

            """
        let conf = dataDirectory.appendingPathComponent("postgresql.conf")
        let handle = try FileHandle(forWritingTo: conf)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(settings.utf8))
        try handle.close()
    }

    private func createDatabase() throws {
        let connection = try PostgresConnection(url(database: "postgres"))
        let exists = try connection.query("SELECT 1 FROM pg_database WHERE datname = $1", [.text(configuration.database)])
        if exists.rowCount == 0 {
            do {
                try connection.executeScript("CREATE DATABASE \(identifier: configuration.database)")
            } catch let error as PostgresError where error.sqlState == "42P04" {
                // Created concurrently by another process: fine.
            }
        }
    }

    /// Creates the directories and, when running as root, hands them to `postgres`.
    private func prepareDirectories() throws {
        let fm = FileManager.default
        if socketDirectory.path.utf8.count + 20 > 107 {
            throw failure("the socket path \(socketDirectory.path) is too long for a unix socket (limit 107 bytes); set SEAM_HOME to a shorter directory")
        }
        try fm.createDirectory(at: configuration.home, withIntermediateDirectories: true)
        for directory in [clusterDirectory, socketDirectory] where !fm.fileExists(atPath: directory.path) {
            try fm.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        guard let owner = try ServerUser.whenRoot() else { return }
        for path in [clusterDirectory.path, socketDirectory.path] where chown(path, owner.uid, owner.gid) != 0 {
            throw failure("cannot give \(path) to the postgres user: \(String(cString: strerror(errno)))")
        }
        if fm.fileExists(atPath: logFile.path) { _ = chown(logFile.path, owner.uid, owner.gid) }
        let probe = try ChildProcess.run(owner.runuser, ["-u", "postgres", "--", "/usr/bin/test", "-w", clusterDirectory.path])
        if probe.status != 0 {
            throw failure("the postgres user cannot reach \(clusterDirectory.path) (a parent directory is not searchable by it); set SEAM_HOME to a directory it can reach, e.g. /var/tmp/seam")
        }
    }

    private func runAsOwner(_ tool: String, _ arguments: [String]) throws -> ChildProcess.Outcome {
        if let owner = try ServerUser.whenRoot() {
            return try ChildProcess.run(owner.runuser, ["-u", "postgres", "--", tool] + arguments)
        }
        return try ChildProcess.run(tool, arguments)
    }

    private func tail(of file: URL) -> String {
        guard let text = try? String(contentsOf: file, encoding: .utf8) else { return "" }
        return text.split(separator: "\n").suffix(15).joined(separator: "\n")
    }

    private func failure(_ message: String) -> PostgresError {
        PostgresError(code: .embeddedCluster, message: message)
    }
}

/// PostgreSQL's server programs.
public struct Tools: Sendable {
    public var initdb: String
    public var pgCtl: String

    /// Debian keeps the server programs per major version, off PATH; newest first.
    public static var debianDirectories: [String] {
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        return versions.sorted { (Int($0) ?? 0) > (Int($1) ?? 0) }.map { "/usr/lib/postgresql/\($0)/bin" }
    }

    /// Finds initdb and pg_ctl in `configured`, then `systemDirectories`, then `path`.
    public static func locate(
        _ configured: String?, systemDirectories: [String] = debianDirectories,
        path: String = ProcessInfo.processInfo.environment["PATH"] ?? ""
    ) throws -> Tools {
        let fm = FileManager.default
        var candidates: [String] = []
        if let configured { candidates.append(configured) }
        candidates += systemDirectories
        candidates += path.split(separator: ":").map(String.init)
        for directory in candidates
        where fm.isExecutableFile(atPath: directory + "/initdb") && fm.isExecutableFile(atPath: directory + "/pg_ctl") {
            return Tools(initdb: directory + "/initdb", pgCtl: directory + "/pg_ctl")
        }
        throw PostgresError(
            code: .embeddedCluster,
            message: "PostgreSQL's server programs (initdb, pg_ctl) were not found\(configured.map { " in \($0) or" } ?? "") in /usr/lib/postgresql/*/bin or on PATH. Install them with `apt-get install postgresql` (Debian/Ubuntu), set SEAM_PG_BINDIR to their directory, or set SEAM_DATABASE_URL to use an existing server.")
    }
}

/// The unprivileged account the server runs under when Seam runs as root.
struct ServerUser {
    var uid: uid_t
    var gid: gid_t
    var runuser: String

    static func whenRoot() throws -> ServerUser? {
        guard geteuid() == 0 else { return nil }
        guard let entry = getpwnam("postgres") else {
            throw PostgresError(
                code: .embeddedCluster,
                message: "PostgreSQL refuses to run as root and there is no `postgres` user to run it as; install the `postgresql` package (it creates the user) or run Seam as an unprivileged user.")
        }
        let runuser = ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        } ?? "/usr/sbin/runuser"
        return ServerUser(uid: entry.pointee.pw_uid, gid: entry.pointee.pw_gid, runuser: runuser)
    }
}
