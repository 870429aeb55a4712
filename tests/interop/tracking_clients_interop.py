#!/usr/bin/env python3
"""Interop test: real tracking clients from PyPI against a running `seam serve`, each
row then checked field by field in PostgreSQL.

- segment-analytics-python: identify, track, page, alias, group; batched uploads (gzip);
  a batch retried with a new sentAt stored once; a refused message kept in lake.rejected.
- ga4mp (its endpoint pointed at Seam): events with session, engagement time, items and
  value/currency, user properties, a backdated hit; its validation hit against
  /debug/mp/collect; a reserved event name kept in lake.rejected.

usage: tracking_clients_interop.py SEAM_BINARY ADMIN_DATABASE_URL
"""
import json
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone

import urllib.request

from ga4mp import GtagMP
import segment.analytics as segment_analytics
from segment.analytics.client import Client as SegmentClient
from segment.analytics.request import post as segment_post

from harness import Checks, rows, serving

check = Checks("tracking-clients")






def wait_for(url, sql, expected, seconds=30):
    got = None
    deadline = time.time() + seconds
    while time.time() < deadline:
        got = rows(url, sql)
        if got == expected:
            return got
        time.sleep(0.2)
    return got


def main():
    seam, admin_url = sys.argv[1], sys.argv[2]
    # A browser write key and a server one; anything else is refused.
    config = "ingest:\n  tokens: \"wk_server=backend\"\n  browser_tokens: \"wk_browser=site\"\n"
    with serving(check, seam, admin_url, "clients", config) as (url, port, _, _):
        segment(url, port)
        ga4(url, port)
    sys.exit(check.summary())


def segment(url, port):
    host = f"http://127.0.0.1:{port}"
    errors = []
    client = SegmentClient(write_key="wk_server", host=host, gzip=True, upload_size=100, upload_interval=0.2,
                           on_error=lambda e, batch: errors.append(e), max_retries=2)
    when = datetime.now(timezone.utc) - timedelta(minutes=5)
    client.identify("user-py", {"email": "py@shop.test", "plan": "gold"}, anonymous_id="anon-py", timestamp=when,
                    message_id="msg-identify-1")
    client.track("user-py", "Order Completed", {"revenue": 42.5, "currency": "EUR", "products": [{"sku": "B-1"}]},
                 context={"locale": "de-DE", "campaign": {"source": "newsletter"}}, timestamp=when + timedelta(seconds=1),
                 message_id="msg-track-1", integrations={"All": False, "Mixpanel": True})
    client.page("user-py", category="Shop", name="Boots", properties={"url": "https://shop.test/boots", "path": "/boots",
                "title": "Boots", "referrer": "https://search.test/"}, timestamp=when + timedelta(seconds=2),
                message_id="msg-page-1")
    client.alias("anon-py", "user-py", message_id="msg-alias-1", timestamp=when + timedelta(seconds=3))
    client.group("user-py", "acme", {"employees": 40}, message_id="msg-group-1", timestamp=when + timedelta(seconds=4))
    client.flush()
    check("analytics-python reported no error", not errors, repr(errors))

    got = wait_for(url, "SELECT count(*) FROM lake.tag_events WHERE protocol = 'segment'", [["5"]])
    check("five Segment calls stored", got == [["5"]], repr(got))
    table = {r[0]: r for r in rows(url, """
        SELECT call_type, name, message_id, coalesce(anonymous_id, ''), coalesce(user_id, ''), source,
               coalesce(properties::text, ''), coalesce(traits->>'plan', ''), coalesce(previous_id, ''), coalesce(group_id, ''),
               coalesce(page_name, ''), coalesce(page_url, ''), coalesce(page_path, ''), coalesce(page_title, ''),
               coalesce(page_referrer, ''), coalesce(context->>'locale', ''), coalesce(context->'campaign'->>'source', ''),
               coalesce(context->'library'->>'name', ''), coalesce(integrations->>'Mixpanel', ''),
               to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS'), event_id::text
        FROM lake.tag_events WHERE protocol = 'segment'""")}
    identify = table.get("identify", [""] * 21)
    check("identify: name, ids, traits", identify[1:5] + [identify[5], identify[7]],
          ["identify", "msg-identify-1", "anon-py", "user-py", "backend", "gold"])
    track = table.get("track", [""] * 21)
    check("track: event name and message id", track[1:3], ["Order Completed", "msg-track-1"])
    check("track: properties as sent", json.loads(track[6] or "{}"),
          {"revenue": 42.5, "currency": "EUR", "products": [{"sku": "B-1"}]})
    check("track: context (locale, campaign, the library) and integrations", track[15:19],
          ["de-DE", "newsletter", "analytics-python", "true"])
    check("track: time (skew-corrected within a second or two)",
          abs((datetime.fromisoformat(track[19]) - (when + timedelta(seconds=1)).replace(tzinfo=None)).total_seconds()) <= 2, track[19])
    page = table.get("page", [""] * 21)
    check("page: page_view with the page fields", [page[1]] + page[10:15],
          ["page_view", "Shop Boots", "https://shop.test/boots", "/boots", "Boots", "https://search.test/"])
    alias = table.get("alias", [""] * 21)
    check("alias: previous id and user id", [alias[1], alias[8], alias[4]], ["alias", "anon-py", "user-py"])
    group = table.get("group", [""] * 21)
    check("group: group id and traits", [group[1], group[9]], ["group", "acme"])
    check("a non-UUID messageId maps to a stable event id",
          identify[20] == str(uuid.uuid5(uuid.UUID("2ef4e18f-4a66-5156-945f-9e3a34214e12"), "segment:msg-identify-1")), identify[20])

    # A batch retried by the client with a new sentAt: stored once.
    batch = [{"type": "track", "event": "Retried", "userId": "user-py", "messageId": "msg-retry-1",
              "timestamp": when.isoformat(), "properties": {"n": 1}}]
    first = segment_post("wk_server", host=host, batch=batch, sentAt=datetime.now(timezone.utc).isoformat())
    second = segment_post("wk_server", host=host, batch=batch, sentAt=(datetime.now(timezone.utc) + timedelta(seconds=30)).isoformat())
    check("retried batch answered 200 twice", (first.status_code, second.status_code) == (200, 200))
    got = wait_for(url, "SELECT count(*) FROM lake.tag_events WHERE message_id = 'msg-retry-1'", [["1"]])
    check("a retried batch is stored once", got == [["1"]], repr(got))

    # A message Seam refuses (track without an event name) is answered 200, as Segment
    # does, and kept in lake.rejected with its reason.
    bad = segment_post("wk_server", host=host, batch=[{"type": "track", "userId": "user-py", "messageId": "msg-bad-1"}])
    check("a refused message still answers 200", bad.status_code == 200, bad.status_code)
    got = wait_for(url, "SELECT source, split_part(reason, ':', 1), record_index, convert_from(payload, 'UTF8')::jsonb->>'messageId' "
                        "FROM lake.rejected WHERE source = 'segment'", [["segment", "event", "0", "msg-bad-1"]])
    check("the refused message is in lake.rejected with its reason", got == [["segment", "event", "0", "msg-bad-1"]], repr(got))

    # A wrong write key is refused (the SDK logs it; nothing is stored).
    wrong = SegmentClient(write_key="not-a-key", host=host, sync_mode=True, max_retries=0)
    status = None
    try:
        wrong.track("user-py", "Nope", message_id="msg-wrong-1")
    except segment_analytics.request.APIError as error:
        status = error.status
    check("a wrong write key is refused with 401", status == 401, repr(status))
    check("nothing stored for the wrong key",
          rows(url, "SELECT count(*) FROM lake.tag_events WHERE message_id = 'msg-wrong-1'") == [["0"]])


