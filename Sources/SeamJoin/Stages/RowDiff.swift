/// SQL for "only what changed": stages compute fresh rows into a temporary table, compare
/// them with the stored ones, and rewrite (and propagate) only the keys whose rows differ.
/// Unchanged rows keep their tuples and index entries, which is most of them when a key
/// is recomputed for a change that did not affect it.
enum RowDiff {
    /// The column names of a comma-separated list, without `excluded`.
    static func names(_ list: String, excluding excluded: Set<String> = ["updated_at"]) -> [String] {
        list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !excluded.contains($0) }
    }

    /// `(a.c1, a.c2, …) IS DISTINCT FROM (b.c1, b.c2, …)`: true when one side is missing.
    static func differs(_ columns: [String], _ a: String, _ b: String) -> String {
        "(\(columns.map { "\(a).\($0)" }.joined(separator: ", "))) IS DISTINCT FROM (\(columns.map { "\(b).\($0)" }.joined(separator: ", ")))"
    }

    /// Every column of a comma-separated list, prefixed with `alias.`.
    static func prefixed(_ list: String, _ alias: String) -> String {
        names(list, excluding: []).map { "\(alias).\($0)" }.joined(separator: ", ")
    }
}
