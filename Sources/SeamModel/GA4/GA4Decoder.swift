import Foundation

/// The GA4 Measurement Protocol (`/mp/collect`, as gtag's server-side senders, ga4mp and
/// Firebase's senders speak it) into tag event records, with GA4's documented limits.
///
/// Mapping (`lake.tag_events`, `protocol = 'ga4'`, `call_type = 'event'`), one row per event:
/// - `client_id` (web) or `app_instance_id` (app) → `anonymous_id`; `user_id` → `user_id`;
/// - the event's `name` and `params` (as sent) → `name` and `properties`;
///   `params.session_id` → `session_id`; `page_location`, `page_referrer`, `page_title` →
///   the page columns;
/// - `user_properties` → `traits`; the stream id and the request's `device`,
///   `user_location`, `consent` and `ip_override` → `context`;
/// - the event's `timestamp_micros`, else the request's, else the receive time → `occurred_at`
///   (GA4 sends no clock at sending, so there is no skew correction).
///
/// GA4 sends no event ids. The event id is derived from the request: the stream, the ids,
/// the event's position, its bytes and its time. When the client set `timestamp_micros`
/// a retried request is therefore stored once; without it, the receive time is part of
/// the id, and a retry is a new event (as in GA4 itself).
public struct GA4Decoder: Sendable {
    public struct Configuration: Sendable {
        /// GA4's limits (Measurement Protocol, "Limitations").
        public var maximumEvents = 25
        public var maximumParameters = 25
        public var maximumUserProperties = 25
        public var maximumEventNameLength = 40
        public var maximumParameterNameLength = 40
        public var maximumParameterValueLength = 100
        public var maximumUserPropertyNameLength = 24
        public var maximumUserPropertyValueLength = 36
        public var maximumItemCustomParameters = 10
        /// The post body must be smaller than 130 kB.
        public var maximumBodyBytes = 130_000
        /// Events may be backdated by 72 hours.
        public var maximumBackdating: TimeInterval = 72 * 3600
        /// The limits shared with Seam's own tag events (id lengths, future times, retention).
        public var events: TagEventDecoder.Configuration

        public init(events: TagEventDecoder.Configuration = .init()) {
            self.events = events
        }
    }

    /// One message of `/debug/mp/collect`'s answer, as GA4 words them.
    public struct ValidationMessage: Error, Sendable, Equatable {
        public var fieldPath: String
        public var description: String
        /// GA4's codes: VALUE_INVALID, VALUE_REQUIRED, NAME_INVALID, NAME_RESERVED,
        /// VALUE_OUT_OF_BOUNDS, EXCEEDED_MAX_ENTITIES, NAME_DUPLICATED.
        public var validationCode: String
    }

    /// What a request gave.
    public struct Outcome: Sendable {
        public var accepted: [TagEventRecord] = []
        /// Refused events (index) or the whole request (index nil), with the reason.
        public var rejected: [(index: Int?, reason: String, payload: [UInt8])] = []
        /// Every problem found, for the debug endpoint.
        public var messages: [ValidationMessage] = []
    }

    /// The stream the request names in its query (`measurement_id` or `firebase_app_id`).
    public struct Stream: Sendable {
        public var measurementID: String?
        public var firebaseAppID: String?
        public init(measurementID: String?, firebaseAppID: String?) {
            self.measurementID = measurementID
            self.firebaseAppID = firebaseAppID
        }
        var id: String { measurementID ?? firebaseAppID ?? "" }
    }

    public let configuration: Configuration

    public init(configuration: Configuration = .init()) {
        self.configuration = configuration
    }

    static let reservedEventNames: Set<String> = [
        "ad_activeview", "ad_click", "ad_exposure", "ad_query", "ad_reward", "adunit_exposure", "app_background",
        "app_clear_data", "app_exception", "app_remove", "app_store_refund", "app_store_subscription_cancel",
        "app_store_subscription_convert", "app_store_subscription_renew", "app_update", "app_upgrade", "dynamic_link_app_open",
        "dynamic_link_app_update", "dynamic_link_first_open", "error", "firebase_campaign", "firebase_in_app_message_action",
        "firebase_in_app_message_dismiss", "firebase_in_app_message_impression", "first_open", "first_visit", "in_app_purchase",
        "notification_dismiss", "notification_foreground", "notification_open", "notification_receive", "os_update",
        "session_start", "session_start_with_rollout", "user_engagement",
    ]
    static let reservedUserProperties: Set<String> = [
        "first_open_time", "first_visit_time", "last_deep_link_referrer", "user_id", "first_open_after_install",
    ]
    static let reservedPrefixes = ["google_", "ga_", "firebase_"]
    static let standardItemParameters: Set<String> = [
        "item_id", "item_name", "affiliation", "coupon", "discount", "index", "item_brand", "item_category", "item_category2",
        "item_category3", "item_category4", "item_category5", "item_list_id", "item_list_name", "item_variant", "location_id",
        "price", "quantity", "promotion_id", "promotion_name", "creative_name", "creative_slot",
    ]

