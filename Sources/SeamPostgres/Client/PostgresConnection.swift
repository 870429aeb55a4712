import CLibPQ
import Foundation

/// One libpq connection. Blocking: use it from one thread at a time, never from the
/// cooperative pool (`PostgresPool` gives each connection a thread of its own).
///
/// The connection string is anything libpq accepts — `key=value` pairs or a
/// `postgresql://` URI — and libpq fills in `PG*` environment variables, `.pgpass`,
/// `sslmode` and unix-socket hosts as usual. A broken connection is detected when a call
/// fails; the next call reconnects.
public final class PostgresConnection {
    /// The connection string this connection was opened with.
    public let connectionString: String
    private var handle: OpaquePointer?

    /// Opens a connection; throws `connectionFailed` with libpq's message when it cannot.
    public init(_ connectionString: String) throws {
        self.connectionString = connectionString
        try connect()
    }

    deinit { close() }

    /// Closes the connection; a later call reconnects.
    public func close() {
        if let handle { PQfinish(handle) }
        handle = nil
    }

    /// True while libpq considers the connection usable.
    public var isConnected: Bool {
        guard let handle else { return false }
        return PQstatus(handle) == CONNECTION_OK
    }

    /// The server process id serving this connection.
    public var backendPID: Int32 { handle.map { PQbackendPID($0) } ?? 0 }

    /// The server's `server_version_num`, e.g. 150018.
    public var serverVersion: Int { handle.map { Int(PQserverVersion($0)) } ?? 0 }

    private func connect() throws {
        close()
        guard let conn = PQconnectdb(connectionString) else {
            throw PostgresError(code: .connectionFailed, message: "libpq could not allocate a connection")
        }
        guard PQstatus(conn) == CONNECTION_OK else {
            let message = Self.trimmed(PQerrorMessage(conn))
            PQfinish(conn)
            throw PostgresError(code: .connectionFailed, message: "cannot connect to PostgreSQL: \(message)")
        }
        handle = conn
        // Session settings that our decoders rely on, whatever the server's defaults are.
        try executeScript("SET DateStyle TO ISO; SET TimeZone TO 'UTC'; SET bytea_output TO hex; SET client_encoding TO 'UTF8'; SET client_min_messages TO warning")
    }

    /// Reconnects when the connection was lost; called at the start of every operation.
    private func ensureConnected() throws -> OpaquePointer {
        if let handle, PQstatus(handle) == CONNECTION_OK { return handle }
        try connect()
        return handle!
    }

    // MARK: Statements

    /// Runs one statement and returns its rows; interpolated values travel as parameters.
    @discardableResult
    public func query(_ query: SQLQuery) throws -> PostgresResult {
        let conn = try ensureConnected()
        let result = ParameterBuffer(query.binds).withLibpqArrays { count, types, values, lengths, formats in
            PQexecParams(conn, query.sql, count, types, values, lengths, formats, 0)
        }
        return try check(result, sql: query.sql)
    }

    /// Runs one statement written with `$n` placeholders, binding `parameters` to them.
    @discardableResult
    public func query(_ sql: StaticString, _ parameters: [PostgresValue]) throws -> PostgresResult {
        try query(SQLQuery(sql.description, binds: parameters))
    }

    /// Runs one statement and returns the number of rows it affected.
    @discardableResult
    public func execute(_ query: SQLQuery) throws -> Int {
        try self.query(query).affectedRows ?? 0
    }

    /// Runs one statement written with `$n` placeholders and returns the rows it affected.
    @discardableResult
    public func execute(_ sql: StaticString, _ parameters: [PostgresValue]) throws -> Int {
        try query(SQLQuery(sql.description, binds: parameters)).affectedRows ?? 0
    }

