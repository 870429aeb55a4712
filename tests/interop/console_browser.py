#!/usr/bin/env python3
"""The web console in a real browser: Debian's chromium (headless), driven by selenium with
Debian's chromium-driver, against a running `seam serve` with a generated shop's data (an
experiment, rule segments, a bandit, refused records). Checks:
- a read token is required (401 with the sign-in form), and the sign-in form opens the console;
- every page opens without a JavaScript error or a refused resource (the pages carry a strict
  Content-Security-Policy), and its charts have the right number of series and points;
- an experiment's numbers on the page equal GET /v1/experiments/{key}/results field by field;
- a segment's and a bandit's charts have one point per period the read API lists;
- the refused records are listed by reason, and a payload with markup is shown as text;
- a screenshot of every page is saved (in the directory given, else a temporary one).

usage: console_browser.py SEAM_BINARY ADMIN_DATABASE_URL [SCREENSHOT_DIR]
"""
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from harness import Checks, rows, serving

check = Checks("console")
TOKEN = "console-read-token"
ACTIONS = ["category1", "category2", "bestsellers"]


def post(port, path, body, expect=(200,)):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    check(f"POST {path} answered {expect}", status in expect, status)


def get(port, path, token=None):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                     headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def iso(at):
    return at.isoformat().replace("+00:00", "Z")


def shop(seed=20261126):
    """Tag events of 300 visitors over two days, their exposures to `checkout`, and 300
    bandit decisions with the events that reward them."""
    rng = random.Random(seed)
    now = datetime.now(timezone.utc)
    events, flags, decisions = [], [], []
    for v in range(300):
        visitor = f"visitor-{v}"
        variant = "treatment" if v % 2 else "control"
        start = now - timedelta(hours=rng.uniform(3, 46))
        flags.append((visitor, variant, start - timedelta(seconds=2)))
        for s in range(1 + v % 3):
            at = start + timedelta(hours=4 * s)
            if at > now - timedelta(minutes=5):
                break
            session = f"{visitor}-s{s}"
            names = ["page_view", "product_view"] + (["add_to_basket"] if rng.random() < 0.4 else [])
            if "add_to_basket" in names and rng.random() < (0.5 if variant == "treatment" else 0.3):
                names.append("purchase")
            for i, name in enumerate(names):
                properties = {"revenue": round(rng.uniform(20, 120), 2), "currency": "EUR"} if name == "purchase" else {}
                events.append({"event_id": str(uuid.uuid4()), "name": name, "timestamp": iso(at + timedelta(seconds=20 * i)),
                               "session_id": session, "anonymous_id": visitor, "properties": properties})
    for i in range(300):
        at = now - timedelta(hours=30) + timedelta(minutes=5 * i)
        chosen = ACTIONS[i % 3]
        session = f"bandit-s{i}"
        decisions.append((f"dec-{i}", at, chosen, session))
        if rng.random() < 0.3 + 0.1 * (i % 3):
            events.append({"event_id": str(uuid.uuid4()), "name": "add_to_basket", "timestamp": iso(at + timedelta(seconds=30)),
                           "session_id": session, "anonymous_id": f"bandit-v{i}"})
    return events, flags, decisions


def flag_logs(flags):
    s = lambda v: {"stringValue": v}
    return {"resourceLogs": [{"resource": {"attributes": [{"key": "service.name", "value": s("shop")}]}, "scopeLogs": [{"logRecords": [
        {"timeUnixNano": str(int(at.timestamp() * 1e9)), "eventName": "feature_flag.evaluation", "attributes": [
            {"key": "feature_flag.key", "value": s("checkout")}, {"key": "feature_flag.result.variant", "value": s(variant)},
            {"key": "feature_flag.context.id", "value": s(visitor)}]}
        for visitor, variant, at in flags]}]}]}