    /// Reads and validates one request. Nothing here throws: every problem is a message
    /// (and a refusal of the event or, for the request's own fields, of every event).
    public func decode(_ body: [UInt8], stream: Stream, receivedAt: Date, source: String?) -> Outcome {
        var outcome = Outcome()
        func refuseRequest(_ message: ValidationMessage) {
            outcome.messages.append(message)
            outcome.rejected = [(nil, "\(message.fieldPath): \(message.description)", body)]
            outcome.accepted = []
        }
        guard stream.measurementID != nil || stream.firebaseAppID != nil else {
            refuseRequest(.init(fieldPath: "measurement_id", description: "measurement_id (web) or firebase_app_id (app) is required in the query", validationCode: "VALUE_REQUIRED"))
            return outcome
        }
        guard body.count < configuration.maximumBodyBytes else {
            refuseRequest(.init(fieldPath: "", description: "the post body must be smaller than \(configuration.maximumBodyBytes) bytes; it has \(body.count)", validationCode: "VALUE_OUT_OF_BOUNDS"))
            return outcome
        }
        let tape: JSONTape
        do {
            tape = try JSONTape.parse(body)
        } catch {
            refuseRequest(.init(fieldPath: "", description: error.reason, validationCode: "VALUE_INVALID"))
            return outcome
        }
        let root = tape.root
        guard root.kind == .object else {
            refuseRequest(.init(fieldPath: "", description: "the body must be a JSON object", validationCode: "VALUE_INVALID"))
            return outcome
        }
        let fields = EventFields(configuration: configuration.events)
        var request = RequestFields()
        var requestProblems: [ValidationMessage] = []
        readRequest(root, stream: stream, fields: fields, into: &request, problems: &requestProblems)
        let events = root["events"]
        if events == nil || events?.kind != .array || events?.count == 0 {
            requestProblems.append(.init(fieldPath: "events", description: "events: required, an array of 1 to \(configuration.maximumEvents) events", validationCode: "VALUE_REQUIRED"))
        }
        if let first = requestProblems.first {
            refuseRequest(first)
            outcome.messages = requestProblems
            return outcome
        }
        let context = self.context(root, stream: stream)
        for (index, event) in (events?.elements ?? []).enumerated() {
            var problems: [ValidationMessage] = []
            var parts = EventParts()
            if index >= configuration.maximumEvents {
                problems.append(.init(fieldPath: "events", description: "a request can have at most \(configuration.maximumEvents) events", validationCode: "EXCEEDED_MAX_ENTITIES"))
            } else {
                parts = validateEvent(event, index: index, problems: &problems)
            }
            if problems.isEmpty {
                do {
                    // Appended as made: binding it first would copy every field once more.
                    outcome.accepted.append(
                        try self.record(event, parts: parts, index: index, request: request, stream: stream, context: context, fields: fields, receivedAt: receivedAt, source: source))
                    continue
                } catch {
                    problems.append(.init(fieldPath: "events[\(index)]", description: error.text, validationCode: "VALUE_INVALID"))
                }
            }
            outcome.messages += problems
            let reason = problems.map { "\($0.fieldPath): \($0.description)" }.joined(separator: "; ")
            outcome.rejected.append((index, reason, Array(event.bytes)))
        }
        return outcome
    }

    /// The request's own fields, read once for all its events.
    struct RequestFields {
        var anonymousID: String?
        var userID: String?
        var timestamp: Date?
        var userProperties: String?
    }

