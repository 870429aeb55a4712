import Foundation

/// The range of times Seam accepts from clients, and conversions that cannot trap.
///
/// Any client time (RFC 3339 text, epoch milliseconds, OTLP nanoseconds) must lie in
/// `0001-01-01T00:00:00Z ..< 10000-01-01T00:00:00Z`: the years RFC 3339 can write, well
/// inside PostgreSQL's `timestamptz` and Int64 microseconds. Values outside (and NaN or
/// infinite numbers) are refused with a reason naming the field, before any arithmetic
/// that could overflow.
public enum Timestamps {
    /// 0001-01-01T00:00:00Z in seconds since 1970.
    public static let earliestSeconds: Double = -62_135_596_800
    /// 10000-01-01T00:00:00Z in seconds since 1970 (exclusive).
    public static let endSeconds: Double = 253_402_300_800

    /// True when `date` lies in the accepted range.
    public static func isAccepted(_ date: Date) -> Bool {
        let seconds = date.timeIntervalSince1970
        return seconds.isFinite && seconds >= earliestSeconds && seconds < endSeconds
    }

    /// A client's epoch milliseconds as a date, or nil when not finite or out of range.
    public static func date(epochMilliseconds value: Double) -> Date? {
        guard value.isFinite else { return nil }
        let date = Date(timeIntervalSince1970: value / 1000)
        return isAccepted(date) ? date : nil
    }

    /// Microseconds since 1970, rounded; out-of-range dates are clamped into the accepted
    /// range and NaN gives 0, so no conversion traps (callers validate first).
    public static func micros(_ date: Date) -> Int64 {
        let seconds = date.timeIntervalSince1970
        guard !seconds.isNaN else { return 0 }
        let clamped = min(max(seconds, earliestSeconds), endSeconds)
        return Int64((clamped * 1_000_000).rounded())
    }

    /// The accepted range, for error messages and documentation.
    public static let rangeDescription = "0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z"
}

/// How long the lake keeps raw data by default (`lake.retention_days`); records older than
/// this are refused at ingestion, since their partitions would be dropped.
public enum Retention {
    public static let defaultDays = 90
}
