#!/usr/bin/env python3
"""Writes seam-dashboard.json, the Grafana dashboard over Seam's /metrics (Prometheus data
source). Edit the panels here and run it again: `python3 ops/grafana/generate-dashboard.py`.
Each panel's description says what it shows and what to do when it looks wrong; the README
("Operations") lists them."""
import json
import os

PANELS = [
    # (row, title, unit, [(expr, legend)], description)
    ("Ingestion", "Records accepted per second, by format", "reqps",
     [("sum by (signal) (rate(seam_records_accepted_total[5m]))", "{{signal}}")],
     "Records acknowledged (durable in the spool) per second: traces and logs (OTLP), events (Seam's tag events), segment, ga4."),
    ("Ingestion", "Records refused per second, by format and reason", "reqps",
     [("sum by (signal, reason) (rate(seam_records_rejected_total[5m]))", "{{signal}} {{reason}}")],
     "Refused at the acknowledgement (told to the client, or kept in lake.rejected for Segment and GA4) or at load. The console's pipeline page lists the reasons with a sample."),
    ("Ingestion", "HTTP answers per second, by route and status", "reqps",
     [("sum by (path, status) (rate(seam_http_requests_total[5m]))", "{{path}} {{status}}")],
     "503s mean a full spool or an exhausted memory budget (clients retry after Retry-After); 401/403 a wrong token."),
    ("Spool and loader", "Spool fill", "percentunit",
     [("seam_spool_unloaded_bytes / seam_spool_capacity_bytes", "{{instance}}")],
     "Bytes acknowledged and not yet loaded, as a share of spool.max_bytes. Above 80 % /readyz answers 503; at 100 % ingestion does."),
    ("Spool and loader", "Loader lag", "s",
     [("seam_spool_oldest_unloaded_age_seconds", "{{instance}}")],
     "Age of the oldest acknowledged record not yet in the lake (0 when caught up)."),
    ("Spool and loader", "Rows loaded per second, by table", "rowsps",
     [("sum by (table, outcome) (rate(seam_loader_rows_total[5m]))", "{{table}} {{outcome}}")],
     "Rows stored into the lake tables, and duplicates the lake already had (retries, replays)."),
    ("Spool and loader", "Loader transaction time and errors", "s",
     [("rate(seam_loader_batch_seconds_sum[5m]) / rate(seam_loader_batch_seconds_count[5m])", "mean transaction {{instance}}"),
      ("increase(seam_loader_errors_total[15m])", "errors in 15 min {{instance}}")],
     "Mean duration of a load transaction, and failed ones (retried; the log says why)."),
    ("Join", "Join lag", "s",
     [("max(seam_join_lag_seconds)", "oldest queue item")],
     "How far the derived tables (traces, exposures, event facts, sessions) trail the raw ones."),
    ("Join", "Join items per second, by kind", "ops",
     [("sum by (kind) (rate(seam_join_items_total[5m]))", "{{kind}}")],
     "Queue items the join takes: raw rows' keys (trace, exposure, event) and what depends on them (session, trace_changed, unit_changed)."),
    ("Join", "Join stage time, by kind", "s",
     [("sum by (kind) (rate(seam_join_stage_seconds_sum[5m])) / sum by (kind) (rate(seam_join_stage_seconds_count[5m]))", "{{kind}}")],
     "Mean duration of one stage transaction."),
    ("Join", "Join errors and keys set aside", "short",
     [("sum(increase(seam_join_errors_total[1h]))", "failed stage transactions (retried)"),
      ("sum by (kind) (increase(seam_join_set_aside_total[1h]))", "set aside {{kind}}")],
     "Set-aside keys fail to compute alone: the console's pipeline page shows their errors; seam join rebuild retries them."),
    ("ETL", "ETL runs in the last hour, by job and status", "short",
     [("sum by (job, status) (increase(seam_etl_runs_total[1h]))", "{{job}} {{status}}")],
     "Scheduled, manual and backfill runs; failed ones keep the job's tables at their last results."),
    ("ETL", "ETL run time, by job", "s",
     [("sum by (job) (rate(seam_etl_run_seconds_sum[1h])) / sum by (job) (rate(seam_etl_run_seconds_count[1h]))", "{{job}}")],
     "Mean duration of a successful run."),
    ("ETL", "Time since each job's last success", "s",
     [("time() - (seam_etl_last_success_timestamp_seconds > 0)", "{{job}}")],
     "Grows between runs; far beyond the schedule means the job fails or does not run."),
    ("Database", "PostgreSQL reachable", "short",
     [("min(seam_database_up)", "all processes")],
     "1 when every Seam process reached PostgreSQL at its last probe (every 15 s)."),
]


def dashboard():
    panels, y, row_of = [], 0, None
    next_id = 1
    for index, (row, title, unit, targets, description) in enumerate(PANELS):
        if row != row_of:
            panels.append({"type": "row", "title": row, "id": next_id, "collapsed": False,
                           "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
            next_id += 1
            y += 1
            column = 0
            row_of = row
        panels.append({
            "type": "timeseries", "id": next_id, "title": title, "description": description,
            "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "gridPos": {"h": 8, "w": 12, "x": column * 12, "y": y},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "options": {"legend": {"displayMode": "list", "placement": "bottom"}, "tooltip": {"mode": "multi"}},
            "targets": [{"refId": chr(ord("A") + i), "expr": expr, "legendFormat": legend,
                         "datasource": {"type": "prometheus", "uid": "${datasource}"}}
                        for i, (expr, legend) in enumerate(targets)],
        })
        next_id += 1
        column = 1 - column
        if column == 0:
            y += 8
    return {
        "title": "Seam", "uid": "seam-overview", "schemaVersion": 39, "version": 1, "editable": True,
        "tags": ["seam"], "time": {"from": "now-6h", "to": "now"}, "refresh": "30s",
        "description": "Seam's ingestion, spool and loader, join and ETL, over the metrics of seam serve (/metrics).",
        "templating": {"list": [{"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Prometheus"}]},
        "panels": panels,
    }


if __name__ == "__main__":
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seam-dashboard.json")
    with open(path, "w") as f:
        json.dump(dashboard(), f, indent=2)
        f.write("\n")