def decision_logs(decisions):
    s = lambda v: {"stringValue": v}
    return {"resourceLogs": [{"resource": {"attributes": [{"key": "service.name", "value": s("reco")}]}, "scopeLogs": [{"logRecords": [
        {"timeUnixNano": str(int(at.timestamp() * 1e9)), "eventName": "bandit.decision", "attributes": [
            {"key": "bandit.key", "value": s("reco")}, {"key": "bandit.event_id", "value": s(id)},
            {"key": "bandit.actions", "value": {"arrayValue": {"values": [s(a) for a in ACTIONS]}}},
            {"key": "bandit.action", "value": s(chosen)},
            {"key": "bandit.probabilities", "value": {"arrayValue": {"values": [{"doubleValue": 1 / 3}] * 3}}},
            {"key": "bandit.context", "value": {"kvlistValue": {"values": [{"key": "page", "value": s("home")}]}}},
            {"key": "session.id", "value": s(session)}]}
        for id, at, chosen, session in decisions]}]}]}


def browser():
    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1600"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def charts(driver):
    return [(svg.get_attribute("data-chart"), int(svg.get_attribute("data-series")), int(svg.get_attribute("data-points")),
             len(svg.find_elements(By.CSS_SELECTOR, "g.series")), len(svg.find_elements(By.CSS_SELECTOR, "circle.point")))
            for svg in driver.find_elements(By.CSS_SELECTOR, "svg.chart")]


def main():
    seam, admin_url = sys.argv[1], sys.argv[2]
    shots = sys.argv[3] if len(sys.argv) > 3 else tempfile.mkdtemp(prefix="seam-console-shots-")
    os.makedirs(shots, exist_ok=True)
    config = f"""api:
  tokens: {TOKEN}
segments:
  returning: {{predicate: "sessions >= 2", description: Came back at least once}}
  buyers: {{predicate: "purchases >= 1", description: Bought something}}
experiments:
  checkout:
    control: control
    weights: {{control: 1, treatment: 1}}
    dimensions: [segment]
bandits:
  reco:
    reward_window_seconds: 3600
"""
    with serving(check, seam, admin_url, "console", config, SEAM_GRPC_ADDR="off",
                 SEAM_ROLES="ingest,maintenance,join,api") as (url, port, home, env):
        run(seam, env, url, port, shots)
    print(f"console: screenshots in {shots}")
    sys.exit(check.summary())


