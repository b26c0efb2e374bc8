"""Builds ``dashboards/easypay.json`` (Grafana dashboard as code): ``python ops/grafana/dashboard.py``.

tests/ops/test_ops_config.py checks the committed JSON is what this script builds, and
tests/ops/test_exported_metrics.py that every metric it queries is exported.
"""

from __future__ import annotations

import json
from pathlib import Path

OUT = Path(__file__).resolve().parent / "dashboards" / "easypay.json"
DS = {"type": "prometheus", "uid": "prometheus"}

#: (row title, [(panel title, unit, [(expr, legend)])])
ROWS: list[tuple[str, list[tuple[str, str, list[tuple[str, str]]]]]] = [
    ("System", [
        ("Scrape targets up", "none", [('up{job=~"easypay-.*"}', "{{job}} {{instance}}")]),
        ("Dependencies up (readiness checks)", "none", [("max by (dependency) (easypay_dependency_up)", "{{dependency}}")]),
        ("Live worker threads by pool", "none", [("sum by (pool) (easypay_worker_threads)", "{{pool}}"),
                                                  ("max(easypay_broker_up)", "broker answering")]),
        ("API process CPU and memory (single-process API)", "none", [
            ('rate(process_cpu_seconds_total{job="easypay-api"}[5m])', "CPU cores {{instance}}"),
            ('process_resident_memory_bytes{job="easypay-api"} / 2^30', "RSS GiB {{instance}}")]),
    ]),
    ("API", [
        ("Requests/s by route and status", "reqps", [
            ("sum by (route, status) (rate(easypay_http_requests_total[5m]))", "{{route}} {{status}}")]),
        ("5xx error ratio (alert: 5 %)", "percentunit", [
            ('sum(rate(easypay_http_requests_total{status=~"5.."}[5m])) / sum(rate(easypay_http_requests_total[5m]))', "5xx")]),
        ("Latency p50 / p90 / p99 (alert: p99 2 s)", "s", [
            (f"histogram_quantile({q}, sum by (le) (rate(easypay_http_request_duration_seconds_bucket[5m])))", f"p{int(q*100)}")
            for q in (0.5, 0.9, 0.99)]),
        ("p99 by route", "s", [
            ("histogram_quantile(0.99, sum by (le, route) (rate(easypay_http_request_duration_seconds_bucket[5m])))", "{{route}}")]),
        ("Requests in flight", "none", [("sum(easypay_http_requests_in_flight)", "in flight")]),
        ("Auth failures and rate-limit rejections /s", "reqps", [
            ("sum by (reason) (rate(easypay_auth_failures_total[5m]))", "auth {{reason}}"),
            ("sum by (scope) (rate(easypay_rate_limit_rejections_total[5m]))", "429 {{scope}}")]),
    ]),
    ("Queues", [
        ("Queue depth (waiting; autoscale on this)", "none", [("max by (queue) (easypay_queue_depth)", "{{queue}}")]),
        ("Oldest waiting message age", "s", [("max by (queue) (easypay_queue_oldest_message_age_seconds)", "{{queue}}")]),
        ("In progress and delayed", "none", [
            ("max by (queue) (easypay_queue_in_progress)", "in progress {{queue}}"),
            ("max by (queue) (easypay_queue_delayed)", "delayed {{queue}}")]),
        ("Dead letters", "none", [("max by (queue) (easypay_queue_dead_letters)", "{{queue}}")]),
        ("Messages processed, errors and retries /s (Dramatiq)", "ops", [
            ("sum by (actor_name) (rate(dramatiq_messages_total[5m]))", "done {{actor_name}}"),
            ("sum by (actor_name) (rate(dramatiq_message_errors_total[5m]))", "errors {{actor_name}}"),
            ("sum by (actor_name) (rate(dramatiq_message_retries_total[5m]))", "retries {{actor_name}}")]),
        ("Message duration p50 / p99 (Dramatiq)", "ms", [
            ("histogram_quantile(0.5, sum by (le, actor_name) (rate(dramatiq_message_duration_milliseconds_bucket[5m])))", "p50 {{actor_name}}"),
            ("histogram_quantile(0.99, sum by (le, actor_name) (rate(dramatiq_message_duration_milliseconds_bucket[5m])))", "p99 {{actor_name}}")]),
        ("Messages in progress vs threads", "none", [
            ("sum by (queue_name) (dramatiq_messages_inprogress)", "busy {{queue_name}}"),
            ("sum by (pool) (easypay_worker_threads)", "threads {{pool}}")]),
    ]),
    ("Processor (Authorize.net)", [
        ("Calls/s by operation and outcome", "reqps", [
            ("sum by (operation, outcome) (rate(easypay_processor_requests_total[5m]))", "{{operation}} {{outcome}}")]),
        ("Latency p50 / p99 by operation", "s", [
            ("histogram_quantile(0.5, sum by (le, operation) (rate(easypay_processor_request_duration_seconds_bucket[5m])))", "p50 {{operation}}"),
            ("histogram_quantile(0.99, sum by (le, operation) (rate(easypay_processor_request_duration_seconds_bucket[5m])))", "p99 {{operation}}")]),
        ("Outcomes lost (left for reconciliation) /s", "ops", [
            ("sum(rate(easypay_payments_outcome_unknown_total[5m]))", "outcome unknown")]),
    ]),
    ("Webhooks", [
        ("Deliveries/s by outcome", "ops", [
            ("sum by (outcome) (rate(easypay_webhook_deliveries_total[5m]))", "{{outcome}}")]),
        ("Delivery latency p50 / p99", "s", [
            ("histogram_quantile(0.5, sum by (le) (rate(easypay_webhook_delivery_duration_seconds_bucket[5m])))", "p50"),
            ("histogram_quantile(0.99, sum by (le) (rate(easypay_webhook_delivery_duration_seconds_bucket[5m])))", "p99")]),
        ("Dead letters (15 min)", "none", [
            ("sum(increase(easypay_webhook_dead_letters_total[15m]))", "dead-lettered deliveries"),
            ('max(easypay_queue_dead_letters{queue="webhooks"})', "broker dead letters")]),
    ]),
    ("Business", [
        ("Payments accepted/s by method", "ops", [
            ("sum by (method) (rate(easypay_payments_accepted_total[5m]))", "{{method}}")]),
        ("Payment outcomes/s by status", "ops", [
            ("sum by (status) (rate(easypay_payment_outcomes_total[5m]))", "{{status}}")]),
        ("Approval ratio (authorized + captured / decided)", "percentunit", [
            ('sum(rate(easypay_payment_outcomes_total{status=~"authorized|captured"}[15m])) '
             '/ sum(rate(easypay_payment_outcomes_total{status=~"authorized|captured|declined|failed"}[15m]))', "approved")]),
        ("Payments in flight and oldest age", "none", [
            ("max by (status) (easypay_payments_in_flight)", "{{status}}"),
            ("max by (status) (easypay_payments_oldest_in_flight_age_seconds)", "oldest {{status}} (s)")]),
        ("Reconciliation backlog", "none", [
            ("max(easypay_reconciliation_backlog)", "needs reconciliation"),
            ("sum by (result) (rate(easypay_reconciliations_total[15m]))", "reconciled/s {{result}}")]),
        ("Payment methods lost (Redis lost queued cards)", "none", [
            ("sum(increase(easypay_payment_methods_lost_total[1h]))", "failed payment_method_lost, last hour")]),
        ("Payment cache hit ratio", "percentunit", [
            ('sum(rate(easypay_cache_requests_total{operation="get",result="hit"}[5m])) '
             '/ sum(rate(easypay_cache_requests_total{operation="get",result=~"hit|miss"}[5m]))', "hit ratio")]),
    ]),
]


def build() -> dict:
    panels = []
    panel_id = 1
    y = 0
    for row_title, row_panels in ROWS:
        panels.append({"type": "row", "title": row_title, "id": panel_id, "collapsed": False,
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
        panel_id += 1
        y += 1
        for index, (title, unit, targets) in enumerate(row_panels):
            panels.append({
                "type": "timeseries",
                "title": title,
                "id": panel_id,
                "datasource": DS,
                "gridPos": {"h": 8, "w": 8, "x": (index % 3) * 8, "y": y + (index // 3) * 8},
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
                "targets": [
                    {"datasource": DS, "expr": expr, "legendFormat": legend, "refId": chr(ord("A") + i)}
                    for i, (expr, legend) in enumerate(targets)
                ],
            })
            panel_id += 1
        y += ((len(row_panels) + 2) // 3) * 8
    return {
        "uid": "easypay-overview",
        "title": "EasyPay",
        "tags": ["easypay"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-3h", "to": "now"},
        "editable": True,
        "panels": panels,
    }


def render() -> str:
    return json.dumps(build(), indent=2) + "\n"


if __name__ == "__main__":
    OUT.write_text(render())
    print(f"wrote {OUT}")
