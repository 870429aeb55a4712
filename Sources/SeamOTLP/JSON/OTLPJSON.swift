import Foundation
import SeamModel

/// OTLP/HTTP JSON → the protobuf messages, following OTLP's JSON rules rather than
/// protobuf's: trace and span ids are hex (not base64), enums are integers, 64-bit integers
/// may be strings or numbers, keys are lowerCamelCase (snake_case accepted too), and
/// unknown fields are ignored.
public enum OTLPJSON {
    public static func traces(_ body: [UInt8]) throws(OTLPDecodeError) -> TraceExportRequest {
        var request = TraceExportRequest()
        request.resourceSpans = try walk(
            body, ("resourceSpans", "resource_spans"), ("scopeSpans", "scope_spans"), ("spans", "spans"), record: span
        ).map { resource in
            var resourceSpans = Opentelemetry_Proto_Trace_V1_ResourceSpans()
            resourceSpans.resource.attributes = resource.attributes
            resourceSpans.scopeSpans = resource.scopes.map { scope in
                var scopeSpans = Opentelemetry_Proto_Trace_V1_ScopeSpans()
                if let header = scope.header { scopeSpans.scope = header }
                scopeSpans.spans = scope.records
                return scopeSpans
            }
            return resourceSpans
        }
        return request
    }

    public static func logs(_ body: [UInt8]) throws(OTLPDecodeError) -> LogsExportRequest {
        var request = LogsExportRequest()
        request.resourceLogs = try walk(
            body, ("resourceLogs", "resource_logs"), ("scopeLogs", "scope_logs"), ("logRecords", "log_records"), record: logRecord
        ).map { resource in
            var resourceLogs = Opentelemetry_Proto_Logs_V1_ResourceLogs()
            resourceLogs.resource.attributes = resource.attributes
            resourceLogs.scopeLogs = resource.scopes.map { scope in
                var scopeLogs = Opentelemetry_Proto_Logs_V1_ScopeLogs()
                if let header = scope.header { scopeLogs.scope = header }
                scopeLogs.logRecords = scope.records
                return scopeLogs
            }
            return resourceLogs
        }
        return request
    }

    struct Resource<Record> {
        var attributes: [KeyValue]
        var scopes: [(header: Opentelemetry_Proto_Common_V1_InstrumentationScope?, records: [Record])]
    }

    /// The resource → scope → record nesting that traces and logs share; `keys` are the
    /// (lowerCamelCase, snake_case) names at each level.
    static func walk<Record>(
        _ body: [UInt8], _ resourceKey: (String, String), _ scopeKey: (String, String), _ recordKey: (String, String),
        record: (Any, String) throws(OTLPDecodeError) -> Record
    ) throws(OTLPDecodeError) -> [Resource<Record>] {
        let root = try object(body)
        var resources: [Resource<Record>] = []
        for (i, item) in try list(root, resourceKey.0, resourceKey.1, at: "").enumerated() {
            let path = "\(resourceKey.0)[\(i)]"
            let r = try dictionary(item, at: path)
            var resource = Resource<Record>(attributes: [], scopes: [])
            if let attributes = r["resource"] {
                resource.attributes = try self.attributes(dictionary(attributes, at: path + ".resource"), at: path + ".resource")
            }
            for (j, scopeItem) in try list(r, scopeKey.0, scopeKey.1, at: path).enumerated() {
                let scopePath = "\(path).\(scopeKey.0)[\(j)]"
                let sc = try dictionary(scopeItem, at: scopePath)
                let header = try sc["scope"].map { (value) throws(OTLPDecodeError) in try scope(value, at: scopePath + ".scope") }
                var records: [Record] = []
                for (k, recordItem) in try list(sc, recordKey.0, recordKey.1, at: scopePath).enumerated() {
                    records.append(try record(recordItem, "\(scopePath).\(recordKey.0)[\(k)]"))
                }
                resource.scopes.append((header, records))
            }
            resources.append(resource)
        }
        return resources
    }

