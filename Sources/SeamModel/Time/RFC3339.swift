import Foundation

/// Parser for RFC 3339 timestamps as browsers and SDKs send them:
/// `2026-11-21T12:00:00Z`, `2026-11-21T12:00:00.123+01:00` (`t`, `z` and a space accepted).
public enum RFC3339 {
    public static func parse(_ text: String) -> Date? {
        parse(utf8: Array(text.utf8)[...])
    }

    /// `parse` on UTF-8 bytes (a JSON string's contents, without copying them into a String).
    public static func parse(utf8 s: ArraySlice<UInt8>) -> Date? {
        var i = s.startIndex
        func number(_ digits: Int) -> Int? {
            guard i + digits <= s.endIndex else { return nil }
            var value = 0
            for _ in 0..<digits {
                guard s[i] >= 48 && s[i] <= 57 else { return nil }
                value = value * 10 + Int(s[i] - 48)
                i += 1
            }
            return value
        }
        func expect(_ options: String) -> Bool {
            guard i < s.endIndex, options.utf8.contains(s[i]) else { return false }
            i += 1
            return true
        }
        guard let year = number(4), expect("-"), let month = number(2), (1...12).contains(month), expect("-"),
            let day = number(2), (1...31).contains(day), expect("Tt "), let hour = number(2), hour < 24, expect(":"),
            let minute = number(2), minute < 60, expect(":"), let second = number(2), second <= 60
        else { return nil }
        var fraction = 0.0
        if i < s.endIndex && s[i] == UInt8(ascii: ".") {
            i += 1
            var scale = 0.1
            let start = i
            while i < s.endIndex, s[i] >= 48, s[i] <= 57 {
                fraction += Double(s[i] - 48) * scale
                scale /= 10
                i += 1
            }
            guard i > start else { return nil }
        }
        var offset = 0
        if expect("Zz") {
            offset = 0
        } else if i < s.endIndex && (s[i] == UInt8(ascii: "+") || s[i] == UInt8(ascii: "-")) {
            let sign = s[i] == UInt8(ascii: "+") ? 1 : -1
            i += 1
            guard let oh = number(2), oh < 24, expect(":"), let om = number(2), om < 60 else { return nil }
            offset = sign * (oh * 3600 + om * 60)
        } else {
            return nil
        }
        guard i == s.endIndex else { return nil }
        guard year >= 1 else { return nil }  // year 0000 lies before Timestamps' range
        let days = CivilCalendar.days(year: year, month: month, day: day)
        let seconds = Double(days * 86_400 + hour * 3600 + minute * 60 + second - offset) + fraction
        return Date(timeIntervalSince1970: seconds)
    }

    /// Formats `date` as `2026-11-21T12:00:00.123456Z`. Dates outside `Timestamps`'
    /// accepted range are clamped into it (this never traps, whatever the date).
    public static func format(_ date: Date) -> String {
        let micros = Timestamps.micros(date)
        var days = micros >= 0 ? micros / 86_400_000_000 : (micros - 86_399_999_999) / 86_400_000_000
        let inDay = micros - days * 86_400_000_000
        days += 719_468
        let era = (days >= 0 ? days : days - 146_096) / 146_097
        let doe = days - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        let seconds = inDay / 1_000_000
        return String(
            format: "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld.%06lldZ", year, month, day, seconds / 3600, (seconds / 60) % 60,
            seconds % 60, inDay % 1_000_000)
    }
}

/// The proleptic Gregorian calendar as day numbers, without Foundation's calendars (fast,
/// and the same for every year Seam accepts).
public enum CivilCalendar {
    /// Days since 1970-01-01 of a date (Howard Hinnant's algorithm).
    public static func days(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