    private func readRequest(_ root: JSONTape.Value, stream: Stream, fields: EventFields, into request: inout RequestFields, problems: inout [ValidationMessage]) {
        let idField = stream.measurementID != nil ? "client_id" : "app_instance_id"
        do {
            request.anonymousID = try fields.identifier(root[idField], idField, numbers: true)
            if request.anonymousID == nil {
                problems.append(.init(fieldPath: idField, description: "\(idField) is required", validationCode: "VALUE_REQUIRED"))
            }
        } catch {
            problems.append(.init(fieldPath: idField, description: error.text, validationCode: "VALUE_INVALID"))
        }
        do {
            request.userID = try fields.identifier(root["user_id"], "user_id", numbers: true)
        } catch {
            problems.append(.init(fieldPath: "user_id", description: error.text, validationCode: "VALUE_INVALID"))
        }
        switch timestamp(root["timestamp_micros"], field: "timestamp_micros") {
        case .success(let date): request.timestamp = date
        case .failure(let message): problems.append(message)
        }
        if let properties = root["user_properties"], !properties.isNull {
            guard properties.kind == .object, properties.isStorable else {
                problems.append(.init(fieldPath: "user_properties", description: "user_properties must be an object", validationCode: "VALUE_INVALID"))
                return
            }
            if properties.count > configuration.maximumUserProperties {
                problems.append(.init(fieldPath: "user_properties", description: "at most \(configuration.maximumUserProperties) user properties", validationCode: "EXCEEDED_MAX_ENTITIES"))
            }
            for (name, value) in properties.members {
                let path = "user_properties.\(name)"
                if let problem = nameProblem(name, path: path, limit: configuration.maximumUserPropertyNameLength) {
                    problems.append(problem)
                } else if Self.reservedUserProperties.contains(name) {
                    problems.append(.init(fieldPath: path, description: "\(name) is a reserved user property name", validationCode: "NAME_RESERVED"))
                }
                // GA4 nests the value: {"name": {"value": …}}.
                let inner = value.kind == .object ? value["value"] : value
                if let inner, let length = inner.string?.unicodeScalars.count, length > configuration.maximumUserPropertyValueLength {
                    problems.append(.init(fieldPath: path, description: "user property values must be \(configuration.maximumUserPropertyValueLength) characters or fewer", validationCode: "VALUE_OUT_OF_BOUNDS"))
                }
            }
            request.userProperties = String(decoding: properties.bytes, as: UTF8.self)
        }
    }

    /// `timestamp_micros`: an integer (or its text), within the backdating window.
    private func timestamp(_ value: JSONTape.Value?, field: String) -> Result<Date?, ValidationMessage> {
        guard let value, !value.isNull else { return .success(nil) }
        let micros: Int64? = value.kind == .string ? value.string.flatMap { Int64($0, radix: 10) } : value.int64
        guard let micros, let date = Timestamps.date(epochMilliseconds: Double(micros) / 1000) else {
            return .failure(.init(fieldPath: field, description: "\(field) must be an integer count of microseconds since 1970", validationCode: "VALUE_INVALID"))
        }
        return .success(date)
    }

    /// GA4's rule for event, parameter and user property names: ASCII letters, digits and
    /// underscores, starting with a letter; `limit` characters at most; no reserved prefix.
    /// The path is built only for a problem (this runs for every parameter).
    private func nameProblem(_ name: String, path: @autoclosure () -> String, limit: Int) -> ValidationMessage? {
        func isLetter(_ b: UInt8) -> Bool { (b | 0x20) >= UInt8(ascii: "a") && (b | 0x20) <= UInt8(ascii: "z") }
        let utf8 = name.utf8
        guard let first = utf8.first, isLetter(first),
            utf8.allSatisfy({ isLetter($0) || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || $0 == UInt8(ascii: "_") })
        else {
            return .init(fieldPath: path(), description: "names may contain only letters, digits and underscores, and must start with a letter", validationCode: "NAME_INVALID")
        }
        if utf8.count > limit {
            return .init(fieldPath: path(), description: "names must be \(limit) characters or fewer", validationCode: "VALUE_OUT_OF_BOUNDS")
        }
        if first == UInt8(ascii: "g") || first == UInt8(ascii: "f"), Self.reservedPrefixes.contains(where: { name.hasPrefix($0) }) {
            return .init(fieldPath: path(), description: "the prefixes google_, ga_ and firebase_ are reserved", validationCode: "NAME_RESERVED")
        }
        return nil
    }

    /// What `record` reads of an event, found by `validateEvent`'s one pass over its
    /// parameters (the last member of a name counts, as with `JSONTape.Value`'s subscript).
    struct EventParts {
        var name = ""
        var params: JSONTape.Value?
        var sessionID: JSONTape.Value?
        var pageLocation: JSONTape.Value?
        var pageReferrer: JSONTape.Value?
        var pageTitle: JSONTape.Value?
    }