    // MARK: Messages

    static func span(_ value: Any, at path: String) throws(OTLPDecodeError) -> Opentelemetry_Proto_Trace_V1_Span {
        let d = try dictionary(value, at: path)
        var span = Opentelemetry_Proto_Trace_V1_Span()
        span.traceID = try hexID(d, "traceId", "trace_id", at: path)
        span.spanID = try hexID(d, "spanId", "span_id", at: path)
        span.parentSpanID = try hexID(d, "parentSpanId", "parent_span_id", at: path)
        span.traceState = try string(d, "traceState", "trace_state", at: path) ?? ""
        span.name = try string(d, "name", "name", at: path) ?? ""
        span.kind = .init(rawValue: try enumeration(d, "kind", "kind", names: spanKinds, at: path)) ?? .unspecified
        span.startTimeUnixNano = UInt64(clamping: try integer(d, "startTimeUnixNano", "start_time_unix_nano", at: path) ?? 0)
        span.endTimeUnixNano = UInt64(clamping: try integer(d, "endTimeUnixNano", "end_time_unix_nano", at: path) ?? 0)
        span.flags = UInt32(truncatingIfNeeded: try integer(d, "flags", "flags", at: path) ?? 0)
        span.attributes = try attributes(d, at: path)
        for (i, item) in try list(d, "events", "events", at: path).enumerated() {
            let eventPath = "\(path).events[\(i)]"
            let e = try dictionary(item, at: eventPath)
            var event = Opentelemetry_Proto_Trace_V1_Span.Event()
            event.timeUnixNano = UInt64(clamping: try integer(e, "timeUnixNano", "time_unix_nano", at: eventPath) ?? 0)
            event.name = try string(e, "name", "name", at: eventPath) ?? ""
            event.attributes = try attributes(e, at: eventPath)
            span.events.append(event)
        }
        for (i, item) in try list(d, "links", "links", at: path).enumerated() {
            let linkPath = "\(path).links[\(i)]"
            let l = try dictionary(item, at: linkPath)
            var link = Opentelemetry_Proto_Trace_V1_Span.Link()
            link.traceID = try hexID(l, "traceId", "trace_id", at: linkPath)
            link.spanID = try hexID(l, "spanId", "span_id", at: linkPath)
            link.traceState = try string(l, "traceState", "trace_state", at: linkPath) ?? ""
            link.attributes = try attributes(l, at: linkPath)
            span.links.append(link)
        }
        if let statusValue = d["status"] {
            let s = try dictionary(statusValue, at: path + ".status")
            span.status.message = try string(s, "message", "message", at: path + ".status") ?? ""
            span.status.code = .init(rawValue: try enumeration(s, "code", "code", names: statusCodes, at: path + ".status")) ?? .unset
        }
        return span
    }

    static func logRecord(_ value: Any, at path: String) throws(OTLPDecodeError) -> Opentelemetry_Proto_Logs_V1_LogRecord {
        let d = try dictionary(value, at: path)
        var log = Opentelemetry_Proto_Logs_V1_LogRecord()
        log.timeUnixNano = UInt64(clamping: try integer(d, "timeUnixNano", "time_unix_nano", at: path) ?? 0)
        log.observedTimeUnixNano = UInt64(clamping: try integer(d, "observedTimeUnixNano", "observed_time_unix_nano", at: path) ?? 0)
        log.severityNumber = .init(rawValue: try enumeration(d, "severityNumber", "severity_number", names: severities, at: path)) ?? .unspecified
        log.severityText = try string(d, "severityText", "severity_text", at: path) ?? ""
        if let body = d["body"] { log.body = try anyValue(body, at: path + ".body") }
        log.attributes = try attributes(d, at: path)
        log.flags = UInt32(truncatingIfNeeded: try integer(d, "flags", "flags", at: path) ?? 0)
        log.traceID = try hexID(d, "traceId", "trace_id", at: path)
        log.spanID = try hexID(d, "spanId", "span_id", at: path)
        log.eventName = try string(d, "eventName", "event_name", at: path) ?? ""
        return log
    }

