import Foundation
import SeamModel

/// OTLP log export requests → validated `LogRecordRow`s, with feature-flag evaluation
/// attributes lifted into their own columns.
public enum LogMapper {
    public static func map(_ request: LogsExportRequest, limits: RecordLimits) -> MappedBatch<LogRecordRow> {
        var batch = MappedBatch<LogRecordRow>()
        var index = 0
        for resourceLogs in request.resourceLogs {
            let resourceAttributes = resourceLogs.resource.attributes
            let resourceJSON = Attributes.json(resourceAttributes)
            let service = Attributes.lookup(["service.name"], in: resourceAttributes)
            for scopeLogs in resourceLogs.scopeLogs {
                let scopeName = scopeLogs.scope.name
                let enclosing = enclosingProblem(resourceLogs, scopeLogs, limits: limits)
                for log in scopeLogs.logRecords {
                    defer { index += 1 }
                    if let problem = problem(log, index: index, limits: limits, enclosing: enclosing, resource: resourceAttributes) {
                        batch.refuse(problem)
                        continue
                    }
                    batch.indices.append(index)
                    let traceID = [UInt8](log.traceID)
                    let spanID = [UInt8](log.spanID)
                    let observed = log.observedTimeUnixNano > 0 ? micros(fromNanos: log.observedTimeUnixNano) : nil
                    let time = log.timeUnixNano > 0 ? micros(fromNanos: log.timeUnixNano) : (observed ?? limits.receivedMicros)
                    let attributes = log.attributes
                    let hasTrace = !traceID.isEmpty && !traceID.isAllZero
                    batch.records.append(
                        LogRecordRow(
                            timeMicros: time, observedMicros: observed, traceID: hasTrace ? traceID : nil,
                            spanID: spanID.isEmpty || spanID.isAllZero ? nil : spanID,
                            traceFlags: hasTrace ? Int32(log.flags & 0xFF) : nil,
                            severityNumber: Int16(log.severityNumber.rawValue),
                            severityText: log.severityText.isEmpty ? nil : log.severityText, body: body(log),
                            eventName: log.eventName.isEmpty
                                ? Attributes.lookup(["event.name"], in: attributes) : log.eventName,
                            serviceName: service,
                            sessionID: Attributes.lookup(["session.id"], in: attributes, resourceAttributes),
                            userID: Attributes.lookup(["enduser.id", "user.id"], in: attributes, resourceAttributes),
                            flagKey: Attributes.lookup(["feature_flag.key"], in: attributes),
                            flagVariant: Attributes.lookup(["feature_flag.result.variant", "feature_flag.variant"], in: attributes),
                            flagContextID: Attributes.lookup(["feature_flag.context.id"], in: attributes),
                            scopeName: scopeName.isEmpty ? nil : scopeName, attributes: Attributes.json(attributes),
                            resource: resourceJSON, receivedMicros: limits.receivedMicros))
                    batch.accepted += 1
                }
            }
        }
        return batch
    }

    /// Counts the records that pass validation without building rows (the acknowledgement path).
    public static func validate(_ request: LogsExportRequest, limits: RecordLimits) -> MappedBatch<LogRecordRow> {
        var batch = MappedBatch<LogRecordRow>()
        var index = 0
        for resourceLogs in request.resourceLogs {
            for scopeLogs in resourceLogs.scopeLogs {
                let enclosing = enclosingProblem(resourceLogs, scopeLogs, limits: limits)
                for log in scopeLogs.logRecords {
                    if let problem = problem(log, index: index, limits: limits, enclosing: enclosing, resource: resourceLogs.resource.attributes) {
                        batch.refuse(problem)
                    } else {
                        batch.accepted += 1
                    }
                    index += 1
                }
            }
        }
        return batch
    }

    /// The attribute limit a record's resource or scope breaks (refusing all its records).
    static func enclosingProblem(
        _ resource: Opentelemetry_Proto_Logs_V1_ResourceLogs, _ scope: Opentelemetry_Proto_Logs_V1_ScopeLogs, limits: RecordLimits
    ) -> String? {
        if let problem = Attributes.problem(resource.resource.attributes, limits.attributes) { return "resource: \(problem)" }
        if let problem = Attributes.problem(scope.scope.attributes, limits.attributes) { return "scope: \(problem)" }
        for text in [scope.scope.name, scope.scope.version] where text.utf8.count > limits.attributes.maximumValueBytes {
            return "scope: a name or version of \(text.utf8.count) bytes; at most \(limits.attributes.maximumValueBytes)"
        }
        return nil
    }

    /// Why `log` is refused, naming it; nil when it is valid.
    static func problem(
        _ log: Opentelemetry_Proto_Logs_V1_LogRecord, index: Int, limits: RecordLimits, enclosing: String? = nil,
        resource: [KeyValue] = []
    ) -> String? {
        let label = "log record \(index)"
        guard log.traceID.isEmpty || log.traceID.count == 16 else {
            return "\(label): trace_id must be empty or 16 bytes (got \(log.traceID.count))"
        }
        guard log.spanID.isEmpty || log.spanID.count == 8 else {
            return "\(label): span_id must be empty or 8 bytes (got \(log.spanID.count))"
        }
        guard log.severityNumber.rawValue >= 0 && log.severityNumber.rawValue <= 24 else {
            return "\(label): severity_number \(log.severityNumber.rawValue) is outside 0-24"
        }
        let observed = log.observedTimeUnixNano > 0 ? micros(fromNanos: log.observedTimeUnixNano) : nil
        let time = log.timeUnixNano > 0 ? micros(fromNanos: log.timeUnixNano) : (observed ?? limits.receivedMicros)
        if let problem = limits.problem(atMicros: time) { return "\(label): time_unix_nano \(problem)" }
        if let problem = Attributes.problem(log.attributes, limits.attributes) { return "\(label): attributes: \(problem)" }
        if log.hasBody, let problem = Attributes.problem(log.body, limits.attributes, depth: 1) { return "\(label): body: \(problem)" }
        for (name, text) in [("severity_text", log.severityText), ("event_name", log.eventName)]
        where text.utf8.count > limits.attributes.maximumValueBytes {
            return "\(label): \(name) of \(text.utf8.count) bytes; at most \(limits.attributes.maximumValueBytes)"
        }
        if let enclosing { return "\(label): \(enclosing)" }
        if (log.eventName.isEmpty ? Attributes.lookup(["event.name"], in: log.attributes) : log.eventName) == BanditDecision.eventName,
            let problem = BanditDecision.problem(log.attributes, resource: resource, limits: limits.attributes)
        {
            return "\(label): \(BanditDecision.eventName): \(problem)"
        }
        return nil
    }

    static func body(_ log: Opentelemetry_Proto_Logs_V1_LogRecord) -> String? {
        guard log.hasBody, let value = log.body.value else { return nil }
        if case .stringValue(let text) = value { return text }
        var w = JSONWriter()
        Attributes.value(log.body, into: &w)
        return w.string
    }
}
