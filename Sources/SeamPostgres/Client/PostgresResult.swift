import CLibPQ
import Foundation

/// The rows a statement returned, in PostgreSQL's text format.
///
/// Immutable once received, so it can be handed from the connection's thread to any task.
public final class PostgresResult: @unchecked Sendable {
    private let handle: OpaquePointer
    /// Number of rows returned.
    public let rowCount: Int
    /// Number of columns returned.
    public let columnCount: Int
    /// Rows inserted, updated, deleted, copied... as reported by the command tag; nil when it has none.
    public let affectedRows: Int?
    /// Column names, in order.
    public let columnNames: [String]

    init(handle: OpaquePointer) {
        self.handle = handle
        rowCount = Int(PQntuples(handle))
        columnCount = Int(PQnfields(handle))
        columnNames = (0..<Int32(PQnfields(handle))).map { String(cString: PQfname(handle, $0)) }
        let tag = String(cString: PQcmdTuples(handle))
        affectedRows = Int(tag)
    }

    deinit { PQclear(handle) }

    /// The row at `index` (0-based).
    public subscript(index: Int) -> PostgresRow {
        precondition(index >= 0 && index < rowCount, "row \(index) out of range 0..<\(rowCount)")
        return PostgresRow(result: self, index: index)
    }

    /// All rows in order.
    public var rows: [PostgresRow] { (0..<rowCount).map { PostgresRow(result: self, index: $0) } }

    /// The first row, if any.
    public var first: PostgresRow? { rowCount > 0 ? self[0] : nil }

    /// Decodes column `column` of the first row; throws when there is no row.
    public func scalar<T: PostgresDecodable>(_ type: T.Type = T.self, column: Int = 0) throws -> T {
        guard let row = first else {
            throw PostgresError(code: .decoding, message: "expected a row, the statement returned none")
        }
        return try row[column].decode(T.self)
    }

    func cellIsNull(_ row: Int, _ column: Int) -> Bool { PQgetisnull(handle, Int32(row), Int32(column)) == 1 }
    func cellType(_ column: Int) -> UInt32 { PQftype(handle, Int32(column)) }
    func cellBytes(_ row: Int, _ column: Int) -> UnsafeBufferPointer<UInt8> {
        let length = Int(PQgetlength(handle, Int32(row), Int32(column)))
        let pointer = UnsafeRawPointer(PQgetvalue(handle, Int32(row), Int32(column))!)
        return UnsafeBufferPointer(start: pointer.assumingMemoryBound(to: UInt8.self), count: length)
    }
}

/// One row of a `PostgresResult`.
public struct PostgresRow: Sendable {
    let result: PostgresResult
    let index: Int

    /// The cell in column `column` (0-based).
    public subscript(column: Int) -> PostgresCell {
        precondition(column >= 0 && column < result.columnCount, "column \(column) out of range")
        return PostgresCell(result: result, row: index, column: column)
    }

    /// The cell in the column called `name`; throws when there is none.
    public func cell(named name: String) throws -> PostgresCell {
        guard let column = result.columnNames.firstIndex(of: name) else {
            throw PostgresError(
                code: .misuse,
                message: "no column \"\(name)\" in result (columns: \(result.columnNames.joined(separator: ", ")))")
        }
        return self[column]
    }

    /// Decodes the column called `name`.
    public func decode<T: PostgresDecodable>(_ type: T.Type = T.self, _ name: String) throws -> T {
        try cell(named: name).decode(T.self)
    }
}

/// One value of a result row, still in PostgreSQL's text format.
public struct PostgresCell: Sendable {
    let result: PostgresResult
    let row: Int
    /// Column index of the cell.
    public let column: Int

    /// True when the value is SQL NULL.
    public var isNull: Bool { result.cellIsNull(row, column) }
    /// The column's type OID.
    public var typeOID: UInt32 { result.cellType(column) }
    /// The column's name.
    public var columnName: String { result.columnNames[column] }

    /// The text form of the value, or nil for NULL.
    public var string: String? {
        isNull ? nil : String(decoding: result.cellBytes(row, column), as: UTF8.self)
    }

    /// Decodes the value as `T`; use an Optional type to accept NULL.
    public func decode<T: PostgresDecodable>(_ type: T.Type = T.self) throws -> T {
        try T.decode(from: self)
    }

    func withBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        try body(result.cellBytes(row, column))
    }

    func failure(_ expected: String) -> PostgresError {
        PostgresError(
            code: .decoding,
            message: isNull
                ? "column \"\(columnName)\" is NULL; decode as an Optional to accept NULL"
                : "column \"\(columnName)\" (type OID \(typeOID)) value \"\(string ?? "")\" is not a valid \(expected)")
    }
}
