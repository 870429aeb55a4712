import Foundation
import SeamPostgres
import Testing

@testable import SeamJoin

/// The join's SQL is kept in `Sources/SeamJoin/SQL/*.sql` and embedded at build time by the
/// EmbedSQL plugin: the embedded templates must be the files, each file once.
@Suite("Join SQL files")
struct JoinSQLFilesTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Sources/SeamJoin/SQL")

    @Test("the embedded templates are the .sql files, every one of them")
    func generatedMatchesFiles() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.directory.path).filter { $0.hasSuffix(".sql") }.sorted()
        #expect(files == JoinSQL.all.keys.sorted())
        for file in files {
            let text = try String(contentsOf: Self.directory.appendingPathComponent(file), encoding: .utf8)
            let embedded = try #require(JoinSQL.all[file])
            let arguments = Self.placeholders(for: embedded)
            #expect(try embedded.render(arguments) == SQLTemplate(text, name: file).render(arguments), "\(file)")
        }
    }

    /// Every variable of `template`, given a value or a fragment named after it.
    static func placeholders(for template: SQLTemplate) -> [String: SQLTemplate.Argument] {
        var arguments: [String: SQLTemplate.Argument] = [:]
        for name in template.variables { arguments[name] = .fragment(SQLQuery("<" + name + ">")) }
        return arguments
    }

    @Test("a stage statement renders with psql's variables turned into bound values and fragments")
    func rendersClaim() throws {
        let statements = try JoinSQL.claim.statements([
            "kind": .value(.int16(3)), "buckets": .value(.int32Array([1, 2])), "bound": .value(.null),
            "max_items": .value(.int64(100)), "horizon": .value(.interval(.seconds(60))),
            "keys": .fragment("event_id"), "key_match": .fragment("q.event_id = c.event_id"),
            "bucket_items": .value(.int64(50)), "take_more": .value(.bool(false)),
        ])
        #expect(statements.count == 12)
        let take = try #require(statements.first { $0.sql.contains("WITH whole AS") })
        #expect(take.sql.contains("SELECT count(*) <= $1::bigint AS fits"))
        #expect(take.sql.contains("WHERE kind = $2::smallint AND bucket = ANY($3::int[]) AND ($4::bigint IS NULL OR item_id <= $5::bigint)"))
        #expect(take.sql.contains("FROM unnest($7::int[]) AS b"))
        #expect(take.sql.contains("WHERE kind = $8::smallint AND bucket = b AND ($9::bigint IS NULL OR item_id <= $10::bigint)"))
        #expect(
            take.binds == [
                .int64(100), .int16(3), .int32Array([1, 2]), .null, .null, .int64(100),
                .int32Array([1, 2]), .int16(3), .null, .null, .int64(50), .int64(50), .int64(100),
                // A whole claim's copy of its items, then its delete of the same ones.
                .int16(3), .int32Array([1, 2]), .null, .null, .int16(3), .int32Array([1, 2]), .null, .null, .int64(50),
            ])
        let code = statements.flatMap { $0.sql.split(separator: "\n") }.filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("--") }
        #expect(!code.contains { $0.contains(":'") || $0.contains(":keys") || $0.contains(":key_match") })
    }
}
