import Foundation

// embed-sql OUTPUT ENUM FILE.sql…: writes a Swift file declaring `enum ENUM` with one
// `SQLTemplate` per .sql file (named after the file in lowerCamelCase) and `all`, the
// templates by file name. Run at build time by the EmbedSQL plugin, so the .sql files are
// the only copy in the repository and no file is needed at run time.
let arguments = CommandLine.arguments.dropFirst()
guard arguments.count >= 2 else {
    FileHandle.standardError.write(Data("usage: embed-sql OUTPUT ENUM FILE.sql…\n".utf8))
    exit(2)
}
let output = URL(fileURLWithPath: arguments[arguments.startIndex])
let name = arguments[arguments.startIndex + 1]
let files = arguments.dropFirst(2).map { URL(fileURLWithPath: $0) }.sorted { $0.lastPathComponent < $1.lastPathComponent }

func swiftName(_ file: URL) -> String {
    let parts = file.deletingPathExtension().lastPathComponent.split(separator: "_").map(String.init)
    return (parts.first ?? "") + parts.dropFirst().map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
}

var out = "// Generated at build time by the EmbedSQL plugin from the target's SQL/*.sql files.\nimport SeamPostgres\n\n"
out += "enum \(name) {\n"
for file in files {
    let text = try String(contentsOf: file, encoding: .utf8)
    // A raw string with enough #s that the text cannot end it.
    var hashes = "#"
    while text.contains("\"" + hashes) { hashes += "#" }
    out += "    static let \(swiftName(file)) = SQLTemplate(\n        \(hashes)\"\"\"\n"
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
        out += line.isEmpty ? "\n" : "        \(line)\n"
    }
    out += "        \"\"\"\(hashes), name: \"\(file.lastPathComponent)\")\n\n"
}
out += "    /// Every template by file name.\n    static let all: [String: SQLTemplate] = [\n"
for file in files { out += "        \"\(file.lastPathComponent)\": \(swiftName(file)),\n" }
out += "    ]\n}\n"
try out.write(to: output, atomically: true, encoding: .utf8)
