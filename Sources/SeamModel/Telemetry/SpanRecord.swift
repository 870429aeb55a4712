/// A validated span: one future row of `lake.spans`. Times are microseconds since
/// 1970-01-01 UTC (PostgreSQL's precision), truncated from OTLP's nanoseconds.
public struct SpanRecord: Sendable, Equatable, Codable {
    public var traceID: [UInt8]
    public var spanID: [UInt8]
    public var parentSpanID: [UInt8]?
    public var traceState: String?
    public var name: String
    public var kind: Int16
    public var serviceName: String?
    public var startMicros: Int64
    public var endMicros: Int64
    public var statusCode: Int16
    public var statusMessage: String?
    public var sessionID: String?
    public var userID: String?
    public var httpRoute: String?
    public var httpMethod: String?
    public var httpStatusCode: Int32?
    public var scopeName: String?
    public var scopeVersion: String?
    /// JSON object text.
    public var attributes: String
    /// JSON object text.
    public var resource: String
    /// JSON array text.
    public var events: String
    /// JSON array text.
    public var links: String
    public var receivedMicros: Int64

    public init(
        traceID: [UInt8], spanID: [UInt8], parentSpanID: [UInt8]? = nil, traceState: String? = nil, name: String, kind: Int16 = 0,
        serviceName: String? = nil, startMicros: Int64, endMicros: Int64, statusCode: Int16 = 0, statusMessage: String? = nil,
        sessionID: String? = nil, userID: String? = nil, httpRoute: String? = nil, httpMethod: String? = nil,
        httpStatusCode: Int32? = nil, scopeName: String? = nil, scopeVersion: String? = nil, attributes: String = "{}",
        resource: String = "{}", events: String = "[]", links: String = "[]", receivedMicros: Int64
    ) {
        self.traceID = traceID
        self.spanID = spanID
        self.parentSpanID = parentSpanID
        self.traceState = traceState
        self.name = name
        self.kind = kind
        self.serviceName = serviceName
        self.startMicros = startMicros
        self.endMicros = endMicros
        self.statusCode = statusCode
        self.statusMessage = statusMessage
        self.sessionID = sessionID
        self.userID = userID
        self.httpRoute = httpRoute
        self.httpMethod = httpMethod
        self.httpStatusCode = httpStatusCode
        self.scopeName = scopeName
        self.scopeVersion = scopeVersion
        self.attributes = attributes
        self.resource = resource
        self.events = events
        self.links = links
        self.receivedMicros = receivedMicros
    }
}

/// A validated OTLP log record: one future row of `lake.logs` (its `log_id` digest is
/// computed by the loader).
public struct LogRecordRow: Sendable, Equatable, Codable {
    public var timeMicros: Int64
    public var observedMicros: Int64?
    public var traceID: [UInt8]?
    public var spanID: [UInt8]?
    public var traceFlags: Int32?
    public var severityNumber: Int16?
    public var severityText: String?
    public var body: String?
    public var eventName: String?
    public var serviceName: String?
    public var sessionID: String?
    public var userID: String?
    public var flagKey: String?
    public var flagVariant: String?
    public var flagContextID: String?
    public var scopeName: String?
    /// JSON object text.
    public var attributes: String
    /// JSON object text.
    public var resource: String
    public var receivedMicros: Int64

    public init(
        timeMicros: Int64, observedMicros: Int64? = nil, traceID: [UInt8]? = nil, spanID: [UInt8]? = nil, traceFlags: Int32? = nil,
        severityNumber: Int16? = nil, severityText: String? = nil, body: String? = nil, eventName: String? = nil,
        serviceName: String? = nil, sessionID: String? = nil, userID: String? = nil, flagKey: String? = nil,
        flagVariant: String? = nil, flagContextID: String? = nil, scopeName: String? = nil, attributes: String = "{}",
        resource: String = "{}", receivedMicros: Int64
    ) {
        self.timeMicros = timeMicros
        self.observedMicros = observedMicros
        self.traceID = traceID
        self.spanID = spanID
        self.traceFlags = traceFlags
        self.severityNumber = severityNumber
        self.severityText = severityText
        self.body = body
        self.eventName = eventName
        self.serviceName = serviceName
        self.sessionID = sessionID
        self.userID = userID
        self.flagKey = flagKey
        self.flagVariant = flagVariant
        self.flagContextID = flagContextID
        self.scopeName = scopeName
        self.attributes = attributes
        self.resource = resource
        self.receivedMicros = receivedMicros
    }
}
