import Foundation

/// The Segment tracking API (as analytics.js, analytics-python, the mobile SDKs and
/// RudderStack speak it) into tag event records.
///
/// Mapping (`lake.tag_events`, `protocol = 'segment'`, `call_type` the call):
/// - `track`: an event named by `event`, with its `properties`;
/// - `page` / `screen`: `page_view` / `screen_view`, `page_name` from `category` and `name`,
///   page fields from `properties` (url, path, referrer, title), else from `context.page`;
/// - `identify`: `identify`, with `traits` (or `context.traits`);
/// - `alias`: `alias`, `previous_id` = `previousId`, `user_id` = `userId`;
/// - `group`: `group`, `group_id` = `groupId`, with the group's `traits`.
///
/// `messageId` is the deduplication key (`MessageIDs`); a message without one gets a random
/// id (nothing to deduplicate on). Times: the client's `originalTimestamp` (else
/// `timestamp`) corrected by its clock at sending (`sentAt`, on the message or the batch),
/// as for Seam's own tag events. `context` and `integrations` are kept as sent.
///
/// Answers follow Segment's: a body that is not JSON or too large is refused whole (400);
/// a message that breaks a rule is refused alone, with its reason, and the request still
/// succeeds, since these SDKs do not read answers: refusals go to `lake.rejected`.
public struct SegmentDecoder: Sendable {
    public struct Configuration: Sendable {
        /// Bytes per message (a single call's body, or one message of a batch): Segment's 32 KB.
        public var maximumMessageBytes: Int
        /// Bytes per batch request: Segment's 500 KB.
        public var maximumBatchBytes: Int
        /// Messages per batch: Segment's 2,500; further messages are refused one by one.
        public var maximumBatchMessages: Int
        /// The limits shared with Seam's own tag events (ids, clock, retention).
        public var events: TagEventDecoder.Configuration

        public init(
            maximumMessageBytes: Int = 32 << 10, maximumBatchBytes: Int = 500 << 10, maximumBatchMessages: Int = 2500,
            events: TagEventDecoder.Configuration = .init()
        ) {
            self.maximumMessageBytes = maximumMessageBytes
            self.maximumBatchBytes = maximumBatchBytes
            self.maximumBatchMessages = maximumBatchMessages
            self.events = events
        }
    }

    /// Segment's call types.
    public enum Call: String, Sendable, CaseIterable {
        case track, page, screen, identify, alias, group
    }

    /// A request body read and checked as JSON, before its write key is known to be good.
    public struct Request: Sendable {
        let tape: JSONTape
        /// `writeKey` from the body (analytics.js sends it there, with `text/plain`).
        public let writeKey: String?
    }

    /// What a request gave.
    public struct Outcome: Sendable {
        public var accepted: [TagEventRecord] = []
        public var rejected: [Rejection] = []
    }

    /// A message refused alone.
    public struct Rejection: Sendable, Equatable {
        /// Position in the batch (0 for a single call).
        public var index: Int
        public var messageID: String?
        public var reason: String
        /// The message as the client sent it.
        public var payload: [UInt8]
    }

    /// A body refused whole (400).
    public struct BodyError: Error, Sendable, Equatable {
        public var reason: String
    }

    public let configuration: Configuration

    public init(configuration: Configuration = .init()) {
        self.configuration = configuration
    }

    /// Checks the body's size and syntax, and finds its write key. `call` nil: a batch.
    public func read(_ body: [UInt8], call: Call?) throws(BodyError) -> Request {
        let limit = call == nil ? configuration.maximumBatchBytes : configuration.maximumMessageBytes
        guard body.count <= limit else {
            throw BodyError(reason: "body: \(body.count) bytes; a \(call == nil ? "batch" : "message") may have at most \(limit) (Segment's limit)")
        }
        let tape: JSONTape
        do {
            tape = try JSONTape.parse(body)
        } catch {
            throw BodyError(reason: error.reason)
        }
        guard tape.root.kind == .object else { throw BodyError(reason: "body must be a JSON object") }
        return Request(tape: tape, writeKey: tape.root["writeKey"]?.string)
    }

    /// The records of a request read by `read`. `call` nil: a batch (`{"batch": [...]}`).
    public func decode(_ request: Request, call: Call?, receivedAt: Date, source: String?) throws(BodyError) -> Outcome {
        let root = request.tape.root
        let fields = EventFields(configuration: configuration.events)
        var outcome = Outcome()
        let batchSentAt: Date?
        do {
            batchSentAt = try fields.time(root["sentAt"], "sentAt")
        } catch {
            throw BodyError(reason: error.text)
        }
        guard let call else {
            guard let batch = root["batch"], batch.kind == .array else {
                throw BodyError(reason: "batch: required, an array of messages")
            }
            outcome.accepted.reserveCapacity(batch.count)
            let shared = Shared(context: root["context"], integrations: root["integrations"], sentAt: batchSentAt)
            for (index, message) in batch.elements.enumerated() {
                if index >= configuration.maximumBatchMessages {
                    outcome.rejected.append(
                        rejection(message, index: index, "batch: more than \(configuration.maximumBatchMessages) messages in one batch (Segment's limit)"))
                    continue
                }
                guard message.kind == .object else {
                    outcome.rejected.append(rejection(message, index: index, "batch[\(index)]: a message must be a JSON object"))
                    continue
                }
                guard message.bytes.count <= configuration.maximumMessageBytes else {
                    outcome.rejected.append(
                        rejection(message, index: index, "batch[\(index)]: \(message.bytes.count) bytes; a message may have at most \(configuration.maximumMessageBytes)"))
                    continue
                }
                guard let typeName = message["type"]?.string, let type = Call(rawValue: typeName) else {
                    outcome.rejected.append(
                        rejection(message, index: index, "type: required, one of \(Call.allCases.map(\.rawValue).joined(separator: ", "))"))
                    continue
                }
                take(message, call: type, index: index, shared: shared, fields: fields, receivedAt: receivedAt, source: source, into: &outcome)
            }
            return outcome
        }
        let shared = Shared(context: nil, integrations: nil, sentAt: batchSentAt)
        take(root, call: call, index: 0, shared: shared, fields: fields, receivedAt: receivedAt, source: source, into: &outcome)
        return outcome
    }

