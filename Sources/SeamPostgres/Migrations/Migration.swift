import Foundation

/// One versioned schema change: the file `NNNN_name.sql`.
public struct Migration: Sendable, Hashable {
    /// The number before the first underscore; migrations apply in ascending order.
    public var version: Int
    /// The part after the number, without `.sql`.
    public var name: String
    /// The file's full text.
    public var sql: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }

    /// `0001_lake_schema.sql`.
    public var fileName: String { String(format: "%04d_%@.sql", version, name) }

    /// Reads every `NNNN_name.sql` in `directory`, sorted by version.
    ///
    /// Other `.sql` files, or two files with one version, are errors rather than being
    /// skipped, so a typo cannot silently leave a change unapplied.
    public static func load(from directory: URL) throws -> [Migration] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw PostgresError(
                code: .migration, message: "cannot read the migrations directory \(directory.path): \(error.localizedDescription)")
        }
        var migrations: [Migration] = []
        for file in names.sorted() where file.hasSuffix(".sql") {
            guard let migration = try parse(fileName: file, directory: directory) else {
                throw PostgresError(
                    code: .migration,
                    message: "\(directory.path)/\(file): migration files must be named NNNN_name.sql (four digits, lowercase name)")
            }
            if let clash = migrations.first(where: { $0.version == migration.version }) {
                throw PostgresError(
                    code: .migration,
                    message: "\(directory.path): \(clash.fileName) and \(file) share version \(migration.version)")
            }
            migrations.append(migration)
        }
        if migrations.isEmpty {
            throw PostgresError(code: .migration, message: "no NNNN_name.sql migrations found in \(directory.path)")
        }
        return migrations.sorted { $0.version < $1.version }
    }

    private static func parse(fileName: String, directory: URL) throws -> Migration? {
        let stem = fileName.dropLast(4)
        let parts = stem.split(separator: "_", maxSplits: 1)
        guard parts.count == 2, parts[0].count == 4, let version = Int(parts[0]),
            parts[1].allSatisfy({ $0.isLowercase || $0.isNumber || $0 == "_" }), !parts[1].isEmpty
        else { return nil }
        let url = directory.appendingPathComponent(fileName)
        let sql: String
        do {
            sql = try String(contentsOf: url, encoding: .utf8)
        } catch {
            throw PostgresError(code: .migration, message: "cannot read \(url.path): \(error.localizedDescription)")
        }
        return Migration(version: version, name: String(parts[1]), sql: sql)
    }
}
