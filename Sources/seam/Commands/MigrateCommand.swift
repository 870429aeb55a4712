import ArgumentParser
import SeamPostgres

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply pending lake migrations, create the lake roles and upcoming partitions.")

    @OptionGroup var options: GlobalOptions

    func run() async throws {
        let runtime = try Runtime(options: options)
        let database = try await runtime.openDatabase()
        let pool = PostgresPool(configuration: .init(connectionString: database.url, maximumConnections: 1))
        do {
            let report = try await runtime.setUpLake(on: pool)
            let applied = report.migrations.applied.map { String(format: "%04d", $0) }
            print(
                applied.isEmpty
                    ? "seam migrate: up to date (\(report.migrations.alreadyApplied.count) migrations applied)"
                    : "seam migrate: applied \(applied.joined(separator: ", "))")
            if !report.roles.isComplete {
                print("seam migrate: lake roles need an administrator; run:\n\(report.roles.pendingSQL.joined(separator: "\n"))")
            }
        } catch {
            await pool.close()
            try? await database.startedCluster?.stopAsync()
            throw error
        }
        await pool.close()
        try await database.startedCluster?.stopAsync()
    }
}
