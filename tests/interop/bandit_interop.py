#!/usr/bin/env python3
"""Interop test: a contextual bandit's data from a service's OTLP post to a DSJSON file that
Vowpal Wabbit (the `vowpalwabbit` package from PyPI) reads, through a running `seam serve`.

A generated scenario with a known reward per action: 4,000 decisions of the bandit "reco"
over {category1, category2, bestsellers, trending}, logged by an epsilon-greedy policy whose
probabilities depend on the context; each decision's session then adds a product to the
basket (reward 3) or views a product detail page within 20 s (reward 1) with probabilities
fixed per action. Checks:
- every decision is stored, and the rewards Seam computed equal the generated ones;
- `seam export dsjson` and GET /v1/bandits/reco/dsjson give the same lines, and Vowpal
  Wabbit (--cb_explore_adf --dsjson) reads every one of them as an example;
- the IPS and SNIPS estimates equal a computation from the exported file, and each
  action's interval covers its true expected reward.

usage: bandit_interop.py SEAM_BINARY ADMIN_DATABASE_URL
"""
import json
import math
import os
import random
import subprocess
import sys
import time
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone

from vowpalwabbit import Workspace

from harness import Checks, rows, serving

check = Checks("bandit")

ACTIONS = ["category1", "category2", "bestsellers", "trending"]
# P(add to basket) and P(product view within 20 s, when no basket) per action.
BASKET = {"category1": 0.10, "category2": 0.20, "bestsellers": 0.05, "trending": 0.15}
VIEW = 0.30
TRUTH = {a: 3 * BASKET[a] + (1 - BASKET[a]) * VIEW for a in ACTIONS}
DECISIONS = 4000






def post(port, path, body):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.loads(response.read() or b"{}")


def scenario(seed=20261126):
    """Decisions (with their logging probabilities) and the events that follow them."""
    rng = random.Random(seed)
    base = (datetime.now(timezone.utc) - timedelta(days=1)).replace(hour=12, minute=0, second=0, microsecond=0)
    decisions, events = [], []
    for i in range(DECISIONS):
        at = base + timedelta(seconds=i * 0.25)
        category = rng.choice(["shoes", "bags", "coats"])
        # Epsilon-greedy (epsilon 0.4): the greedy action depends on the context.
        greedy = {"shoes": "category1", "bags": "category2", "coats": "trending"}[category]
        p = [0.4 / 4 + (0.6 if a == greedy else 0) for a in ACTIONS]
        chosen = rng.choices(ACTIONS, weights=p)[0]
        session = f"bs-{i}"
        reward = 0
        if rng.random() < BASKET[chosen]:
            reward = 3
            events.append(("add_to_basket", at + timedelta(seconds=rng.uniform(21, 600)), session))
        elif rng.random() < VIEW:
            reward = 1
            events.append(("product_view", at + timedelta(seconds=rng.uniform(1, 19)), session))
        elif rng.random() < 0.5:
            events.append(("product_view", at + timedelta(seconds=rng.uniform(25, 300)), session))  # too late: 0
        decisions.append({"id": f"dec-{i}", "at": at, "session": session, "category": category, "chosen": chosen, "p": p,
                          "reward": reward})
    return decisions, events


def log_record(d):
    nanos = str(int(d["at"].timestamp() * 1e9))
    s = lambda v: {"stringValue": v}
    return {"timeUnixNano": nanos, "eventName": "bandit.decision", "attributes": [
        {"key": "bandit.key", "value": s("reco")},
        {"key": "bandit.event_id", "value": s(d["id"])},
        {"key": "bandit.actions", "value": {"arrayValue": {"values": [s(a) for a in ACTIONS]}}},
        {"key": "bandit.action", "value": s(d["chosen"])},
        {"key": "bandit.probabilities", "value": {"arrayValue": {"values": [{"doubleValue": p} for p in d["p"]]}}},
        {"key": "bandit.context", "value": {"kvlistValue": {"values": [
            {"key": "category", "value": s(d["category"])}, {"key": "season", "value": s("winter")},
            {"key": "device", "value": {"kvlistValue": {"values": [{"key": "type", "value": s("mobile")}]}}}]}}},
        {"key": "session.id", "value": s(d["session"])},
    ]}


def main():
    seam, admin_url = sys.argv[1], sys.argv[2]
    config = "bandits:\n  reco:\n    reward_window_seconds: 3600\n"
    with serving(check, seam, admin_url, "bandit", config, SEAM_GRPC_ADDR="off",
                 SEAM_ROLES="ingest,maintenance,join,api") as (url, port, home, env):
        run(seam, env, url, port, home)
    sys.exit(check.summary())


