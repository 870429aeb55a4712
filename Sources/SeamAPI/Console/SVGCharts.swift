import Foundation

/// The console's charts, drawn on the server as SVG (no chart library, no script). Every
/// chart says what it holds for tools and tests: the `svg` carries `data-chart`,
/// `data-series` and `data-points`; each series is a `g.series` with `data-name`, each point a
/// `circle.point` with `data-x` and `data-value`, and a `title` that browsers show on hover.
enum SVGCharts {
    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"]

    /// One estimate with its interval.
    struct Interval {
        var label: String
        var estimate: Double?
        var low: Double?
        var high: Double?
    }

    /// A forest plot: one row per interval, a dot at the estimate, a bar from low to high, and
    /// the line of no effect at 0. `scale` turns values into what the axis shows (100 for %).
    static func forest(_ rows: [Interval], axis: String, scale: Double = 100) -> String {
        let width = 640.0, rowHeight = 34.0, left = 150.0, right = 30.0, top = 24.0
        let height = top + rowHeight * Double(max(rows.count, 1)) + 30
        let values = rows.flatMap { [$0.low, $0.high, $0.estimate] }.compactMap { $0 }.filter(\.isFinite) + [0]
        var low = values.min() ?? -1, high = values.max() ?? 1
        if high - low < 1e-12 { (low, high) = (low - 1, high + 1) }
        let pad = (high - low) * 0.08
        (low, high) = (low - pad, high + pad)
        func x(_ value: Double) -> Double { left + (value - low) / (high - low) * (width - left - right) }
        var parts: [String] = []
        let zero = x(0)
        parts.append("<line class=\"zero\" x1=\"\(f(zero))\" y1=\"\(f(top - 8))\" x2=\"\(f(zero))\" y2=\"\(f(height - 26))\" stroke=\"#888\" stroke-dasharray=\"4 3\"/>")
        var points: [String] = []
        for (index, row) in rows.enumerated() {
            let y = top + rowHeight * (Double(index) + 0.5)
            parts.append("<text x=\"\(f(left - 10))\" y=\"\(f(y + 4))\" text-anchor=\"end\">\(HTML.escape(row.label))</text>")
            if let lo = row.low, let hi = row.high, lo.isFinite, hi.isFinite {
                parts.append("<line class=\"interval\" x1=\"\(f(x(lo)))\" y1=\"\(f(y))\" x2=\"\(f(x(hi)))\" y2=\"\(f(y))\" stroke=\"\(palette[0])\" stroke-width=\"3\"/>")
            }
            if let estimate = row.estimate, estimate.isFinite {
                let shown = "\(row.label): \(HTML.format(estimate * scale)) [\(row.low.map { HTML.format($0 * scale) } ?? "–"), \(row.high.map { HTML.format($0 * scale) } ?? "–")]"
                points.append(
                    "<circle class=\"point\" cx=\"\(f(x(estimate)))\" cy=\"\(f(y))\" r=\"5\" fill=\"\(palette[0])\" data-x=\"\(HTML.escape(row.label))\" data-value=\"\(estimate)\"><title>\(HTML.escape(shown))</title></circle>")
            }
        }
        parts.append("<g class=\"series\" data-name=\"\(HTML.escape(axis))\">\(points.joined())</g>")
        parts.append("<text x=\"\(f(x(low)))\" y=\"\(f(height - 8))\">\(HTML.format(low * scale))</text>")
        parts.append("<text x=\"\(f(x(high)))\" y=\"\(f(height - 8))\" text-anchor=\"end\">\(HTML.format(high * scale))</text>")
        parts.append("<text x=\"\(f(zero))\" y=\"\(f(height - 8))\" text-anchor=\"middle\">0</text>")
        parts.append("<text x=\"\(f(width / 2 + left / 2))\" y=\"12\" text-anchor=\"middle\" class=\"axis\">\(HTML.escape(axis))</text>")
        return "<svg class=\"chart\" data-chart=\"forest\" data-series=\"1\" data-points=\"\(points.count)\" viewBox=\"0 0 \(f(width)) \(f(height))\" role=\"img\">\(parts.joined())</svg>"
    }

