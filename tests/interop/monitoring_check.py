#!/usr/bin/env python3
"""The operational pieces in ops/ against a running Seam:
- `promtool check rules` accepts ops/prometheus/seam-alerts.yml and `promtool test rules`
  passes its unit tests (each alert fires on the series that should raise it);
- ops/grafana/seam-dashboard.json parses, is what generate-dashboard.py writes, and every
  panel has a query;
- every metric the rules and the dashboard query exists in /metrics of a `seam serve`
  running every role (with a little traffic, and the ETL scheduled every minute so that it
  runs once).

usage: monitoring_check.py SEAM_BINARY ADMIN_DATABASE_URL
"""
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
import uuid
from datetime import datetime, timezone

from harness import Checks, serving

check = Checks("monitoring")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RULES = os.path.join(ROOT, "ops", "prometheus", "seam-alerts.yml")
DASHBOARD = os.path.join(ROOT, "ops", "grafana", "seam-dashboard.json")
METRIC = re.compile(r"\bseam_[a-z_]+")
# What a timer's series are called in the text format (PromQL names them, /metrics lists them
# under the timer's name).
SUFFIXES = ("_sum", "_count", "_bucket")


def metric_names(expressions):
    names = set()
    for expression in expressions:
        names |= set(METRIC.findall(expression))
    return names


def main():
    seam, admin_url = sys.argv[1], sys.argv[2]
    rules_dir = os.path.dirname(RULES)
    checked = subprocess.run(["promtool", "check", "rules", RULES], capture_output=True, text=True)
    check("promtool check rules accepts the alert rules", checked.returncode == 0, checked.stdout + checked.stderr)
    tested = subprocess.run(["promtool", "test", "rules", "seam-alerts.test.yml"], cwd=rules_dir, capture_output=True, text=True)
    check("promtool test rules: every alert fires where it should", tested.returncode == 0, tested.stdout + tested.stderr)
    rule_expressions = re.findall(r"expr: (?:\|\n)?((?:.*\n?)+?)(?=\s+(?:for|labels):)", open(RULES).read())
    check("the rules file has its eleven alerts", len(rule_expressions) == 11, len(rule_expressions))

    dashboard = json.load(open(DASHBOARD))
    generated = subprocess.run([sys.executable, os.path.join(ROOT, "ops", "grafana", "generate-dashboard.py")], capture_output=True,
                               text=True)
    check("the dashboard is what its generator writes", generated.returncode == 0 and json.load(open(DASHBOARD)) == dashboard,
          generated.stderr)
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    expressions = [t["expr"] for p in panels for t in p.get("targets", [])]
    check("every dashboard panel has a query and a description", all(p.get("targets") and p.get("description") for p in panels),
          [p["title"] for p in panels if not p.get("targets")])
    wanted = metric_names(expressions) | metric_names(rule_expressions)
    check("the rules and the dashboard query Seam's metrics", len(wanted) >= 15, sorted(wanted))

    with serving(check, seam, admin_url, "monitoring", "", SEAM_GRPC_ADDR="off", SEAM_ETL_SCHEDULE="* * * * *") as (_, port, _h, _e):
        now = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
        events = [{"event_id": str(uuid.uuid4()), "name": "page_view", "timestamp": now, "session_id": "s-1", "anonymous_id": "a-1"}]
        request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/events", data=json.dumps({"events": events}).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            check("a tag event is acknowledged", response.status == 200, response.status)
        deadline = time.time() + 150
        missing = wanted
        while time.time() < deadline:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:
                text = response.read().decode()
            exposed = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}
            exposed |= {name[: -len(suffix)] for name in exposed for suffix in SUFFIXES if name.endswith(suffix)}
            missing = {name for name in wanted if name not in exposed and not any(
                name.endswith(suffix) and name[: -len(suffix)] in exposed for suffix in SUFFIXES)}
            if not missing:
                break
            time.sleep(2)
        check("every metric the rules and the dashboard query is in /metrics", not missing, sorted(missing))
    sys.exit(check.summary())


if __name__ == "__main__":
    main()