    static func scope(_ value: Any, at path: String) throws(OTLPDecodeError) -> Opentelemetry_Proto_Common_V1_InstrumentationScope {
        let d = try dictionary(value, at: path)
        var scope = Opentelemetry_Proto_Common_V1_InstrumentationScope()
        scope.name = try string(d, "name", "name", at: path) ?? ""
        scope.version = try string(d, "version", "version", at: path) ?? ""
        scope.attributes = try attributes(d, at: path)
        return scope
    }

    static func attributes(_ d: [String: Any], at path: String) throws(OTLPDecodeError) -> [KeyValue] {
        var result: [KeyValue] = []
        for (i, item) in try list(d, "attributes", "attributes", at: path).enumerated() {
            result.append(try keyValue(item, at: "\(path).attributes[\(i)]"))
        }
        return result
    }

    static func keyValue(_ value: Any, at path: String) throws(OTLPDecodeError) -> KeyValue {
        let d = try dictionary(value, at: path)
        var kv = KeyValue()
        guard let key = try string(d, "key", "key", at: path) else { throw OTLPDecodeError("\(path).key: required") }
        kv.key = key
        if let v = d["value"] { kv.value = try anyValue(v, at: path + ".value") }
        return kv
    }

    static func anyValue(_ value: Any, at path: String) throws(OTLPDecodeError) -> AnyValue {
        let d = try dictionary(value, at: path)
        var any = AnyValue()
        if let v = field(d, "stringValue", "string_value") {
            guard let s = v as? String else { throw OTLPDecodeError("\(path).stringValue: must be a string") }
            any.stringValue = s
        } else if let v = field(d, "boolValue", "bool_value") {
            guard JSONValues.isBoolean(v), let b = v as? Bool else {
                throw OTLPDecodeError("\(path).boolValue: must be true or false")
            }
            any.boolValue = b
        } else if field(d, "intValue", "int_value") != nil {
            any.intValue = try integer(d, "intValue", "int_value", at: path) ?? 0
        } else if let v = field(d, "doubleValue", "double_value") {
            if let n = JSONValues.number(v) {
                any.doubleValue = n.doubleValue
            } else if let s = v as? String, let x = Double(s) {
                any.doubleValue = x  // "NaN", "Infinity" per proto3 JSON
            } else {
                throw OTLPDecodeError("\(path).doubleValue: must be a number")
            }
        } else if let v = field(d, "bytesValue", "bytes_value") {
            guard let s = v as? String, let data = Data(base64Encoded: s) else {
                throw OTLPDecodeError("\(path).bytesValue: must be base64")
            }
            any.bytesValue = data
        } else if let v = field(d, "arrayValue", "array_value") {
            let a = try dictionary(v, at: path + ".arrayValue")
            var array = Opentelemetry_Proto_Common_V1_ArrayValue()
            for (i, item) in try list(a, "values", "values", at: path + ".arrayValue").enumerated() {
                array.values.append(try anyValue(item, at: "\(path).arrayValue.values[\(i)]"))
            }
            any.arrayValue = array
        } else if let v = field(d, "kvlistValue", "kvlist_value") {
            let m = try dictionary(v, at: path + ".kvlistValue")
            var map = Opentelemetry_Proto_Common_V1_KeyValueList()
            for (i, item) in try list(m, "values", "values", at: path + ".kvlistValue").enumerated() {
                map.values.append(try keyValue(item, at: "\(path).kvlistValue.values[\(i)]"))
            }
            any.kvlistValue = map
        }
        return any
    }

    // MARK: Helpers

    static func object(_ body: [UInt8]) throws(OTLPDecodeError) -> [String: Any] {
        if let problem = JSONDepth.problem(body) { throw OTLPDecodeError(problem) }
        let value: Any
        do {
            value = try JSONSerialization.jsonObject(with: Data(body), options: [])
        } catch {
            throw OTLPDecodeError("body is not valid JSON")
        }
        guard let object = value as? [String: Any] else { throw OTLPDecodeError("body must be a JSON object") }
        return object
    }

