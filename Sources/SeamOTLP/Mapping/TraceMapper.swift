import Foundation
import SeamModel

/// OTLP export requests → validated `SpanRecord`s.
///
/// Validation is deterministic: the loader re-runs it on the spooled request and gets the
/// same records the client was told were accepted.
public enum TraceMapper {
    public static func map(_ request: TraceExportRequest, limits: RecordLimits) -> MappedBatch<SpanRecord> {
        var batch = MappedBatch<SpanRecord>()
        var index = 0
        for resourceSpans in request.resourceSpans {
            let resourceAttributes = resourceSpans.resource.attributes
            let resourceJSON = Attributes.json(resourceAttributes)
            let service = Attributes.lookup(["service.name"], in: resourceAttributes)
            for scopeSpans in resourceSpans.scopeSpans {
                let scope = scopeSpans.scope
                for span in scopeSpans.spans {
                    defer { index += 1 }
                    let traceID = [UInt8](span.traceID)
                    let spanID = [UInt8](span.spanID)
                    let label = "span \(index) (trace_id \(TraceIDs.hex(traceID)), span_id \(TraceIDs.hex(spanID)))"
                    guard traceID.count == 16, !traceID.isAllZero else {
                        batch.refuse("\(label): trace_id must be 16 bytes, not all zero (got \(traceID.count) bytes)")
                        continue
                    }
                    guard spanID.count == 8, !spanID.isAllZero else {
                        batch.refuse("\(label): span_id must be 8 bytes, not all zero (got \(spanID.count) bytes)")
                        continue
                    }
                    let parent = [UInt8](span.parentSpanID)
                    guard parent.isEmpty || parent.count == 8 else {
                        batch.refuse("\(label): parent_span_id must be empty or 8 bytes (got \(parent.count))")
                        continue
                    }
                    guard span.startTimeUnixNano > 0 else {
                        batch.refuse("\(label): start_time_unix_nano is missing")
                        continue
                    }
                    guard span.endTimeUnixNano >= span.startTimeUnixNano else {
                        batch.refuse("\(label): end_time_unix_nano is before start_time_unix_nano")
                        continue
                    }
                    let start = micros(fromNanos: span.startTimeUnixNano)
                    if let problem = limits.problem(atMicros: start) {
                        batch.refuse("\(label): start_time_unix_nano \(problem)")
                        continue
                    }
                    let attributes = span.attributes
                    let statusCode = Attributes.lookup(["http.response.status_code", "http.status_code"], in: attributes)
                    batch.records.append(
                        SpanRecord(
                            traceID: traceID, spanID: spanID, parentSpanID: parent.isEmpty || parent.isAllZero ? nil : parent,
                            traceState: span.traceState.isEmpty ? nil : span.traceState, name: span.name,
                            kind: Int16(clamping: span.kind.rawValue), serviceName: service, startMicros: start,
                            endMicros: micros(fromNanos: span.endTimeUnixNano), statusCode: Int16(clamping: span.status.code.rawValue),
                            statusMessage: span.status.message.isEmpty ? nil : span.status.message,
                            sessionID: Attributes.lookup(["session.id"], in: attributes, resourceAttributes),
                            userID: Attributes.lookup(["enduser.id", "user.id"], in: attributes, resourceAttributes),
                            httpRoute: Attributes.lookup(["http.route"], in: attributes),
                            httpMethod: Attributes.lookup(["http.request.method", "http.method"], in: attributes),
                            httpStatusCode: statusCode.flatMap { Int32($0) },
                            scopeName: scope.name.isEmpty ? nil : scope.name, scopeVersion: scope.version.isEmpty ? nil : scope.version,
                            attributes: Attributes.json(attributes), resource: resourceJSON, events: events(span.events),
                            links: links(span.links), receivedMicros: limits.receivedMicros))
                }
            }
        }
        return batch
    }

    static func events(_ events: [Opentelemetry_Proto_Trace_V1_Span.Event]) -> String {
        guard !events.isEmpty else { return "[]" }
        var w = JSONWriter()
        w.byte(UInt8(ascii: "["))
        for (i, event) in events.enumerated() {
            if i > 0 { w.byte(UInt8(ascii: ",")) }
            w.raw("{\"time\":")
            w.quoted(RFC3339.format(Date(timeIntervalSince1970: Double(micros(fromNanos: event.timeUnixNano)) / 1_000_000)))
            w.raw(",\"name\":")
            w.quoted(event.name)
            w.raw(",\"attributes\":")
            Attributes.object(event.attributes, into: &w)
            w.byte(UInt8(ascii: "}"))
        }
        w.byte(UInt8(ascii: "]"))
        return w.string
    }

    static func links(_ links: [Opentelemetry_Proto_Trace_V1_Span.Link]) -> String {
        guard !links.isEmpty else { return "[]" }
        var w = JSONWriter()
        w.byte(UInt8(ascii: "["))
        for (i, link) in links.enumerated() {
            if i > 0 { w.byte(UInt8(ascii: ",")) }
            w.raw("{\"trace_id\":")
            w.quoted(TraceIDs.hex([UInt8](link.traceID)))
            w.raw(",\"span_id\":")
            w.quoted(TraceIDs.hex([UInt8](link.spanID)))
            w.raw(",\"trace_state\":")
            w.quoted(link.traceState)
            w.raw(",\"attributes\":")
            Attributes.object(link.attributes, into: &w)
            w.byte(UInt8(ascii: "}"))
        }
        w.byte(UInt8(ascii: "]"))
        return w.string
    }
}