    private func validateEvent(_ event: JSONTape.Value, index: Int, problems: inout [ValidationMessage]) -> EventParts {
        var parts = EventParts()
        var path: String { "events[\(index)]" }
        guard event.kind == .object else {
            problems.append(.init(fieldPath: path, description: "an event must be a JSON object", validationCode: "VALUE_INVALID"))
            return parts
        }
        guard let name = event["name"]?.string else {
            problems.append(.init(fieldPath: "\(path).name", description: "name is required", validationCode: "VALUE_REQUIRED"))
            return parts
        }
        parts.name = name
        if let problem = nameProblem(name, path: "\(path).name", limit: configuration.maximumEventNameLength) {
            problems.append(problem)
        } else if Self.reservedEventNames.contains(name) {
            problems.append(.init(fieldPath: "\(path).name", description: "\(name) is a reserved event name", validationCode: "NAME_RESERVED"))
        }
        guard let params = event["params"], !params.isNull else { return parts }
        guard params.kind == .object else {
            problems.append(.init(fieldPath: "\(path).params", description: "params must be an object", validationCode: "VALUE_INVALID"))
            return parts
        }
        parts.params = params
        if params.count > configuration.maximumParameters {
            problems.append(.init(fieldPath: "\(path).params", description: "an event can have at most \(configuration.maximumParameters) parameters", validationCode: "EXCEEDED_MAX_ENTITIES"))
        }
        var hasValue = false
        var currency: JSONTape.Value?
        for (key, value) in params.members {
            if let problem = nameProblem(key, path: "\(path).params.\(key)", limit: configuration.maximumParameterNameLength) { problems.append(problem) }
            switch key {
            case "items":
                validateItems(value, path: "\(path).params.\(key)", problems: &problems)
            case "value", "engagement_time_msec":
                if key == "value" { hasValue = true }
                if value.kind != .number && !(value.kind == .string && value.string.flatMap(Double.init) != nil) {
                    problems.append(.init(fieldPath: "\(path).params.\(key)", description: "\(key) must be a number", validationCode: "VALUE_INVALID"))
                }
            default:
                switch key {
                case "currency": currency = value
                case "session_id": parts.sessionID = value
                case "page_location": parts.pageLocation = value
                case "page_referrer": parts.pageReferrer = value
                case "page_title": parts.pageTitle = value
                default: break
                }
                checkValue(value, path: "\(path).params.\(key)", problems: &problems)
            }
        }
        if hasValue, currency == nil {
            problems.append(.init(fieldPath: "\(path).params.currency", description: "currency is required when value is set", validationCode: "VALUE_REQUIRED"))
        }
        // ISO 4217 codes are three ASCII letters.
        if let currency,
            currency.string.map({ $0.utf8.count == 3 && $0.utf8.allSatisfy { ($0 | 0x20) >= UInt8(ascii: "a") && ($0 | 0x20) <= UInt8(ascii: "z") } }) != true
        {
            problems.append(.init(fieldPath: "\(path).params.currency", description: "currency must be a three-letter ISO 4217 code", validationCode: "VALUE_INVALID"))
        }
        if !params.isStorable {
            problems.append(.init(fieldPath: "\(path).params", description: "contains \\u0000 or an unpaired surrogate, which PostgreSQL cannot store", validationCode: "VALUE_INVALID"))
        }
        return parts
    }

    private func checkValue(_ value: JSONTape.Value, path: @autoclosure () -> String, problems: inout [ValidationMessage]) {
        // Characters are at most as many as UTF-8 bytes: count them only when the bytes could exceed.
        guard value.kind == .string, let bytes = value.stringByteCount, bytes > configuration.maximumParameterValueLength else { return }
        if let text = value.string, text.unicodeScalars.count > configuration.maximumParameterValueLength {
            problems.append(.init(fieldPath: path(), description: "parameter values must be \(configuration.maximumParameterValueLength) characters or fewer", validationCode: "VALUE_OUT_OF_BOUNDS"))
        }
    }

