import Foundation

/// Turns a `POST /v1/events` body into validated records and per-event rejections,
/// following `schemas/tag-event.v1.schema.json`.
///
/// Event time: Seam stamps `received_at` and corrects client clock skew. When the client
/// sent both `timestamp` and `sent_at` (its clock at sending), the event happened
/// `sent_at - timestamp` before Seam received the batch: `occurred_at = received_at -
/// (sent_at - timestamp)`. With `timestamp` alone, it is taken as is; with neither,
/// `occurred_at = received_at`.
public struct TagEventDecoder: Sendable {
    public struct Configuration: Sendable {
        /// Events per batch at most.
        public var maximumEvents: Int
        /// Events whose corrected time lies further ahead of `received_at` are refused.
        public var maximumFuture: TimeInterval
        /// Events older than this (by corrected time) are refused: they would fall outside the
        /// lake's retention. Nil accepts any age.
        public var maximumAge: TimeInterval?
        /// Longest accepted id (`session_id`, `anonymous_id`, `user_id`) and name, in UTF-8
        /// bytes: they become keys of indexed lake tables.
        public var maximumIdentifierLength: Int

        public init(
            maximumEvents: Int = 1000, maximumFuture: TimeInterval = 86_400, maximumAge: TimeInterval? = Double(Retention.defaultDays) * 86_400,
            maximumIdentifierLength: Int = 256
        ) {
            self.maximumEvents = maximumEvents
            self.maximumFuture = maximumFuture
            self.maximumAge = maximumAge
            self.maximumIdentifierLength = maximumIdentifierLength
        }
    }

    /// The outcome for one batch.
    public struct Batch: Sendable {
        public var accepted: [TagEventRecord]
        public var rejected: [TagEventRejection]
    }

    /// A body that is not a batch at all (the whole request is refused).
    public struct BatchError: Error, Sendable, Equatable {
        public var reason: String
    }

    public let configuration: Configuration

    public init(configuration: Configuration = .init()) {
        self.configuration = configuration
    }

    public func decode(_ body: [UInt8], receivedAt: Date, source: String?) throws(BatchError) -> Batch {
        let tape: JSONTape
        do {
            tape = try JSONTape.parse(body)
        } catch {
            throw BatchError(reason: error.reason)
        }
        let root = tape.root
        guard root.kind == .object else {
            throw BatchError(reason: "body must be a JSON object {\"events\": [...]}")
        }
        guard let events = root["events"], events.kind == .array else {
            throw BatchError(reason: "events: required, must be an array of event objects")
        }
        guard events.count <= configuration.maximumEvents else {
            throw BatchError(reason: "events: \(events.count) events in one batch; at most \(configuration.maximumEvents)")
        }
        let fields = EventFields(configuration: configuration)
        let batchSentAt: Date?
        do {
            batchSentAt = try fields.time(root["sent_at"], "sent_at")
        } catch {
            throw BatchError(reason: error.text)
        }
        var batch = Batch(accepted: [], rejected: [])
        batch.accepted.reserveCapacity(events.count)
        for (index, event) in events.elements.enumerated() {
            guard event.kind == .object else {
                batch.rejected.append(TagEventRejection(index: index, eventID: nil, reason: "event must be a JSON object"))
                continue
            }
            do {
                var record = try self.record(event, fields: fields, batchSentAt: batchSentAt, receivedAt: receivedAt, source: source)
                record.clientJSON = Array(event.bytes)
                batch.accepted.append(record)
            } catch {
                batch.rejected.append(TagEventRejection(index: index, eventID: event["event_id"]?.string, reason: error.text))
            }
        }
        return batch
    }

    private func record(
        _ event: JSONTape.Value, fields: EventFields, batchSentAt: Date?, receivedAt: Date, source: String?
    ) throws(EventFieldError) -> TagEventRecord {
        guard let rawID = event["event_id"] else { throw EventFieldError("event_id: required (a UUID chosen by the client)") }
        guard rawID.kind == .string, let eventID = UUIDText.parse(rawID.bytes.dropFirst().dropLast()) else {
            throw EventFieldError("event_id: must be a UUID string, got \(EventFields.quote(rawID))")
        }
        guard let name = try fields.text(event["name"], "name"), !name.isEmpty else {
            throw EventFieldError("name: required, a non-empty string")
        }
        guard name.utf8.count <= configuration.maximumIdentifierLength else {
            throw EventFieldError("name: longer than \(configuration.maximumIdentifierLength) bytes")
        }
        let clientTimestamp = try fields.time(event["timestamp"], "timestamp")
        let sentAt = try fields.time(event["sent_at"], "sent_at") ?? batchSentAt
        let sessionID = try fields.identifier(event["session_id"], "session_id")
        let anonymousID = try fields.identifier(event["anonymous_id"], "anonymous_id")
        let userID = try fields.identifier(event["user_id"], "user_id")
        guard sessionID != nil || anonymousID != nil || userID != nil else {
            throw EventFieldError("session_id, anonymous_id, user_id: at least one is required to attribute the event")
        }

        var traceID: [UInt8]?
        var parentSpanID: [UInt8]?
        if let value = event["traceparent"], !value.isNull {
            guard let text = value.string else { throw EventFieldError("traceparent: must be a string") }
            switch TraceParent.parse(text) {
            case .success(let parent):
                traceID = parent.traceID
                parentSpanID = parent.parentSpanID
            case .failure(let error): throw EventFieldError("traceparent: \(error.reason)")
            }
        }
        if let value = event["trace_id"], !value.isNull {
            guard let text = value.string, let id = TraceIDs.traceID(hex: text) else {
                throw EventFieldError("trace_id: must be 32 hex digits, not all zero")
            }
            if let traceID, traceID != id { throw EventFieldError("trace_id: differs from the trace id in traceparent") }
            traceID = id
        }

        let page = event["page"].flatMap { $0.isNull ? nil : $0 }
        if let page, page.kind != .object { throw EventFieldError("page: must be an object") }
        let occurredAt = try fields.occurredAt(client: clientTimestamp, sent: sentAt, received: receivedAt, fields: "timestamp, sent_at")
        return TagEventRecord(
            eventID: eventID, name: name, occurredAt: occurredAt, clientTimestamp: clientTimestamp, sentAt: sentAt,
            receivedAt: receivedAt, sessionID: sessionID, anonymousID: anonymousID, userID: userID, traceID: traceID,
            parentSpanID: parentSpanID, pageURL: try fields.text(page?["url"], "page.url"),
            pagePath: try fields.text(page?["path"], "page.path"), pageReferrer: try fields.text(page?["referrer"], "page.referrer"),
            pageTitle: try fields.text(page?["title"], "page.title"), properties: try fields.object(event["properties"], "properties") ?? "{}",
            context: try fields.object(event["context"], "context") ?? "{}", source: source)
    }
}