    /// Runs a script of several `;`-separated statements without parameters (migrations, DDL)
    /// and returns the last statement's result. A script cannot bind values: statements
    /// with values go through `pipeline`, which sends several in one round trip too.
    ///
    /// Outside an explicit transaction PostgreSQL runs the whole script as one implicit
    /// transaction; the first failing statement stops it.
    @discardableResult
    public func executeScript(_ script: SQLQuery) throws -> PostgresResult {
        guard script.binds.isEmpty else {
            throw PostgresError(code: .misuse, message: "a script cannot bind values; send its statements with pipeline: \(script.sql)")
        }
        let conn = try ensureConnected()
        // PQexec returns the last result, and the first error stops the script, so checking it suffices.
        return try check(PQexec(conn, script.sql), sql: script.sql)
    }

    /// Runs `queries` in order in one round trip (libpq's pipeline mode), each with its own
    /// bound values, and returns each one's result. The first failing statement stops the
    /// rest (PostgreSQL skips them) and its error is thrown. Outside an explicit transaction
    /// the statements run as one implicit transaction, like a script.
    ///
    /// The connection is in blocking mode: fine for statements and results that fit the
    /// socket buffers (Seam's stage steps), not for bulk data (use COPY).
    @discardableResult
    public func pipeline(_ queries: [SQLQuery]) throws -> [PostgresResult] {
        guard !queries.isEmpty else { return [] }
        let conn = try ensureConnected()
        guard PQenterPipelineMode(conn) == 1 else { throw lostOrFailed(sql: queries[0].sql) }
        var failure: (any Error)?
        var sent = 0
        for query in queries {
            let accepted = ParameterBuffer(query.binds).withLibpqArrays { count, types, values, lengths, formats in
                PQsendQueryParams(conn, query.sql, count, types, values, lengths, formats, 0)
            }
            guard accepted == 1 else {
                failure = lostOrFailed(sql: query.sql)
                break
            }
            sent += 1
        }
        if PQpipelineSync(conn) != 1 { failure = failure ?? lostOrFailed(sql: "pipeline sync") }
        var results: [PostgresResult] = []
        results.reserveCapacity(sent)
        // Each statement's results end with a NULL; the sync's result ends the pipeline.
        for query in queries.prefix(sent) where isConnected {
            var last: PostgresResult?
            while let result = PQgetResult(conn) {
                if PQresultStatus(result) == PGRES_PIPELINE_ABORTED {
                    PQclear(result)
                    continue
                }
                do {
                    last = try check(result, sql: query.sql)
                } catch {
                    failure = failure ?? error
                }
            }
            if let last { results.append(last) }
        }
        while isConnected, let result = PQgetResult(conn) {
            let status = PQresultStatus(result)
            PQclear(result)
            if status == PGRES_PIPELINE_SYNC { break }
        }
        PQexitPipelineMode(conn)
        if let failure { throw failure }
        guard results.count == queries.count else { throw lostOrFailed(sql: queries[results.count].sql) }
        return results
    }

