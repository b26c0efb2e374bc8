"""Every metric the dashboard and the alert rules query is exported by the API or a worker pool
(scraped after real traffic, including a retried job)."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from tests.conftest import ROOT
from tests.helpers import card_payment, wait_final
from tests.ops.metrics_text import names, scrape_until, value

pytestmark = pytest.mark.usefixtures("worker")

#: Synthesised by Prometheus itself for every target, not exported by a process.
PROMETHEUS_SYNTHESISED = {"up"}
#: Exported only by an API with ``DATABASE_READ_URL``: tests/integration/test_read_replica.py
#: scrapes them from an API reading from a real streaming replica.
EXPORTED_WITH_A_REPLICA = {"easypay_db_replica_up", "easypay_db_replica_lag_seconds"}
_METRIC = re.compile(r"\b((?:easypay|dramatiq|process)_[a-zA-Z0-9_]+|up)\b(?=\s*[{\[)\s]|$)")


def _rule_exprs() -> list[str]:
    rules = yaml.safe_load((ROOT / "ops" / "prometheus" / "alerts.yml").read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def _dashboard_exprs() -> list[str]:
    dashboard = json.loads((ROOT / "ops" / "grafana" / "dashboards" / "easypay.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def referenced_metrics() -> set[str]:
    found: set[str] = set()
    for expr in _rule_exprs() + _dashboard_exprs():
        found.update(match.group(1) for match in _METRIC.finditer(expr))
    return found


def test_the_reference_extraction_sees_the_metrics():
    referenced = referenced_metrics()
    assert {"easypay_http_requests_total", "easypay_queue_depth", "dramatiq_messages_total", "up"} <= referenced
    assert not any(name.startswith("easypay_") and name.endswith(("by", "rate")) for name in referenced)


async def test_every_referenced_metric_is_exported(api, merchant, sandbox, worker_metrics_port):
    worker_url = f"http://127.0.0.1:{worker_metrics_port}/metrics"
    # Traffic: one plain payment (the pool is consuming), then one whose first try finds the
    # processor unreachable for longer than the client's connect retries (a Dramatiq retry).
    plain = await api.post("/v1/payments", json=card_payment("42.00"), headers=merchant.headers)
    assert (await wait_final(api, merchant.headers, plain.json()["id"]))["status"] == "captured"
    sandbox.add_fault("refuse_connections", duration_ms=4000)
    retried = await api.post("/v1/payments", json=card_payment("41.00"), headers=merchant.headers)
    assert retried.status_code == 202
    assert (await wait_final(api, merchant.headers, retried.json()["id"]))["status"] == "captured"

    api_text = (await api.get("/metrics")).text
    worker_text = scrape_until(
        worker_url, lambda t: value(t, "dramatiq_message_retries_total", actor_name="process_payment") > 0
    )
    exported = names(api_text) | names(worker_text)
    missing = sorted(referenced_metrics() - exported - PROMETHEUS_SYNTHESISED - EXPORTED_WITH_A_REPLICA)
    assert not missing, f"referenced by the dashboard or alerts but not exported: {missing}"
