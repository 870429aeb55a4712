import Foundation
import SeamPostgres

/// Where the lake's migration files are and how to apply them.
public enum LakeMigrations {
    /// Finds the `migrations/` directory: `explicit` when given, else `./migrations`, else
    /// a `migrations/` beside the executable or in one of its parent directories (a
    /// checkout running `.build/debug/seam`), else `/usr/share/seam/migrations`.
    public static func locate(explicit: String?, executable: URL? = nil) throws -> URL {
        let fm = FileManager.default
        if let explicit {
            let url = URL(fileURLWithPath: explicit).standardizedFileURL
            guard fm.fileExists(atPath: url.path) else {
                throw LakeError(code: .migrationsNotFound, message: "migrations directory \(url.path) does not exist")
            }
            return url
        }
        var candidates = [URL(fileURLWithPath: fm.currentDirectoryPath).appendingPathComponent("migrations")]
        let executable = executable ?? URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath()
        var directory = executable.deletingLastPathComponent()
        for _ in 0..<6 {
            candidates.append(directory.appendingPathComponent("migrations"))
            directory = directory.deletingLastPathComponent()
        }
        candidates.append(URL(fileURLWithPath: "/usr/share/seam/migrations"))
        for candidate in candidates
        where fm.fileExists(atPath: candidate.appendingPathComponent("0001_lake_schema.sql").path) {
            return candidate.standardizedFileURL
        }
        throw LakeError(
            code: .migrationsNotFound,
            message: "cannot find Seam's migrations directory (looked in \(candidates.map(\.path).joined(separator: ", "))); set SEAM_MIGRATIONS_DIR or --migrations")
    }
}
