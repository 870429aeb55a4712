import Foundation

/// A validated, normalized tag event: one future row of `lake.tag_events`.
public struct TagEventRecord: Codable, Sendable, Equatable {
    public var eventID: UUID
    public var name: String
    /// Skew-corrected event time (see `TagEventDecoder`).
    public var occurredAt: Date
    public var clientTimestamp: Date?
    public var sentAt: Date?
    public var receivedAt: Date
    public var sessionID: String?
    public var anonymousID: String?
    public var userID: String?
    public var traceID: [UInt8]?
    public var parentSpanID: [UInt8]?
    public var pageURL: String?
    public var pagePath: String?
    public var pageReferrer: String?
    public var pageTitle: String?
    /// JSON object text.
    public var properties: String
    /// JSON object text.
    public var context: String
    /// Name of the ingestion token the batch came with.
    public var source: String?
    /// The event as the client sent it (its JSON object's bytes), kept for `lake.rejected`
    /// should PostgreSQL refuse the row; nil when unknown.
    public var clientJSON: [UInt8]?
    /// How it was posted: `seam`, `segment` or `ga4` (`lake.tag_events.protocol`).
    public var `protocol`: String = "seam"
    /// Segment call type (`track`, `page`, …), `event` for GA4; nil for Seam's own events.
    public var callType: String?
    /// The client's message id as sent, when `eventID` was derived from it.
    public var messageID: String?
    /// Segment alias: the previous id.
    public var previousID: String?
    /// Segment group: the group id.
    public var groupID: String?
    /// Segment page/screen name.
    public var pageName: String?
    /// JSON object text: Segment identify/group traits, GA4 user properties.
    public var traits: String?
    /// JSON object text: Segment's `integrations`.
    public var integrations: String?

    public init(
        eventID: UUID, name: String, occurredAt: Date, clientTimestamp: Date? = nil, sentAt: Date? = nil, receivedAt: Date,
        sessionID: String? = nil, anonymousID: String? = nil, userID: String? = nil, traceID: [UInt8]? = nil,
        parentSpanID: [UInt8]? = nil, pageURL: String? = nil, pagePath: String? = nil, pageReferrer: String? = nil,
        pageTitle: String? = nil, properties: String = "{}", context: String = "{}", source: String? = nil,
        clientJSON: [UInt8]? = nil
    ) {
        self.clientJSON = clientJSON
        self.eventID = eventID
        self.name = name
        self.occurredAt = occurredAt
        self.clientTimestamp = clientTimestamp
        self.sentAt = sentAt
        self.receivedAt = receivedAt
        self.sessionID = sessionID
        self.anonymousID = anonymousID
        self.userID = userID
        self.traceID = traceID
        self.parentSpanID = parentSpanID
        self.pageURL = pageURL
        self.pagePath = pagePath
        self.pageReferrer = pageReferrer
        self.pageTitle = pageTitle
        self.properties = properties
        self.context = context
        self.source = source
    }
}

/// An event of a batch that was refused, with the reason the sender sees.
public struct TagEventRejection: Sendable, Equatable, Codable {
    /// Position of the event in the batch's `events` array.
    public var index: Int
    /// The event's `event_id` as sent, when it had one.
    public var eventID: String?
    /// What is wrong, naming the field.
    public var reason: String

    enum CodingKeys: String, CodingKey {
        case index
        case eventID = "event_id"
        case reason
    }
}