def ga4(url, port):
    ga = GtagMP(api_secret="wk_browser", measurement_id="G-INTEROP", client_id="1234567890.1764000000")
    ga._base_domain = f"http://127.0.0.1:{port}/mp/collect"
    ga._validation_domain = f"http://127.0.0.1:{port}/debug/mp/collect"
    ga.store.set_user_property("tier", "gold")
    purchase = ga.create_new_event("purchase")
    purchase.set_event_param("currency", "EUR")
    purchase.set_event_param("value", 30.5)
    purchase.set_event_param("transaction_id", "T-77")
    item = purchase.create_new_item(item_id="B-1", item_name="Boots")
    item.set_parameter("price", 30.5)
    item.set_parameter("quantity", 1)
    purchase.set_event_param("items", [item])
    view = ga.create_new_event("page_view")
    view.set_event_param("page_location", "https://shop.test/boots")
    view.set_event_param("page_title", "Boots")
    ga.send([purchase, view])
    ga.send([{"name": "login", "params": {"method": "password"}}], date=datetime.now() - timedelta(hours=2))

    got = wait_for(url, "SELECT count(*) FROM lake.tag_events WHERE protocol = 'ga4'", [["3"]])
    check("three GA4 events stored", got == [["3"]], repr(got))
    table = {r[0]: r for r in rows(url, """
        SELECT name, anonymous_id, source, coalesce(session_id, ''), coalesce(properties->>'currency', ''),
               coalesce(properties->>'value', ''), coalesce(properties->'items'->0->>'item_id', ''),
               coalesce(properties->>'engagement_time_msec', ''), coalesce(traits->'tier'->>'value', ''),
               context->>'measurement_id', coalesce(page_url, ''), coalesce(page_title, ''),
               round(extract(epoch FROM received_at - occurred_at) / 3600)::int, call_type
        FROM lake.tag_events WHERE protocol = 'ga4'""")}
    p = table.get("purchase", [""] * 14)
    check("GA4 purchase: client id, source, session", p[1:4], ["1234567890.1764000000", "site", str(ga.store.get_session_parameter("session_id"))])
    check("GA4 purchase: params as sent (currency, value, items, engagement)", p[4:7] + [p[7] != ""], ["EUR", "30.5", "B-1", True])
    check("GA4 purchase: user properties and stream", p[8:10] + [p[13]], ["gold", "G-INTEROP", "event"])
    v = table.get("page_view", [""] * 14)
    check("GA4 page_view: page fields", v[10:12], ["https://shop.test/boots", "Boots"])
    l = table.get("login", [""] * 14)
    check("GA4 backdated hit: occurred two hours before receipt", l[12], "2")

    # The validation hit: GA4's answer shape, nothing stored.
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/debug/mp/collect?measurement_id=G-INTEROP&api_secret=wk_browser",
        data=json.dumps({"client_id": "c", "events": [{"name": "session_start"}, {"name": "ok", "params": {"n": "x" * 101}}]}).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        answer = json.loads(response.read())
    check("debug: validationMessages with GA4's codes", [(m["fieldPath"], m["validationCode"]) for m in answer.get("validationMessages", [])],
          [("events[0].name", "NAME_RESERVED"), ("events[1].params.n", "VALUE_OUT_OF_BOUNDS")])

    # A reserved event name on collect: 2xx with no body, kept in lake.rejected.
    ga.send([{"name": "first_visit", "params": {}}])
    got = wait_for(url, "SELECT source, reason FROM lake.rejected WHERE source = 'ga4'",
                   [["ga4", "events[0].name: first_visit is a reserved event name"]])
    check("a refused GA4 event is in lake.rejected with its reason", got == [["ga4", "events[0].name: first_visit is a reserved event name"]], repr(got))


if __name__ == "__main__":
    main()
