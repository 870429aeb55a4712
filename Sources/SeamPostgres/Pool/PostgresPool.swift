import Logging
import Synchronization

/// A small pool of libpq connections for Swift concurrency.
///
/// Each connection lives on a `BlockingThread` of its own, so libpq's blocking calls never
/// run on the cooperative thread pool. Connections open lazily up to `maximumConnections`;
/// when all are busy, callers wait in FIFO order. A connection that broke reconnects on
/// its next use.
public final class PostgresPool: Sendable {
    public struct Configuration: Sendable {
        /// Any libpq connection string or URI.
        public var connectionString: String
        /// Upper bound on open connections.
        public var maximumConnections: Int
        /// Prefix of the connection threads' names (visible in debuggers and `top -H`), and
        /// the connections' `application_name` (visible in `pg_stat_activity`) unless the
        /// connection string sets one.
        public var name: String

        /// Seconds a connection attempt may take (libpq's `connect_timeout`) unless the
        /// connection string sets its own; libpq's default is to wait indefinitely.
        public var connectTimeoutSeconds: Int

        public init(connectionString: String, maximumConnections: Int = 4, name: String = "seam-pg", connectTimeoutSeconds: Int = 10) {
            self.connectionString = connectionString
            self.maximumConnections = max(1, maximumConnections)
            self.name = name
            self.connectTimeoutSeconds = connectTimeoutSeconds
        }

        /// The connection string with the connect timeout and application name applied
        /// (where it sets none of its own).
        var effectiveConnectionString: String {
            guard let values = try? ConnectionString.parse(connectionString) else { return connectionString }
            var defaults: [String: String] = [:]
            if values["connect_timeout"] == nil { defaults["connect_timeout"] = String(connectTimeoutSeconds) }
            if values["application_name"] == nil { defaults["application_name"] = name }
            guard !defaults.isEmpty, let rewritten = try? ConnectionString.replacing(defaults, in: connectionString)
            else { return connectionString }
            return rewritten
        }
    }

    final class Slot: @unchecked Sendable {
        let thread: BlockingThread
        // Touched only on `thread`.
        var connection: PostgresConnection?
        init(name: String) { thread = BlockingThread(name: name) }
    }

    struct State {
        var idle: [Slot] = []
        var all: [Slot] = []
        var waiters: [(id: UInt64, continuation: CheckedContinuation<Slot, Error>)] = []
        var nextWaiterID: UInt64 = 0
        var closed = false
    }

    public let configuration: Configuration
    private let state = Mutex(State())

    private let connectionString: String

    public init(configuration: Configuration) {
        self.configuration = configuration
        connectionString = configuration.effectiveConnectionString
    }

    /// Runs `body` with a connection on that connection's own thread and returns its result.
    ///
    /// `body` may block (it runs off the cooperative pool) and must not keep the connection.
    public func withConnection<T: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) throws -> T
    ) async throws -> T {
        let slot = try await acquire()
        defer { release(slot) }
        let connectionString = connectionString
        return try await slot.thread.run {
            let connection: PostgresConnection
            if let existing = slot.connection {
                connection = existing
            } else {
                connection = try PostgresConnection(connectionString)
                slot.connection = connection
            }
            return try body(connection)
        }
    }

    /// Runs one statement and returns its rows.
    @discardableResult
    public func query(_ query: SQLQuery) async throws -> PostgresResult {
        try await withConnection { try $0.query(query) }
    }

    /// Runs one statement written with `$n` placeholders, binding `parameters` to them.
    @discardableResult
    public func query(_ sql: StaticString, _ parameters: [PostgresValue]) async throws -> PostgresResult {
        try await query(SQLQuery(sql.description, binds: parameters))
    }

    /// Runs one statement and returns the number of affected rows.
    @discardableResult
    public func execute(_ query: SQLQuery) async throws -> Int {
        try await self.query(query).affectedRows ?? 0
    }

    /// Runs one statement written with `$n` placeholders and returns the number of affected rows.
    @discardableResult
    public func execute(_ sql: StaticString, _ parameters: [PostgresValue]) async throws -> Int {
        try await query(SQLQuery(sql.description, binds: parameters)).affectedRows ?? 0
    }

    /// Runs `body` in a transaction on one connection.
    public func transaction<T: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) throws -> T
    ) async throws -> T {
        try await withConnection { try $0.transaction(body) }
    }

    /// Closes every connection and fails waiting callers; later calls throw.
    /// Why the database does not answer `SELECT 1`, or nil when it does (for readiness checks).
    public func unreachable() async -> String? {
        do {
            _ = try await query("SELECT 1")
            return nil
        } catch {
            return "\(error)"
        }
    }

    public func close() async {
        let (slots, waiters) = state.withLock { state -> ([Slot], [CheckedContinuation<Slot, Error>]) in
            state.closed = true
            let waiters = state.waiters.map(\.continuation)
            state.waiters = []
            return (state.all, waiters)
        }
        for waiter in waiters { waiter.resume(throwing: Self.closedError) }
        for slot in slots {
            _ = try? await slot.thread.run {
                slot.connection?.close()
                slot.connection = nil
            }
            slot.thread.shutdown()
        }
    }

    private static let closedError = PostgresError(code: .misuse, message: "the PostgreSQL pool is closed")

    private enum Acquired {
        case slot(Slot)
        case wait
        case closed
    }

    private func acquire() async throws -> Slot {
        let immediate = state.withLock { state -> Acquired in
            if state.closed { return .closed }
            if let slot = state.idle.popLast() { return .slot(slot) }
            if state.all.count < configuration.maximumConnections {
                let slot = Slot(name: "\(configuration.name)-\(state.all.count)")
                state.all.append(slot)
                return .slot(slot)
            }
            return .wait
        }
        switch immediate {
        case .slot(let slot): return slot
        case .closed: throw Self.closedError
        case .wait:
            // Waiting callers queue in order; a cancelled one leaves the queue with CancellationError.
            let id = state.withLock { state -> UInt64 in
                state.nextWaiterID += 1
                return state.nextWaiterID
            }
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { continuation in
                    let outcome = state.withLock { state -> Result<Slot, Error>? in
                        if state.closed { return .failure(Self.closedError) }
                        if Task.isCancelled { return .failure(CancellationError()) }
                        // A slot may have come back between the first look and now.
                        if let slot = state.idle.popLast() { return .success(slot) }
                        state.waiters.append((id, continuation))
                        return nil
                    }
                    if let outcome { continuation.resume(with: outcome) }
                }
            } onCancel: {
                let cancelled = state.withLock { state -> CheckedContinuation<Slot, Error>? in
                    guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                    return state.waiters.remove(at: index).continuation
                }
                cancelled?.resume(throwing: CancellationError())
            }
        }
    }

    private func release(_ slot: Slot) {
        let waiter = state.withLock { state -> CheckedContinuation<Slot, Error>? in
            if !state.waiters.isEmpty { return state.waiters.removeFirst().continuation }
            state.idle.append(slot)
            return nil
        }
        waiter?.resume(returning: slot)
    }
}
