import Foundation
import Testing

@testable import SeamAPI

@Suite("Console rendering")
struct ConsoleTests {
    @Test("data from the lake is escaped in element content and in both kinds of quoted attributes")
    func escaping() {
        let hostile = #"<script>alert("x")</script> & 'y'"#
        let escaped = HTML.escape(hostile)
        #expect(escaped == "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;")
        #expect(!HTML.cell("units", hostile).contains("<script>"))
        #expect(!HTML.page(title: hostile, section: "", body: "").contains("<script>alert"))
    }

    @Test("a forest plot declares one series and a point per finite estimate, and carries each exactly")
    func forest() {
        let svg = SVGCharts.forest(
            [.init(label: "b", estimate: 0.1, low: -0.05, high: 0.25), .init(label: "c", estimate: nil, low: nil, high: nil),
             .init(label: "<d>", estimate: -0.02, low: -0.1, high: 0.06)],
            axis: "lift")
        #expect(svg.contains(#"data-chart="forest" data-series="1" data-points="2""#))
        #expect(svg.components(separatedBy: "class=\"point\"").count - 1 == 2)
        #expect(svg.contains(#"data-value="0.1""#) && svg.contains(#"data-value="-0.02""#))
        #expect(svg.contains("&lt;d&gt;") && !svg.contains("<d>"))
    }

    @Test("a line chart counts only the points it draws: missing and non-finite values are gaps")
    func lines() {
        let svg = SVGCharts.lines(
            [("sessions", [1, 2, nil, 4]), ("rate", [0.5, .nan, 0.25, 0.75])], xs: ["d1", "d2", "d3", "d4"], axis: "per day")
        #expect(svg.contains(#"data-chart="lines" data-series="2" data-points="6""#))
        #expect(svg.components(separatedBy: "<g class=\"series\"").count - 1 == 2)
        #expect(svg.components(separatedBy: "class=\"point\"").count - 1 == 6)
    }

    @Test("a refused payload is shown as text when it is UTF-8, else as hex; never as markup")
    func payloads() {
        #expect(Console.shown(Array(#"{"a":"<b>"}"#.utf8)) == #"{"a":"<b>"}"#)
        #expect(Console.shown([0xff, 0x00, 0x41]) == "ff 00 41")
        #expect(Console.shown([0x41, 0x00]) == "41 00")
    }

    @Test("keys become one path segment")
    func paths() {
        #expect(Console.path("a/b?c") == "a%2Fb%3Fc")
        #expect(Console.path("checkout") == "checkout")
    }
}