    private func validateItems(_ items: JSONTape.Value, path: String, problems: inout [ValidationMessage]) {
        guard items.kind == .array else {
            problems.append(.init(fieldPath: path, description: "items must be an array of objects", validationCode: "VALUE_INVALID"))
            return
        }
        for (i, item) in items.elements.enumerated() {
            guard item.kind == .object else {
                problems.append(.init(fieldPath: "\(path)[\(i)]", description: "an item must be an object", validationCode: "VALUE_INVALID"))
                continue
            }
            if item["item_id"] == nil && item["item_name"] == nil {
                problems.append(.init(fieldPath: "\(path)[\(i)]", description: "an item needs item_id or item_name", validationCode: "VALUE_REQUIRED"))
            }
            var custom = 0
            for (key, value) in item.members {
                if let problem = nameProblem(key, path: "\(path)[\(i)].\(key)", limit: configuration.maximumParameterNameLength) { problems.append(problem) }
                if !Self.standardItemParameters.contains(key) { custom += 1 }
                checkValue(value, path: "\(path)[\(i)].\(key)", problems: &problems)
            }
            if custom > configuration.maximumItemCustomParameters {
                problems.append(.init(fieldPath: "\(path)[\(i)]", description: "an item can have at most \(configuration.maximumItemCustomParameters) custom parameters", validationCode: "EXCEEDED_MAX_ENTITIES"))
            }
        }
    }

    /// The request's context for `lake.tag_events.context`: the stream id and the request
    /// fields about the device, place and consent, as sent.
    private func context(_ root: JSONTape.Value, stream: Stream) -> String {
        var w = JSONWriter(capacity: 128)
        w.byte(UInt8(ascii: "{"))
        if let id = stream.measurementID {
            w.raw(#""measurement_id":"#)
            w.quoted(id)
        } else if let id = stream.firebaseAppID {
            w.raw(#""firebase_app_id":"#)
            w.quoted(id)
        }
        for key in ["device", "user_location", "consent", "ip_override", "user_data"] {
            guard let value = root[key], !value.isNull, value.isStorable else { continue }
            w.byte(UInt8(ascii: ","))
            w.quoted(key)
            w.byte(UInt8(ascii: ":"))
            w.raw(json: value.bytes)
        }
        w.byte(UInt8(ascii: "}"))
        return w.string
    }

    private func record(
        _ event: JSONTape.Value, parts: EventParts, index: Int, request: RequestFields, stream: Stream, context: String, fields: EventFields,
        receivedAt: Date, source: String?
    ) throws(EventFieldError) -> TagEventRecord {
        let eventTime: Date?
        switch timestamp(event["timestamp_micros"], field: "timestamp_micros") {
        case .success(let date): eventTime = date
        case .failure(let message): throw EventFieldError("timestamp_micros: \(message.description)")
        }
        let clientTime = eventTime ?? request.timestamp
        if let clientTime, receivedAt.timeIntervalSince(clientTime) > configuration.maximumBackdating {
            throw EventFieldError("timestamp_micros: \(RFC3339.format(clientTime)) lies more than \(Int(configuration.maximumBackdating / 3600)) hours back; GA4 accepts events backdated by at most that")
        }
        let occurredAt = try fields.occurredAt(client: clientTime, sent: nil, received: receivedAt, fields: "timestamp_micros")
        // The id: what identifies this event in this request, and its time when the client
        // fixed it (else the receive time: a retry cannot be recognised).
        var key: [UInt8] = Array("ga4:".utf8)
        key.reserveCapacity(event.bytes.count + 96)
        func part(_ text: String) {
            key.append(contentsOf: text.utf8)
            key.append(0x1F)
        }
        part(stream.id)
        part(request.anonymousID ?? "")
        part(request.userID ?? "")
        part(String(index))
        key.append(clientTime == nil ? UInt8(ascii: "r") : UInt8(ascii: "t"))
        key.append(contentsOf: String(Timestamps.micros(clientTime ?? receivedAt)).utf8)
        key.append(0x1F)
        key.append(contentsOf: event.bytes)
        // `validateEvent` found params an object and storable.
        var record = TagEventRecord(
            eventID: MessageIDs.nameBased(utf8: key), name: parts.name, occurredAt: occurredAt, clientTimestamp: clientTime,
            receivedAt: receivedAt, sessionID: try fields.identifier(parts.sessionID, "params.session_id", numbers: true),
            anonymousID: request.anonymousID, userID: request.userID, pageURL: try fields.text(parts.pageLocation, "params.page_location"),
            pageReferrer: try fields.text(parts.pageReferrer, "params.page_referrer"),
            pageTitle: try fields.text(parts.pageTitle, "params.page_title"),
            properties: parts.params.map { String(decoding: $0.bytes, as: UTF8.self) } ?? "{}", context: context, source: source,
            clientJSON: Array(event.bytes))
        record.protocol = "ga4"
        record.callType = "event"
        record.traits = request.userProperties
        return record
    }
}