    static func field(_ d: [String: Any], _ camel: String, _ snake: String) -> Any? {
        guard let value = d[camel] ?? d[snake], !(value is NSNull) else { return nil }
        return value
    }

    static func dictionary(_ value: Any, at path: String) throws(OTLPDecodeError) -> [String: Any] {
        guard let d = value as? [String: Any] else { throw OTLPDecodeError("\(path.isEmpty ? "body" : path): must be an object") }
        return d
    }

    static func list(_ d: [String: Any], _ camel: String, _ snake: String, at path: String) throws(OTLPDecodeError) -> [Any] {
        guard let value = field(d, camel, snake) else { return [] }
        guard let array = value as? [Any] else {
            throw OTLPDecodeError("\(path.isEmpty ? "" : path + ".")\(camel): must be an array")
        }
        return array
    }

    static func string(_ d: [String: Any], _ camel: String, _ snake: String, at path: String) throws(OTLPDecodeError) -> String? {
        guard let value = field(d, camel, snake) else { return nil }
        guard let s = value as? String else { throw OTLPDecodeError("\(path).\(camel): must be a string") }
        return s
    }

    static let spanKinds = ["SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER", "SPAN_KIND_CLIENT", "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER"]
    static let statusCodes = ["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"]
    static let severities = ["SEVERITY_NUMBER_UNSPECIFIED"] + ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"].flatMap { level in
        ["", "2", "3", "4"].map { "SEVERITY_NUMBER_\(level)\($0)" }
    }

    /// OTLP JSON sends enums as integers; generic protobuf JSON writers send their names, which are accepted too.
    static func enumeration(_ d: [String: Any], _ camel: String, _ snake: String, names: [String], at path: String) throws(OTLPDecodeError) -> Int {
        if let name = field(d, camel, snake) as? String, Int64(name) == nil {
            guard let index = names.firstIndex(of: name) else {
                throw OTLPDecodeError("\(path).\(camel): unknown value \"\(name)\"")
            }
            return index
        }
        return Int(clamping: try integer(d, camel, snake, at: path) ?? 0)
    }

    /// 64-bit integers arrive as decimal strings or as JSON numbers.
    static func integer(_ d: [String: Any], _ camel: String, _ snake: String, at path: String) throws(OTLPDecodeError) -> Int64? {
        guard let value = field(d, camel, snake) else { return nil }
        if let s = value as? String {
            if let i = Int64(s) { return i }
            if let u = UInt64(s) { return Int64(bitPattern: u) }
            throw OTLPDecodeError("\(path).\(camel): \"\(s)\" is not an integer")
        }
        if let n = JSONValues.number(value) {
            let d = n.doubleValue
            if d == d.rounded(), abs(d) < 9.2e18 { return n.int64Value }
        }
        throw OTLPDecodeError("\(path).\(camel): must be an integer (number or decimal string)")
    }

    /// Trace and span ids are hex in OTLP JSON. Malformed hex is kept as its raw characters,
    /// so validation refuses just that record, naming the length.
    static func hexID(_ d: [String: Any], _ camel: String, _ snake: String, at path: String) throws(OTLPDecodeError) -> Data {
        guard let value = field(d, camel, snake) else { return Data() }
        guard let s = value as? String else { throw OTLPDecodeError("\(path).\(camel): must be a hex string") }
        if s.isEmpty { return Data() }
        if s.count % 2 == 0, let bytes = hexBytes(s) { return Data(bytes) }
        return Data(s.utf8)
    }

    static func hexBytes(_ s: String) -> [UInt8]? {
        let utf8 = Array(s.utf8)
        var out = [UInt8]()
        out.reserveCapacity(utf8.count / 2)
        var i = 0
        while i + 1 < utf8.count {
            guard let hi = TraceIDs.nibble(utf8[i]), let lo = TraceIDs.nibble(utf8[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }
}