    /// What a batch gives every message that does not say otherwise.
    struct Shared {
        var context: JSONTape.Value?
        var integrations: JSONTape.Value?
        var sentAt: Date?
    }

    private func take(
        _ message: JSONTape.Value, call: Call, index: Int, shared: Shared, fields: EventFields, receivedAt: Date, source: String?,
        into outcome: inout Outcome
    ) {
        do {
            var record = try self.record(message, call: call, shared: shared, fields: fields, receivedAt: receivedAt, source: source)
            record.clientJSON = Array(message.bytes)
            outcome.accepted.append(record)
        } catch {
            outcome.rejected.append(rejection(message, index: index, error.text))
        }
    }

    private func rejection(_ message: JSONTape.Value, index: Int, _ reason: String) -> Rejection {
        Rejection(index: index, messageID: message["messageId"]?.string.map { String($0.prefix(100)) }, reason: reason, payload: Array(message.bytes))
    }

    private func record(
        _ m: JSONTape.Value, call: Call, shared: Shared, fields: EventFields, receivedAt: Date, source: String?
    ) throws(EventFieldError) -> TagEventRecord {
        let messageID = try fields.identifier(m["messageId"], "messageId")
        let anonymousID = try fields.identifier(m["anonymousId"], "anonymousId", numbers: true)
        let userID = try fields.identifier(m["userId"], "userId", numbers: true)
        let context = m["context"].flatMap { $0.isNull ? nil : $0 } ?? shared.context
        let integrations = m["integrations"].flatMap { $0.isNull ? nil : $0 } ?? shared.integrations

        var record = TagEventRecord(
            eventID: messageID.map { MessageIDs.eventID(protocol: "segment", messageID: $0) } ?? UUID(), name: "",
            occurredAt: receivedAt, receivedAt: receivedAt, anonymousID: anonymousID, userID: userID,
            properties: try fields.object(m["properties"], "properties") ?? "{}",
            context: try fields.object(context, "context") ?? "{}", source: source)
        record.protocol = "segment"
        record.callType = call.rawValue
        record.messageID = messageID
        record.integrations = try fields.object(integrations, "integrations")

        switch call {
        case .track:
            guard let event = try fields.text(m["event"], "event"), !event.isEmpty else {
                throw EventFieldError("event: required for a track call, the event's name")
            }
            guard event.utf8.count <= configuration.events.maximumIdentifierLength else {
                throw EventFieldError("event: longer than \(configuration.events.maximumIdentifierLength) bytes")
            }
            record.name = event
        case .page, .screen:
            record.name = call == .page ? "page_view" : "screen_view"
            let category = try fields.text(m["category"], "category")
            let name = try fields.text(m["name"], "name")
            let joined = [category, name].compactMap { $0?.isEmpty == false ? $0 : nil }.joined(separator: " ")
            record.pageName = joined.isEmpty ? nil : joined
            let properties = m["properties"]
            let page = context?["page"]
            func pageField(_ key: String) throws(EventFieldError) -> String? {
                if let value = try fields.text(properties?[key], "properties.\(key)") { return value }
                return try fields.text(page?[key], "context.page.\(key)")
            }
            record.pageURL = try pageField("url")
            record.pagePath = try pageField("path")
            record.pageReferrer = try pageField("referrer")
            record.pageTitle = try pageField("title")
        case .identify:
            record.name = "identify"
            let traits = try fields.object(m["traits"], "traits")
            let contextTraits = try fields.object(context?["traits"], "context.traits")
            record.traits = traits ?? contextTraits
        case .alias:
            record.name = "alias"
            guard let previous = try fields.identifier(m["previousId"], "previousId", numbers: true) else {
                throw EventFieldError("previousId: required for an alias call, the id the user was known by")
            }
            guard userID != nil else { throw EventFieldError("userId: required for an alias call, the id the user is known by now") }
            record.previousID = previous
        case .group:
            record.name = "group"
            guard let group = try fields.identifier(m["groupId"], "groupId", numbers: true) else {
                throw EventFieldError("groupId: required for a group call")
            }
            record.groupID = group
            record.traits = try fields.object(m["traits"], "traits")
        }
        guard anonymousID != nil || userID != nil else {
            throw EventFieldError("anonymousId, userId: at least one is required to attribute the message")
        }
        // `??` would erase the typed error: one field at a time.
        let original = try fields.time(m["originalTimestamp"], "originalTimestamp")
        let timestamp = try fields.time(m["timestamp"], "timestamp")
        record.clientTimestamp = original ?? timestamp
        record.sentAt = try fields.time(m["sentAt"], "sentAt") ?? shared.sentAt
        record.occurredAt = try fields.occurredAt(
            client: record.clientTimestamp, sent: record.sentAt, received: receivedAt, fields: "originalTimestamp (or timestamp), sentAt")
        return record
    }
}
