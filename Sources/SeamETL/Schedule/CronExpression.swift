import Foundation

/// A 5-field cron expression (minute hour day-of-month month day-of-week), evaluated in UTC.
///
/// Fields take `*`, numbers, ranges `a-b`, steps `*/n` and `a-b/n`, and comma lists.
/// Day of week is 0–7 with both 0 and 7 meaning Sunday. As in cron, when both day fields
/// are restricted a day matches if either does.
public struct CronExpression: Sendable, Hashable, CustomStringConvertible {
    public let description: String
    let minutes: Set<Int>
    let hours: Set<Int>
    let daysOfMonth: Set<Int>
    let months: Set<Int>
    let daysOfWeek: Set<Int>
    let dayOfMonthRestricted: Bool
    let dayOfWeekRestricted: Bool

    public struct ParseError: Error, CustomStringConvertible, Equatable {
        public var description: String
    }

    public init(_ text: String) throws {
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard fields.count == 5 else {
            throw ParseError(description: "cron expression \"\(text)\" must have 5 fields (minute hour day-of-month month day-of-week), has \(fields.count)")
        }
        description = fields.joined(separator: " ")
        minutes = try Self.field(fields[0], name: "minute", range: 0...59)
        hours = try Self.field(fields[1], name: "hour", range: 0...23)
        daysOfMonth = try Self.field(fields[2], name: "day-of-month", range: 1...31)
        months = try Self.field(fields[3], name: "month", range: 1...12)
        daysOfWeek = Set(try Self.field(fields[4], name: "day-of-week", range: 0...7).map { $0 % 7 })
        dayOfMonthRestricted = fields[2] != "*"
        dayOfWeekRestricted = fields[4] != "*"
    }

    private static func field(_ text: String, name: String, range: ClosedRange<Int>) throws -> Set<Int> {
        var values = Set<Int>()
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let pieces = part.split(separator: "/", omittingEmptySubsequences: false)
            guard pieces.count <= 2 else { throw ParseError(description: "\(name) field \"\(text)\": more than one /") }
            var step = 1
            if pieces.count == 2 {
                guard let n = Int(pieces[1]), n > 0 else {
                    throw ParseError(description: "\(name) field \"\(text)\": step must be a positive integer")
                }
                step = n
            }
            let base = pieces[0]
            var low = range.lowerBound
            var high = range.upperBound
            if base != "*" {
                let bounds = base.split(separator: "-", omittingEmptySubsequences: false)
                guard (1...2).contains(bounds.count), let a = Int(bounds[0]), let b = Int(bounds[bounds.count - 1]) else {
                    throw ParseError(description: "\(name) field \"\(text)\": \"\(base)\" is not a number, range or *")
                }
                guard range.contains(a), range.contains(b), a <= b else {
                    throw ParseError(description: "\(name) field \"\(text)\": values must lie in \(range.lowerBound)-\(range.upperBound), low before high")
                }
                low = a
                high = bounds.count == 1 && pieces.count == 1 ? a : (bounds.count == 1 ? range.upperBound : b)
            }
            values.formUnion(stride(from: low, through: high, by: step))
        }
        return values
    }

    private static var utc: Calendar {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }

    /// The first matching minute strictly after `date`; nil when none within eight years
    /// (an expression such as "0 0 30 2 *" never matches).
    public func next(after date: Date) -> Date? {
        let calendar = Self.utc
        var current = calendar.dateInterval(of: .minute, for: date)!.start.addingTimeInterval(60)
        let limit = date.addingTimeInterval(8 * 366 * 86_400)
        while current < limit {
            let c = calendar.dateComponents([.month, .day, .weekday, .hour, .minute], from: current)
            if !months.contains(c.month!) || !dayMatches(day: c.day!, weekday: c.weekday! - 1) {
                current = calendar.date(byAdding: .day, value: 1, to: calendar.startOfDay(for: current))!
                continue
            }
            if !hours.contains(c.hour!) {
                current = calendar.dateInterval(of: .hour, for: current)!.start.addingTimeInterval(3600)
                continue
            }
            if !minutes.contains(c.minute!) {
                current = current.addingTimeInterval(60)
                continue
            }
            return current
        }
        return nil
    }

    private func dayMatches(day: Int, weekday: Int) -> Bool {
        switch (dayOfMonthRestricted, dayOfWeekRestricted) {
        case (true, true): daysOfMonth.contains(day) || daysOfWeek.contains(weekday)
        case (true, false): daysOfMonth.contains(day)
        case (false, true): daysOfWeek.contains(weekday)
        case (false, false): true
        }
    }
}
