import Foundation
import SeamModel

@testable import SeamOTLP

/// The test oracle of the wire reader: OTLP export requests decoded by swift-protobuf and
/// mapped to `SpanRecord`s message by message. `WireTraceMapper` (what Seam runs) must give
/// the same records (`OTLPMappingTests`).
enum TraceMapper {
    static func map(_ request: TraceExportRequest, limits: RecordLimits) -> MappedBatch<SpanRecord> {
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
                    if let problem = problem(span, index: index, limits: limits) {
                        batch.refuse(problem)
                        continue
                    }
                    let traceID = [UInt8](span.traceID)
                    let spanID = [UInt8](span.spanID)
                    let parent = [UInt8](span.parentSpanID)
                    let start = micros(fromNanos: span.startTimeUnixNano)
                    let attributes = span.attributes
                    let typed = TypedAttributes(span: attributes, resource: resourceAttributes)
                    batch.records.append(
                        SpanRecord(
                            traceID: traceID, spanID: spanID, parentSpanID: parent.isEmpty || parent.isAllZero ? nil : parent,
                            traceState: span.traceState.isEmpty ? nil : span.traceState, name: span.name,
                            kind: Int16(clamping: span.kind.rawValue), serviceName: service, startMicros: start,
                            endMicros: micros(fromNanos: span.endTimeUnixNano), statusCode: Int16(clamping: span.status.code.rawValue),
                            statusMessage: span.status.message.isEmpty ? nil : span.status.message,
                            sessionID: typed.sessionID, userID: typed.userID, httpRoute: typed.httpRoute,
                            httpMethod: typed.httpMethod, httpStatusCode: typed.httpStatusCode,
                            scopeName: scope.name.isEmpty ? nil : scope.name, scopeVersion: scope.version.isEmpty ? nil : scope.version,
                            attributes: Attributes.json(attributes), resource: resourceJSON, events: events(span.events),
                            links: links(span.links), receivedMicros: limits.receivedMicros))
                    batch.accepted += 1
                }
            }
        }
        return batch
    }

    /// Counts the spans that pass validation without building records: the acknowledgement
    /// path needs only the verdict, the loader builds the records later.
    static func validate(_ request: TraceExportRequest, limits: RecordLimits) -> MappedBatch<SpanRecord> {
        var batch = MappedBatch<SpanRecord>()
        var index = 0
        for resourceSpans in request.resourceSpans {
            for scopeSpans in resourceSpans.scopeSpans {
                for span in scopeSpans.spans {
                    if let problem = problem(span, index: index, limits: limits) {
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

    /// Why `span` is refused, naming it; nil when it is valid.
    static func problem(_ span: Opentelemetry_Proto_Trace_V1_Span, index: Int, limits: RecordLimits) -> String? {
        OTLPWire.spanProblem(
            index: index, traceID: [UInt8](span.traceID), spanID: [UInt8](span.spanID), parentCount: span.parentSpanID.count,
            start: span.startTimeUnixNano, end: span.endTimeUnixNano, limits: limits)
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

/// The attributes Seam copies into typed span columns, found in one pass over the span's
/// attributes (the resource's serve as fallback for session and user). Newer semantic
/// convention names win over their older forms.
struct TypedAttributes {
    var sessionID: String?
    var userID: String?
    var httpRoute: String?
    var httpMethod: String?
    var httpStatusCode: Int32?

    init(span: [KeyValue], resource: [KeyValue]) {
        var legacyUser: String?
        var legacyMethod: String?
        var legacyStatus: String?
        var status: String?
        for kv in span {
            switch kv.key {
            case "session.id": sessionID = Attributes.text(kv.value)
            case "enduser.id": userID = Attributes.text(kv.value)
            case "user.id": legacyUser = Attributes.text(kv.value)
            case "http.route": httpRoute = Attributes.text(kv.value)
            case "http.request.method": httpMethod = Attributes.text(kv.value)
            case "http.method": legacyMethod = Attributes.text(kv.value)
            case "http.response.status_code": status = Attributes.text(kv.value)
            case "http.status_code": legacyStatus = Attributes.text(kv.value)
            default: break
            }
        }
        userID = userID ?? legacyUser
        httpMethod = httpMethod ?? legacyMethod
        httpStatusCode = (status ?? legacyStatus).flatMap { Int32($0) }
        if sessionID == nil { sessionID = Attributes.lookup(["session.id"], in: resource) }
        if userID == nil { userID = Attributes.lookup(["enduser.id", "user.id"], in: resource) }
    }
}