    /// Runs `body` inside `BEGIN` … `COMMIT`; rolls back and rethrows when it throws.
    public func transaction<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        try executeScript("BEGIN")
        do {
            let value = try body(self)
            try executeScript("COMMIT")
            return value
        } catch {
            if isConnected { _ = try? executeScript("ROLLBACK") }
            throw error
        }
    }

    // MARK: COPY

    /// Streams rows into `COPY … FROM STDIN (FORMAT binary)` and returns the number copied.
    ///
    /// `sql` is the COPY statement; `body` appends rows to the writer, which sends them in
    /// chunks of about a megabyte. When `body` throws the COPY is aborted and nothing is stored.
    @discardableResult
    public func copyIn(_ statement: SQLQuery, _ body: (BinaryCopyWriter) throws -> Void) throws -> Int {
        guard statement.binds.isEmpty else { throw PostgresError(code: .misuse, message: "COPY cannot bind values: \(statement.sql)") }
        let sql = statement.sql
        let conn = try ensureConnected()
        guard let start = PQexec(conn, sql) else { throw lostOrFailed(sql: sql) }
        if PQresultStatus(start) != PGRES_COPY_IN {
            _ = try check(start, sql: sql)
            throw PostgresError(code: .misuse, message: "statement did not start COPY FROM STDIN: \(sql)")
        }
        PQclear(start)
        let writer = BinaryCopyWriter { chunk in
            let sent = chunk.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) { PQputCopyData(conn, $0.baseAddress, Int32($0.count)) }
            }
            if sent != 1 { throw self.lostOrFailed(sql: sql) }
        }
        do {
            try body(writer)
            try writer.finish()
        } catch {
            PQputCopyEnd(conn, "aborted by client: \(error)")
            drainResults(conn)
            throw error
        }
        guard PQputCopyEnd(conn, nil) == 1 else { throw lostOrFailed(sql: sql) }
        var copied = 0
        var failure: Error?
        while let result = PQgetResult(conn) {
            do {
                let checked = try check(result, sql: sql)
                copied += checked.affectedRows ?? 0
            } catch {
                if failure == nil { failure = error }
            }
        }
        if let failure { throw failure }
        return copied
    }

    private func drainResults(_ conn: OpaquePointer) {
        while let result = PQgetResult(conn) { PQclear(result) }
    }

    // MARK: Errors

    private func check(_ result: OpaquePointer?, sql: String) throws -> PostgresResult {
        guard let result else { throw lostOrFailed(sql: sql) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY, PGRES_COPY_IN:
            return PostgresResult(handle: result)
        default:
            let error = serverError(result)
            PQclear(result)
            throw error
        }
    }

    private func serverError(_ result: OpaquePointer) -> PostgresError {
        func field(_ code: Character) -> String? {
            guard let value = PQresultErrorField(result, Int32(code.asciiValue!)) else { return nil }
            return String(cString: value)
        }
        let lost = !isConnected
        let message = field("M") ?? Self.trimmed(PQresultErrorMessage(result))
        return PostgresError(
            code: lost ? .connectionLost : .server,
            message: lost ? "connection to PostgreSQL lost: \(message)" : message,
            sqlState: field("C"), detail: field("D"), hint: field("H"), constraint: field("n"))
    }

    private func lostOrFailed(sql: String) -> PostgresError {
        let message = handle.map { Self.trimmed(PQerrorMessage($0)) } ?? "not connected"
        if !isConnected {
            return PostgresError(code: .connectionLost, message: "connection to PostgreSQL lost: \(message)")
        }
        return PostgresError(code: .server, message: message)
    }

    private static func trimmed(_ message: UnsafePointer<CChar>?) -> String {
        guard let message else { return "unknown error" }
        return String(cString: message).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Parameters laid out for `PQexecParams`: one contiguous byte buffer plus offsets.
struct ParameterBuffer {
    var bytes: [UInt8] = []
    var offsets: [Int] = []
    var lengths: [Int32] = []
    var types: [UInt32] = []

    init(_ parameters: [PostgresValue]) {
        for value in parameters {
            offsets.append(bytes.count)
            types.append(value.typeOID)
            if case .null = value {
                lengths.append(-1)
            } else {
                let before = bytes.count
                value.appendBinary(to: &bytes)
                lengths.append(Int32(bytes.count - before))
            }
        }
        bytes.append(0)  // a valid base address even when every parameter is empty
    }

    func withLibpqArrays<R>(
        _ body: (
            Int32, UnsafePointer<UInt32>?, UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<Int32>?,
            UnsafePointer<Int32>?
        ) -> R
    ) -> R {
        let formats = [Int32](repeating: 1, count: types.count)
        return bytes.withUnsafeBufferPointer { storage in
            let base = UnsafeRawPointer(storage.baseAddress!)
            let values: [UnsafePointer<CChar>?] = offsets.indices.map { i in
                lengths[i] < 0 ? nil : (base + offsets[i]).assumingMemoryBound(to: CChar.self)
            }
            return values.withUnsafeBufferPointer { values in
                body(Int32(types.count), types, values.baseAddress, lengths, formats)
            }
        }
    }
}
