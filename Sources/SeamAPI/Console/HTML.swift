import Foundation

/// Server-rendered HTML for the console: every piece of data goes through `escape`, the
/// page carries no inline script or style (its Content-Security-Policy forbids them), and
/// its assets are served by Seam itself (`/console/assets/…`), so it works without network.
enum HTML {
    /// `text` with `&`, `<`, `>`, `"` and `'` escaped: safe in element content and in
    /// double- or single-quoted attribute values.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text.unicodeScalars {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(character)
            }
        }
        return out
    }

    /// A JSON value as the console shows it: numbers with up to `digits` significant digits,
    /// NULL as an en dash.
    static func number(_ value: Any?, digits: Int = 4) -> String {
        switch value {
        case let number as Double: return Self.format(number, digits: digits)
        case let number as Int: return String(number)
        case let bool as Bool: return bool ? "yes" : "no"
        case let text as String: return escape(text)
        default: return "–"
        }
    }

    static func format(_ number: Double, digits: Int = 4) -> String {
        guard number.isFinite else { return "–" }
        if abs(number) < 1e15, let integer = Int64(exactly: number) { return String(integer) }
        return String(format: "%.\(digits)g", number)
    }

    /// A share (0.0123) as a percentage ("1.23 %").
    static func percent(_ value: Any?) -> String {
        if let integer = value as? Int { return percent(Double(integer)) }
        guard let number = value as? Double, number.isFinite else { return "–" }
        return String(format: "%.2f %%", number * 100)
    }

    /// The exact value for `data-value` (what the browser test compares with the read API's
    /// JSON): Swift's shortest round-trip text of the double, or the text as given.
    static func exact(_ value: Any?) -> String {
        switch value {
        case let number as Double: return "\(number)"
        case let number as Int: return String(number)
        case let bool as Bool: return bool ? "true" : "false"
        case let text as String: return escape(text)
        default: return ""
        }
    }

    /// A table cell showing `shown` that carries the exact value and its field name.
    static func cell(_ field: String, _ value: Any?, shown: String? = nil) -> String {
        "<td data-field=\"\(escape(field))\" data-value=\"\(exact(value))\">\(shown ?? number(value))</td>"
    }

    /// A whole page: the navigation, `title` and `body`.
    static func page(title: String, section: String, body: String) -> String {
        let links = [("experiments", "Experiments"), ("segments", "Segments"), ("bandits", "Bandits"), ("pipeline", "Pipeline health")]
            .map { key, label in
                "<a href=\"/console/\(key)\"\(key == section ? " class=\"current\"" : "")>\(label)</a>"
            }.joined()
        return """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(escape(title)) · Seam</title>
            <link rel="stylesheet" href="/console/assets/console.css">
            <script src="/console/assets/console.js" defer></script>
            </head>
            <body>
            <header><span class="brand">Seam</span><nav>\(links)</nav></header>
            <main>
            <h1>\(escape(title))</h1>
            \(body)
            </main>
            </body>
            </html>
            """
    }

    /// A small flag: green when fine, red when raised.
    static func flag(_ raised: Bool, _ text: String) -> String {
        "<span class=\"flag \(raised ? "raised" : "ok")\">\(escape(text))</span>"
    }
}
