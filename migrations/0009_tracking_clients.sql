-- Tag events from the clients Seam speaks besides its own schema: the Segment tracking API
-- (analytics.js, analytics-python, the mobile SDKs, RudderStack) and the GA4 Measurement
-- Protocol. They are rows of lake.tag_events like any other, with what their protocol adds.
-- Adding nullable columns (and one with a constant default) rewrites no partition.

ALTER TABLE lake.tag_events
    ADD COLUMN protocol      text NOT NULL DEFAULT 'seam',
    ADD COLUMN call_type     text,
    ADD COLUMN message_id    text,
    ADD COLUMN previous_id   text,
    ADD COLUMN group_id      text,
    ADD COLUMN page_name     text,
    ADD COLUMN traits        jsonb,
    ADD COLUMN integrations  jsonb;

COMMENT ON COLUMN lake.tag_events.protocol IS 'How the event was posted: seam (POST /v1/events), segment (the Segment-compatible tracking API, /v1/batch, /v1/track, ...), ga4 (the GA4 Measurement Protocol, /mp/collect).';
COMMENT ON COLUMN lake.tag_events.call_type IS 'Segment call type: track, page, screen, identify, alias or group. For GA4: event. NULL for Seam''s own tag events.';
COMMENT ON COLUMN lake.tag_events.message_id IS 'The client''s id for the message as sent (Segment messageId, e.g. ajs-next-1764…; GA4: see event_id). event_id is this id when it is a UUID, else a UUID derived from it (see the README): a retried message is stored once. NULL for Seam''s own tag events, whose event_id is the client''s.';
COMMENT ON COLUMN lake.tag_events.previous_id IS 'Segment alias: the previous id (usually the anonymous id) that user_id now stands for; NULL otherwise.';
COMMENT ON COLUMN lake.tag_events.group_id IS 'Segment group: the group (account, company) the user joined; NULL otherwise.';
COMMENT ON COLUMN lake.tag_events.page_name IS 'Segment page and screen calls: the page or screen name given by the caller (category and name joined by a space when both were sent); NULL otherwise.';
COMMENT ON COLUMN lake.tag_events.traits IS 'Segment identify and group: the traits (of the user, of the group) as a JSON object. GA4: user_properties. NULL otherwise.';
COMMENT ON COLUMN lake.tag_events.integrations IS 'Segment: the integrations object the client sent (which destinations it meant the message for), as sent; NULL when absent.';
