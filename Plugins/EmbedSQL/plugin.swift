import Foundation
import PackagePlugin

/// Embeds a target's `SQL/*.sql` files in it at build time (`embed-sql`): the statements
/// live once, in files a reader can open and run in psql, and the binary needs no file at
/// run time.
@main
struct EmbedSQL: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let directory = target.directoryURL.appendingPathComponent("SQL")
        let files = try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "sql" }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        let output = context.pluginWorkDirectoryURL.appendingPathComponent("EmbeddedSQL.swift")
        return [
            .buildCommand(
                displayName: "Embedding \(files.count) SQL files in \(target.name)",
                executable: try context.tool(named: "embed-sql").url,
                // SeamJoin's are `JoinSQL`.
                arguments: [output.path, String(target.name.trimmingPrefix("Seam")) + "SQL"] + files.map(\.path),
                inputFiles: files,
                outputFiles: [output])
        ]
    }
}