    /// A line chart of `series` over the shared x labels `xs` (times, in order); a series
    /// may miss some x (nil).
    static func lines(_ series: [(name: String, values: [Double?])], xs: [String], axis: String) -> String {
        let width = 640.0, height = 220.0, left = 60.0, right = 120.0, top = 16.0, bottom = 30.0
        let all = series.flatMap(\.values).compactMap { $0 }.filter(\.isFinite)
        var low = min(all.min() ?? 0, 0), high = all.max() ?? 1
        if high - low < 1e-12 { high = low + 1 }
        high += (high - low) * 0.05
        func x(_ index: Int) -> Double {
            xs.count <= 1 ? left + (width - left - right) / 2 : left + Double(index) / Double(xs.count - 1) * (width - left - right)
        }
        func y(_ value: Double) -> Double { top + (1 - (value - low) / (high - low)) * (height - top - bottom) }
        var parts: [String] = []
        parts.append("<line x1=\"\(f(left))\" y1=\"\(f(height - bottom))\" x2=\"\(f(width - right))\" y2=\"\(f(height - bottom))\" stroke=\"#888\"/>")
        parts.append("<line x1=\"\(f(left))\" y1=\"\(f(top))\" x2=\"\(f(left))\" y2=\"\(f(height - bottom))\" stroke=\"#888\"/>")
        parts.append("<text x=\"\(f(left - 6))\" y=\"\(f(y(high) + 10))\" text-anchor=\"end\">\(HTML.format(high, digits: 3))</text>")
        parts.append("<text x=\"\(f(left - 6))\" y=\"\(f(y(low)))\" text-anchor=\"end\">\(HTML.format(low, digits: 3))</text>")
        if let first = xs.first { parts.append("<text x=\"\(f(left))\" y=\"\(f(height - 10))\">\(HTML.escape(first))</text>") }
        if xs.count > 1, let last = xs.last {
            parts.append("<text x=\"\(f(width - right))\" y=\"\(f(height - 10))\" text-anchor=\"end\">\(HTML.escape(last))</text>")
        }
        var total = 0
        for (index, entry) in series.enumerated() {
            let color = palette[index % palette.count]
            var path: [String] = []
            var circles: [String] = []
            for (i, value) in entry.values.enumerated() where i < xs.count {
                guard let value, value.isFinite else { continue }
                path.append("\(f(x(i))),\(f(y(value)))")
                circles.append(
                    "<circle class=\"point\" cx=\"\(f(x(i)))\" cy=\"\(f(y(value)))\" r=\"3\" fill=\"\(color)\" data-x=\"\(HTML.escape(xs[i]))\" data-value=\"\(value)\"><title>\(HTML.escape("\(entry.name) \(xs[i]): \(HTML.format(value))"))</title></circle>")
            }
            total += circles.count
            let line = path.count > 1 ? "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(path.joined(separator: " "))\"/>" : ""
            let legend = "<text x=\"\(f(width - right + 8))\" y=\"\(f(top + 14 * Double(index) + 8))\" fill=\"\(color)\">\(HTML.escape(entry.name))</text>"
            parts.append("<g class=\"series\" data-name=\"\(HTML.escape(entry.name))\">\(line)\(circles.joined())\(legend)</g>")
        }
        parts.append("<text x=\"\(f(left))\" y=\"10\" class=\"axis\">\(HTML.escape(axis))</text>")
        return "<svg class=\"chart\" data-chart=\"lines\" data-series=\"\(series.count)\" data-points=\"\(total)\" viewBox=\"0 0 \(f(width)) \(f(height))\" role=\"img\">\(parts.joined())</svg>"
    }

    /// Coordinates with one decimal: enough for the eye, short in the page.
    private static func f(_ value: Double) -> String { String(format: "%.1f", value) }
}
