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
        if let problem = JSONDepth.problem(body) { throw BatchError(reason: problem) }
        let root: Any
        do {
            root = try JSONSerialization.jsonObject(with: Data(body), options: [])
        } catch {
            throw BatchError(reason: "body is not valid JSON")
        }
        guard let object = root as? [String: Any] else {
            throw BatchError(reason: "body must be a JSON object {\"events\": [...]}")
        }
        guard let events = object["events"] as? [Any] else {
            throw BatchError(reason: "events: required, must be an array of event objects")
        }
        guard events.count <= configuration.maximumEvents else {
            throw BatchError(reason: "events: \(events.count) events in one batch; at most \(configuration.maximumEvents)")
        }
        var batchSentAt: Date?
        if let value = object["sent_at"] {
            switch timestamp(value) {
            case .success(let date): batchSentAt = date
            case .failure(let reason): throw BatchError(reason: "sent_at: \(reason.text)")
            }
        }
        var batch = Batch(accepted: [], rejected: [])
        // Each event's own bytes, kept with its record (nil when they cannot be told apart).
        let slices = JSONSlices.arrayElements(of: "events", in: body).flatMap { $0.count == events.count ? $0 : nil }
        for (index, element) in events.enumerated() {
            guard let event = element as? [String: Any] else {
                batch.rejected.append(TagEventRejection(index: index, eventID: nil, reason: "event must be a JSON object"))
                continue
            }
            switch record(event, batchSentAt: batchSentAt, receivedAt: receivedAt, source: source) {
            case .success(var record):
                record.clientJSON = slices.map { Array(body[$0[index]]) }
                batch.accepted.append(record)
            case .failure(let reason):
                batch.rejected.append(TagEventRejection(index: index, eventID: event["event_id"] as? String, reason: reason.text))
            }
        }
        return batch
    }

    struct Reason: Error {
        var text: String
        init(_ text: String) { self.text = text }
    }

    private func record(_ event: [String: Any], batchSentAt: Date?, receivedAt: Date, source: String?) -> Result<TagEventRecord, Reason> {
        Result {
            guard let rawID = event["event_id"] else { throw Reason("event_id: required (a UUID chosen by the client)") }
            guard let idText = rawID as? String, let eventID = UUID(uuidString: idText) else {
                throw Reason("event_id: must be a UUID string, got \(describe(rawID))")
            }
            guard let name = event["name"] as? String, !name.isEmpty else {
                throw Reason("name: required, a non-empty string")
            }
            guard name.utf8.count <= configuration.maximumIdentifierLength else {
                throw Reason("name: longer than \(configuration.maximumIdentifierLength) bytes")
            }
            let clientTimestamp = try optionalTime(event, "timestamp")
            let sentAt = try optionalTime(event, "sent_at") ?? batchSentAt
            let sessionID = try optionalIdentifier(event, "session_id")
            let anonymousID = try optionalIdentifier(event, "anonymous_id")
            let userID = try optionalIdentifier(event, "user_id")
            guard sessionID != nil || anonymousID != nil || userID != nil else {
                throw Reason("session_id, anonymous_id, user_id: at least one is required to attribute the event")
            }

            var traceID: [UInt8]?
            var parentSpanID: [UInt8]?
            if let value = event["traceparent"] {
                guard let text = value as? String else { throw Reason("traceparent: must be a string") }
                switch TraceParent.parse(text) {
                case .success(let parent):
                    traceID = parent.traceID
                    parentSpanID = parent.parentSpanID
                case .failure(let error): throw Reason("traceparent: \(error.reason)")
                }
            }
            if let value = event["trace_id"] {
                guard let text = value as? String, let id = TraceIDs.traceID(hex: text) else {
                    throw Reason("trace_id: must be 32 hex digits, not all zero")
                }
                if let traceID, traceID != id { throw Reason("trace_id: differs from the trace id in traceparent") }
                traceID = id
            }

            var page: [String: Any] = [:]
            if let value = event["page"] {
                guard let object = value as? [String: Any] else { throw Reason("page: must be an object") }
                page = object
            }
            func pageField(_ key: String) throws -> String? {
                guard let value = page[key] else { return nil }
                guard let text = value as? String else { throw Reason("page.\(key): must be a string") }
                return text
            }
            let properties = try objectText(event, "properties")
            let context = try objectText(event, "context")

            var occurredAt = clientTimestamp ?? receivedAt
            if let clientTimestamp, let sentAt {
                // Both lie in Timestamps' range, so the difference is finite; the corrected
                // time may not be, and is checked before it is formatted or stored.
                occurredAt = receivedAt.addingTimeInterval(-sentAt.timeIntervalSince(clientTimestamp))
                guard Timestamps.isAccepted(occurredAt) else {
                    throw Reason("timestamp, sent_at: the corrected time (received_at - (sent_at - timestamp)) lies outside \(Timestamps.rangeDescription)")
                }
            }
            if occurredAt.timeIntervalSince(receivedAt) > configuration.maximumFuture {
                throw Reason("timestamp: \(RFC3339.format(occurredAt)) lies in the future; send sent_at so Seam can correct the client clock")
            }
            if let maximumAge = configuration.maximumAge, receivedAt.timeIntervalSince(occurredAt) > maximumAge {
                throw Reason("timestamp: \(RFC3339.format(occurredAt)) is older than the lake's retention (\(Int(maximumAge / 86_400)) days)")
            }
            return TagEventRecord(
                eventID: eventID, name: name, occurredAt: occurredAt, clientTimestamp: clientTimestamp, sentAt: sentAt,
                receivedAt: receivedAt, sessionID: sessionID, anonymousID: anonymousID, userID: userID, traceID: traceID,
                parentSpanID: parentSpanID, pageURL: try pageField("url"), pagePath: try pageField("path"),
                pageReferrer: try pageField("referrer"), pageTitle: try pageField("title"), properties: properties,
                context: context, source: source)
        }.mapError { ($0 as? Reason) ?? Reason("\($0)") }
    }

    private func optionalTime(_ event: [String: Any], _ key: String) throws -> Date? {
        guard let value = event[key], !(value is NSNull) else { return nil }
        switch timestamp(value) {
        case .success(let date): return date
        case .failure(let reason): throw Reason("\(key): \(reason.text)")
        }
    }

    private func timestamp(_ value: Any) -> Result<Date, Reason> {
        if let text = value as? String {
            guard let date = RFC3339.parse(text) else {
                return .failure(Reason("must be an RFC 3339 timestamp like 2026-11-21T12:00:00.000Z, got \"\(text)\""))
            }
            return .success(date)
        }
        if let number = JSONValues.number(value) {
            // Epoch milliseconds; checked before any arithmetic that could overflow.
            guard let date = Timestamps.date(epochMilliseconds: number.doubleValue) else {
                return .failure(Reason("epoch milliseconds \(number) lie outside \(Timestamps.rangeDescription)"))
            }
            return .success(date)
        }
        return .failure(Reason("must be an RFC 3339 string or epoch milliseconds"))
    }

    private func optionalIdentifier(_ event: [String: Any], _ key: String) throws -> String? {
        guard let value = event[key], !(value is NSNull) else { return nil }
        guard let text = value as? String else { throw Reason("\(key): must be a string") }
        guard !text.isEmpty else { return nil }
        guard text.utf8.count <= configuration.maximumIdentifierLength else {
            throw Reason("\(key): longer than \(configuration.maximumIdentifierLength) bytes")
        }
        return text
    }

    private func objectText(_ event: [String: Any], _ key: String) throws -> String {
        guard let value = event[key], !(value is NSNull) else { return "{}" }
        guard value is [String: Any] else { throw Reason("\(key): must be an object") }
        guard let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]) else {
            throw Reason("\(key): cannot be represented as JSON")
        }
        return String(decoding: data, as: UTF8.self)
    }

    private func describe(_ value: Any) -> String {
        if let text = value as? String { return "\"\(text.prefix(60))\"" }
        return String(describing: type(of: value))
    }
}
