-- The join's propagation stages rewrite an event fact's trace columns or its variants in
-- place when the trace, or an exposure of its unit, arrives after the event: on a busy
-- site that is most events. None of those columns is indexed, so when the page has room
-- PostgreSQL keeps the new version on the same page without touching the table's six
-- indexes (a heap-only tuple update). Leave a fifth of each new page free for that.
ALTER TABLE lake.event_facts SET (fillfactor = 80);