def run(seam, env, url, port, shots):
    events, flags, decisions = shop()
    post(port, "/v1/logs", flag_logs(flags))
    post(port, "/v1/logs", decision_logs(decisions))
    for start in range(0, len(events), 500):
        post(port, "/v1/events", {"events": events[start:start + 500]})
    # Refused records (kept in lake.rejected, since these clients do not read answers): a
    # Segment track without its event name whose payload carries markup, and a GA4 event
    # with a name GA4 does not allow.
    post(port, "/v1/batch", {"writeKey": "shop", "batch": [
        {"type": "track", "messageId": "bad-1", "anonymousId": "visitor-1", "properties": {"note": "<script>alert('x')</script>"}}]})
    post(port, "/mp/collect?measurement_id=G-SHOP&api_secret=x", {"client_id": "1.2", "events": [{"name": "bad name!"}]},
         expect=(204,))
    deadline = time.time() + 120
    joined = None
    while time.time() < deadline:
        joined = rows(url, "SELECT (SELECT count(*) FROM lake.event_facts), (SELECT count(*) FROM lake.decisions), "
                           "(SELECT count(*) FROM lake.rejected)")
        if joined == [[str(len(events)), str(len(decisions)), "2"]]:
            break
        time.sleep(0.5)
    check("every event joined, every decision and refusal stored", joined == [[str(len(events)), str(len(decisions)), "2"]], joined)
    etl = subprocess.run([seam, "etl", "run", "all"], env=env, capture_output=True, text=True, timeout=600)
    check("seam etl run succeeds", etl.returncode == 0, etl.stdout + etl.stderr)

    # The token: without it 401 and the sign-in form; with it as a bearer token, the page.
    status, text = get(port, "/console/experiments")
    check("without a read token a console page answers 401 with the sign-in form", status == 401 and 'name="token"' in text, status)
    status, _ = get(port, "/console/experiments", TOKEN)
    check("with the read token as a bearer token the page opens", status == 200, status)

    driver = browser()
    try:
        base = f"http://127.0.0.1:{port}"
        driver.get(f"{base}/console/experiments")
        check("the browser is asked to sign in", bool(driver.find_elements(By.NAME, "token")), driver.title)
        driver.find_element(By.NAME, "token").send_keys(TOKEN)
        driver.find_element(By.CSS_SELECTOR, "form.login button").click()
        # The click returns before the form's answer (a redirect) has loaded: wait for the list.
        try:
            WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.ID, "experiments"))
            signed_in = True
        except TimeoutException:
            signed_in = False
        check("signing in opens the experiments list", signed_in, driver.current_url)
        visit = lambda path, name: page(driver, base, path, name, shots)

        visit("/console/experiments", "experiments")
        listed = [row.get_attribute("data-experiment") for row in driver.find_elements(By.CSS_SELECTOR, "#experiments tr[data-experiment]")]
        check("the experiments list shows the experiment", listed == ["checkout"], listed)

        visit("/console/experiments/checkout", "experiment")
        _, text = get(port, "/v1/experiments/checkout/results", TOKEN)
        results = json.loads(text)["results"]
        overall = [r for r in results if r["dimension"] == "overall"]
        metrics = sorted({r["metric"] for r in overall})
        got = charts(driver)
        forests = [c for c in got if c[0] == "forest"]
        check("one forest plot per metric", len(forests) == len(metrics), f"{len(forests)} vs {len(metrics)}")
        finite = [r for r in overall if not r["is_control"] and r["relative_lift"] is not None]
        check("the forest plots hold one point per treatment with a lift", sum(c[4] for c in forests) == len(finite),
              f"{sum(c[4] for c in forests)} vs {len(finite)}")
        lines = [c for c in got if c[0] == "lines"]
        check("units over time (one series per variant) and the cumulative lift (one per treatment)",
              len(lines) == 2 and lines[0][1] == 2 and lines[1][1] == 1, lines)
        # The units over time: per variant, the visitors first exposed up to each UTC day.
        days = sorted({at.strftime("%Y-%m-%d") for _, _, at in flags})
        expected = {variant: [sum(1 for _, v, at in flags if v == variant and at.strftime("%Y-%m-%d") <= day) for day in days]
                    for variant in ("control", "treatment")}
        drawn = {g.get_attribute("data-name"): [(p.get_attribute("data-x"), float(p.get_attribute("data-value")))
                                                for p in g.find_elements(By.CSS_SELECTOR, "circle.point")]
                 for g in driver.find_elements(By.CSS_SELECTOR, "svg.chart")[0].find_elements(By.CSS_SELECTOR, "g.series")}
        check("the units over time are the visitors first exposed up to each UTC day, per variant",
              drawn == {variant: list(zip(days, map(float, counts))) for variant, counts in expected.items()}, (drawn, days))
        cumulative = driver.find_elements(By.CSS_SELECTOR, "svg.chart")[1].find_elements(By.CSS_SELECTOR, "circle.point")
        last = float(cumulative[-1].get_attribute("data-value")) if cumulative else None
        first_metric = sorted(metrics)[0]
        api_lift = next((r["relative_lift"] for r in overall if r["metric"] == first_metric and not r["is_control"]), None)
        check("the cumulative lift's last day is the overall plain lift of the metric", last is not None and api_lift is not None
              and math.isclose(last, api_lift * 100, rel_tol=1e-9, abs_tol=1e-9), f"{last} vs {api_lift}")
        check("every chart declares the series and points it draws", all(c[1] == c[3] and c[2] == c[4] for c in got), got)
        mismatches = []
        for r in results:
            selector = (f'tr[data-metric="{r["metric"]}"][data-variant="{r["variant"]}"][data-dimension="{r["dimension"]}"]'
                        f'[data-dimension-value="{r["dimension_value"] or ""}"]')
            found = driver.find_elements(By.CSS_SELECTOR, selector)
            if len(found) != 1:
                mismatches.append((r["metric"], r["variant"], r["dimension"], "row missing"))
                continue
            for field in ("units", "mean", "relative_lift", "p_value", "bayesian_relative_chance_to_win"):
                cell = found[0].find_element(By.CSS_SELECTOR, f'td[data-field="{field}"]').get_attribute("data-value")
                expected = r[field]
                same = (cell == "" and expected is None) or (expected is not None and cell != "" and math.isclose(
                    float(cell), float(expected), rel_tol=0, abs_tol=0))
                if not same:
                    mismatches.append((r["metric"], r["variant"], field, cell, expected))
        check("every result row on the page equals the read API's, field by field", not mismatches and results, mismatches[:5])

        visit("/console/segments", "segments")
        segments = [row.get_attribute("data-segment") for row in driver.find_elements(By.CSS_SELECTOR, "#segments tr[data-segment]")]
        check("the segments list shows all, returning and buyers", segments == ["all", "returning", "buyers"], segments)
        visit("/console/segments/all", "segment")
        _, text = get(port, "/v1/segments/all/metrics?grain=day", TOKEN)
        days = len(json.loads(text)["periods"])
        daily = [c for c in charts(driver)][:3]
        check("the daily charts: sessions and users, two rates, revenue", [c[1] for c in daily] == [2, 2, 1], daily)
        check("one point per day the read API lists, per series", days > 0 and all(c[4] == c[1] * days for c in daily),
              f"{daily} for {days} days")

        visit("/console/bandits", "bandits")
        visit("/console/bandits/reco", "bandit")
        _, text = get(port, "/v1/bandits/reco/estimates", TOKEN)
        estimates = json.loads(text)["estimates"]
        policies = {(e["policy"]) for e in estimates if e["method"] in ("logged", "snips")}
        days = {e["day"] for e in estimates}
        got = charts(driver)
        check("reward per action: one series per action and the logged policy", len(got) == 1 and got[0][1] == len(policies) == 4,
              f"{got} {sorted(policies)}")
        # A point per day and series that has a value: a day with few decisions (the first,
        # when the run starts early in a UTC day) may leave a policy without an estimate.
        valued = {(e["day"], e["policy"], e["method"]) for e in estimates
                  if e["method"] in ("logged", "snips") and isinstance(e.get("value"), (int, float))}
        check("one point per day per series that has a value", got and len(days) > 1 and got[0][2] == len(valued),
              f"{got} {len(valued)} values over {len(days)} days")

        visit("/console/pipeline", "pipeline")
        reasons = [row.text for row in driver.find_elements(By.CSS_SELECTOR, "#rejected tr.rejected")]
        check("refused records listed by reason", len(reasons) == 2 and any("name" in r for r in reasons), reasons)
        payloads = [p.text for p in driver.find_elements(By.CSS_SELECTOR, "pre.payload")]
        check("a payload with markup is shown as text", any("<script>alert('x')</script>" in p for p in payloads), payloads)
        runs = driver.find_elements(By.CSS_SELECTOR, "#etl-runs tr.etl-run")
        check("the ETL runs are listed", len(runs) >= 5, len(runs))
        # The live figures refresh every five seconds; a rate needs two readings.
        try:
            WebDriverWait(driver, 30).until(
                lambda d: d.find_element(By.CSS_SELECTOR, '[data-rate="accepted events"]').text.endswith("/s"))
        except TimeoutException:
            pass
        accepted = driver.find_element(By.CSS_SELECTOR, '[data-live="accepted events"]').text
        rate = driver.find_element(By.CSS_SELECTOR, '[data-rate="accepted events"]').text
        check("the live figures show this process's counters and a rate", accepted == str(len(events)) and rate.endswith("/s"),
              f"{accepted} {rate}")
        fill = driver.find_elements(By.CSS_SELECTOR, '[data-live="spool fill percent"]')
        check("the spool's fill is shown", len(fill) == 1 and 0 <= float(fill[0].text) <= 100, [f.text for f in fill])
        errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        check("no JavaScript error or refused resource on the pipeline page after refreshing", not errors, errors[:3])
    finally:
        driver.quit()


def page(driver, base, path, name, shots):
    driver.get_log("browser")  # drop what earlier pages logged
    started = time.time()
    driver.get(base + path)
    seconds = time.time() - started
    errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    check(f"{path} opens without a JavaScript error or refused resource", not errors, errors[:3])
    check(f"{path} is a console page", driver.find_elements(By.CSS_SELECTOR, "header nav") != [], driver.title)
    driver.save_screenshot(os.path.join(shots, f"console-{name}.png"))
    print(f"console: {path} loaded in {seconds * 1000:.0f} ms")


if __name__ == "__main__":
    main()
