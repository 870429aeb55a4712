import Foundation
import Testing

@testable import SeamETL

@Suite("Cron expressions")
struct CronExpressionTests {
    static func date(_ text: String) -> Date { ISO8601DateFormatter().date(from: text)! }

    @Test func nextFireTimes() throws {
        let cases: [(String, String, String)] = [
            ("*/15 * * * *", "2026-11-22T10:07:30Z", "2026-11-22T10:15:00Z"),
            ("*/15 * * * *", "2026-11-22T10:15:00Z", "2026-11-22T10:30:00Z"),
            ("5 * * * *", "2026-11-22T10:05:00Z", "2026-11-22T11:05:00Z"),
            ("0 3 * * *", "2026-11-22T10:00:00Z", "2026-11-23T03:00:00Z"),
            ("30 2 1 * *", "2026-11-22T10:00:00Z", "2026-12-01T02:30:00Z"),
            ("0 0 * * 1", "2026-11-22T10:00:00Z", "2026-11-23T00:00:00Z"),  // 2026-11-22 is a Sunday
            ("0 0 * * 7", "2026-11-22T10:00:00Z", "2026-11-29T00:00:00Z"),
            ("0 12 29 2 *", "2026-11-22T10:00:00Z", "2028-02-29T12:00:00Z"),
            ("10-20/5 8,9 * * *", "2026-11-22T08:16:00Z", "2026-11-22T08:20:00Z"),
            ("10-20/5 8,9 * * *", "2026-11-22T08:20:00Z", "2026-11-22T09:10:00Z"),
            ("0 0 13 * 5", "2026-11-22T10:00:00Z", "2026-11-27T00:00:00Z"),  // day 13 or a Friday
        ]
        for (expression, after, expected) in cases {
            let cron = try CronExpression(expression)
            #expect(cron.next(after: Self.date(after)) == Self.date(expected), "\(expression) after \(after)")
        }
        #expect(try CronExpression("0 0 30 2 *").next(after: Self.date("2026-01-01T00:00:00Z")) == nil)
    }

    @Test func errorsNameTheField() {
        for (expression, fragment) in [
            ("* * * *", "5 fields"), ("60 * * * *", "minute"), ("* 24 * * *", "hour"), ("* * 0 * *", "day-of-month"),
            ("* * * 13 *", "month"), ("* * * * 8", "day-of-week"), ("*/0 * * * *", "step"), ("a * * * *", "minute"),
        ] {
            do {
                _ = try CronExpression(expression)
                Issue.record("\(expression) parsed")
            } catch {
                #expect("\(error)".contains(fragment), "\(expression): \(error)")
            }
        }
    }

    @Test func schedulerPicksTheDueJobsInOrder() throws {
        var configuration = ETLConfiguration(defaultSchedule: try CronExpression("0 * * * *"))
        configuration.schedules[.segmentMetrics] = try CronExpression("*/10 * * * *")
        let jobs = makeJobs(configuration)
        let scheduler = ETLScheduler(
            jobs: jobs, configuration: configuration,
            runner: JobRunner(pool: .init(configuration: .init(connectionString: "")), lookbackHours: 1))
        let first = try #require(scheduler.nextRun(after: Self.date("2026-11-22T10:05:00Z")))
        #expect(first.at == Self.date("2026-11-22T10:10:00Z"))
        #expect(first.jobs.map(\.name) == [.segmentMetrics])
        let onTheHour = try #require(scheduler.nextRun(after: Self.date("2026-11-22T10:55:00Z")))
        #expect(onTheHour.at == Self.date("2026-11-22T11:00:00Z"))
        #expect(onTheHour.jobs.map(\.name) == [.userFeatures, .segments, .segmentMetrics, .experimentResults, .bandits])
    }

    @Test func configurationProblemsNameTheKeyPath() {
        var configuration = ETLConfiguration()
        configuration.define(.init(name: "bad_ratio", kind: .ratio, windowHours: 0))
        configuration.define(.init(name: "capped", kind: .proportion, selector: .init(events: ["purchase"]), cap: .absolute(1)))
        configuration.segments = [.init(name: "x", predicate: "revenue > 1; DROP TABLE lake.spans")]
        configuration.experiments = [
            .init(key: "exp", control: "c", weights: ["a": 1, "b": 0], primaryMetrics: ["nope"], alpha: 2)
        ]
        let problems = configuration.problems().map(\.description)
        for expected in [
            "metrics.bad_ratio.window_hours", "metrics.bad_ratio.denominator", "metrics.capped.cap", "segments.x.predicate",
            "experiments.exp.alpha", "experiments.exp.weights.b", "experiments.exp.control", "experiments.exp.primary_metrics",
        ] {
            #expect(problems.contains { $0.hasPrefix(expected + ":") }, "missing \(expected) in \(problems)")
        }
        #expect(ETLConfiguration().problems().isEmpty)
    }
}