def run(seam, env, url, port, home):
    decisions, events = scenario()
    for start in range(0, len(decisions), 500):
        body = {"resourceLogs": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "reco"}}]},
                                  "scopeLogs": [{"logRecords": [log_record(d) for d in decisions[start:start + 500]]}]}]}
        status, answer = post(port, "/v1/logs", body)
        check(f"decisions {start}-{start + 499} acknowledged in full", status == 200 and "partialSuccess" not in answer,
              f"{status} {answer}")
    for start in range(0, len(events), 500):
        batch = [{"event_id": str(uuid.uuid4()), "name": name, "timestamp": at.isoformat().replace("+00:00", "Z"),
                  "session_id": session, "anonymous_id": "v-" + session} for name, at, session in events[start:start + 500]]
        status, _ = post(port, "/v1/events", {"events": batch})
        check(f"events {start}- acknowledged", status == 200, status)

    deadline = time.time() + 120
    got = None
    while time.time() < deadline:
        got = rows(url, "SELECT (SELECT count(*) FROM lake.decisions), (SELECT count(*) FROM lake.event_facts)")
        if got == [[str(len(decisions)), str(len(events))]]:
            break
        time.sleep(0.5)
    check("every decision stored and every event joined", got == [[str(len(decisions)), str(len(events))]], repr(got))

    etl = subprocess.run([seam, "etl", "run", "bandits"], env=env, capture_output=True, text=True, timeout=300)
    check("seam etl run bandits succeeds", etl.returncode == 0 and "succeeded" in etl.stdout, etl.stdout + etl.stderr)
    stored = dict((r[0], float(r[1])) for r in rows(url, """
        SELECT d.event_id, r.reward FROM lake.decisions d JOIN lake.decision_rewards r USING (decision_id)"""))
    wrong = [d["id"] for d in decisions if stored.get(d["id"]) != d["reward"]]
    check("every decision's reward equals the generated one", not wrong, f"{len(wrong)} differ, e.g. {wrong[:3]}")

    # The export, by the command and by the read API.
    path = os.path.join(home, "reco.dsjson")
    export = subprocess.run([seam, "export", "dsjson", "--bandit", "reco", "--out", path], env=env, capture_output=True,
                            text=True, timeout=300)
    check("seam export dsjson succeeds", export.returncode == 0, export.stderr)
    text = open(path).read() if os.path.exists(path) else ""
    lines = [json.loads(line) for line in text.splitlines()]
    check("one DSJSON line per decision", len(lines) == len(decisions), len(lines))
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/bandits/reco/dsjson", timeout=60) as response:
        streamed = response.read().decode()
        check("GET /v1/bandits/reco/dsjson streams the same lines", streamed == text,
              f"{len(streamed)} vs {len(text)} bytes; {response.headers.get('Content-Type')}")
    by_id = {d["id"]: d for d in decisions}
    mismatched = []
    for line in lines:
        d = by_id.get(line.get("EventId"))
        chosen = ACTIONS.index(d["chosen"]) if d else -1
        ok = (d is not None and line["_label_cost"] == -d["reward"] and abs(line["_label_probability"] - d["p"][chosen]) < 1e-12
              and line["_label_Action"] == chosen + 1 and line["_labelIndex"] == chosen and line["a"][0] == chosen + 1
              and sorted(line["a"]) == [1, 2, 3, 4] and abs(line["p"][0] - d["p"][chosen]) < 1e-12
              and line["c"]["Context"] == {"category": d["category"], "season": "winter", "device.type": "mobile"}
              and [m["Action"]["id"] for m in line["c"]["_multi"]] == ACTIONS)
        if not ok:
            mismatched.append(line.get("EventId"))
    check("each line carries the decision's cost, probability, action and context", not mismatched, mismatched[:3])

    # Vowpal Wabbit reads every line as a contextual-bandit example and trains on it.
    vw = Workspace(arg_str=f"--cb_explore_adf --dsjson --quiet --strict_parse -d {path}")
    vw.run_parser()
    examples = vw.get_weighted_examples()
    vw.finish()
    check("vowpalwabbit --cb_explore_adf --dsjson reads every decision", examples == len(decisions), examples)

    # Off-policy estimates: equal to a computation from the exported file, covering the truth.
    n = len(lines)
    day = decisions[0]["at"].strftime("%Y-%m-%d")
    estimates = {(r[0], r[1]): [float(x) if x else None for x in r[2:]] for r in rows(url, f"""
        SELECT policy, method, value, ci_low, ci_high FROM lake.bandit_estimates WHERE bandit_key = 'reco' AND day = '{day}'""")}
    for index, action in enumerate(ACTIONS):
        matched = [(-l["_label_cost"], l["_label_probability"]) for l in lines if l["_labelIndex"] == index]
        ips = sum(r / p for r, p in matched) / n
        snips = sum(r / p for r, p in matched) / sum(1 / p for _, p in matched)
        got_ips = estimates.get((f"action:{action}", "ips"), [None, None, None])
        got_snips = estimates.get((f"action:{action}", "snips"), [None, None, None])
        check(f"IPS of {action} equals the file's", got_ips[0] is not None and math.isclose(got_ips[0], ips, rel_tol=1e-9),
              f"{got_ips[0]} vs {ips}")
        check(f"SNIPS of {action} equals the file's",
              got_snips[0] is not None and math.isclose(got_snips[0], snips, rel_tol=1e-9), f"{got_snips[0]} vs {snips}")
        for method, got in (("IPS", got_ips), ("SNIPS", got_snips)):
            check(f"{method} interval of {action} covers its true value {TRUTH[action]:.3f}",
                  None not in got and got[1] <= TRUTH[action] <= got[2], repr(got))
    logged = estimates.get(("logged", "logged"), [None])
    mean = sum(d["reward"] for d in decisions) / len(decisions)
    check("the logged policy's value is the mean reward", logged[0] is not None and math.isclose(logged[0], mean, rel_tol=1e-9),
          f"{logged} vs {mean}")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/bandits/reco/estimates", timeout=30) as response:
        answer = json.loads(response.read())
        check("GET /v1/bandits/reco/estimates lists the day's nine estimates", len(answer.get("estimates", [])) == 9,
              len(answer.get("estimates", [])))


if __name__ == "__main__":
    main()
