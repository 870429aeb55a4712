import DatabaseSupport
import Foundation
import Testing

@testable import SeamPostgres

@Suite("SQL built by interpolation")
struct SQLQueryTests {
    @Test("every interpolated value becomes a numbered parameter; statement text is only what the code wrote")
    func bindsValues() {
        let name = "x'); DROP TABLE lake.spans; --"
        let since = Date(timeIntervalSince1970: 1_795_262_400)
        let query: SQLQuery = "SELECT count(*) FROM lake.tag_events WHERE name = \(text: name) AND occurred_at >= \(since) LIMIT \(10)"
        #expect(query.sql == "SELECT count(*) FROM lake.tag_events WHERE name = $1 AND occurred_at >= $2 LIMIT $3")
        #expect(query.binds == [.text(name), .timestamptz(since), .int64(10)])
        #expect(!query.sql.contains("DROP"))
    }

    @Test("fragments keep their own parameters, renumbered after the enclosing statement's")
    func nestsFragments() {
        let inner: SQLQuery = "a = \(1) AND b = \(text: "two")"
        let outer: SQLQuery = "SELECT \(text: "zero") WHERE \(inner) AND c = \(Int16(3))"
        #expect(outer.sql == "SELECT $1 WHERE a = $2 AND b = $3 AND c = $4")
        #expect(outer.binds == [.text("zero"), .int64(1), .text("two"), .int16(3)])
        let joined = SQLQuery.joined(["x = \(1)", "y = \(2)", "z"], separator: " OR ")
        #expect(joined.sql == "x = $1 OR y = $2 OR z")
        #expect((joined + " AND w = \(3)").sql == "x = $1 OR y = $2 OR z AND w = $3")
        #expect(SQLQuery.StringInterpolation.renumbered("$1 + $12, $$ not $x", by: 9) == "$10 + $21, $$ not $x")
    }

    @Test("identifiers are quoted, statement text is written as is")
    func identifiers() {
        let query: SQLQuery = "CREATE DATABASE \(identifier: #"we"ird"#) -- \(unescaped: "lake.spans")"
        #expect(query.sql == #"CREATE DATABASE "we""ird" -- lake.spans"#)
        #expect(query.binds.isEmpty)
        #expect(SQLQuery.literal("it's") == "'it''s'")
    }

    @Test("arrays, intervals and hostile text travel as values", .requiresPostgres)
    func roundTrip() async throws {
        try await TestDatabase.with { db in
            let c = try db.connect()
            let hostile = "'; SELECT pg_sleep(10); --"
            let buckets: [Int32] = [0, 7, 15]
            let row = try #require(
                try c.query(
                    """
                    SELECT \(text: hostile), 7 = ANY(\(buckets)), cardinality(\([String]())), \(["a", "b'c"])::text,
                           extract(epoch FROM \(Duration.seconds(90) + .milliseconds(250)))::float8, \(Int64?.none)::int8 IS NULL
                    """
                ).first)
            #expect(try row[0].decode(String.self) == hostile)
            #expect(try row[1].decode(Bool.self))
            #expect(try row[2].decode(Int?.self) == nil || (try row[2].decode(Int.self)) == 0)
            #expect(try row[3].decode(String.self) == "{a,b'c}")
            #expect(try row[4].decode(Double.self) == 90.25)
            #expect(try row[5].decode(Bool.self))
        }
    }

    @Test("a pipeline sends bound statements in one round trip; the first failure stops the rest and is thrown", .requiresPostgres)
    func pipeline() async throws {
        try await TestDatabase.with { db in
            let c = try db.connect()
            let results = try c.pipeline([
                "CREATE TEMP TABLE p (v text)",
                "INSERT INTO p VALUES (\(text: "one")), (\(text: "two"))",
                "SELECT count(*) FROM p WHERE v = ANY(\(["one", "two", "three"]))",
            ])
            #expect(results.count == 3)
            #expect(try results[2].scalar(Int.self) == 2)
            // Outside a transaction the statements are one implicit transaction: a failure
            // undoes the statements before it and skips the ones after.
            let failure = try #require(throws: PostgresError.self) {
                try c.pipeline([
                    "INSERT INTO p VALUES (\(text: "three"))",
                    "SELECT 1 / \(0)",
                    "INSERT INTO p VALUES (\(text: "four"))",
                ])
            }
            #expect(failure.sqlState == "22012")
            #expect(try c.query("SELECT count(*) FROM p").scalar(Int.self) == 2)
            // The connection is usable afterwards, inside a transaction too.
            _ = try c.transaction { c in
                try c.pipeline(["INSERT INTO p VALUES (\(text: "five"))"])
            }
            #expect(try c.query("SELECT string_agg(v, ',' ORDER BY v) FROM p").scalar(String.self) == "five,one,two")
            #expect(try c.pipeline([]).isEmpty)
        }
    }

    @Test("a script cannot bind values, and says to use a pipeline", .requiresPostgres)
    func scriptsRefuseBinds() async throws {
        try await TestDatabase.with { db in
            let c = try db.connect()
            let error = try #require(throws: PostgresError.self) { try c.executeScript("SELECT \(1); SELECT 2") }
            #expect(error.code == .misuse && error.message.contains("pipeline"))
        }
    }
}

@Suite("SQL templates")
struct SQLTemplateTests {
    @Test("psql's variables: :'name' is a bound value, :name statement text; strings, identifiers, comments and casts are left alone")
    func variables() throws {
        let template = SQLTemplate(
            """
            -- :'not_this' nor :this
            SELECT 'a:b', ':c', "x:y", e.id::text, :'limit'::int /* :'nor' */, :rows
            """, name: "t.sql")
        #expect(template.variables == ["limit", "rows"])
        let query = try template.render(["limit": .value(.int64(5)), "rows": .fragment("SELECT \(text: "r")")])
        #expect(query.sql.hasSuffix(#"SELECT 'a:b', ':c', "x:y", e.id::text, $1::int /* :'nor' */, SELECT $2"#))
        #expect(query.binds == [.int64(5), .text("r")])
        #expect(throws: SQLTemplate.MissingArgument.self) { try template.render(["limit": .value(.null)]) }
    }

    @Test("statements end with ; at the end of a line, not in a comment")
    func statements() throws {
        let template = SQLTemplate(
            """
            -- first; (not an end)
            -- nor this;
            CREATE TEMP TABLE t (v int);
            INSERT INTO t VALUES (:'v');
            SELECT count(*) FROM t
            """, name: "s.sql")
        let statements = try template.statements(["v": .value(.int32(1))])
        #expect(statements.count == 3)
        #expect(statements[1].sql.trimmingCharacters(in: .whitespacesAndNewlines) == "INSERT INTO t VALUES ($1)")
        #expect(statements[1].binds == [.int32(1)])
    }
}
