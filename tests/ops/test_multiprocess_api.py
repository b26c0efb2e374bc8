"""`easypay web --workers 2`: one /metrics for the whole API, whichever process answers the scrape."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.conftest import free_port, start_web, stop
from tests.ops.metrics_text import value


def test_two_api_processes_report_the_same_summed_counters(test_env, database, redis_clean, log_dir, tmp_path: Path):
    port = free_port()
    metrics_dir = tmp_path / "metrics"
    env = {**test_env, "EASYPAY_METRICS_DIR": str(metrics_dir), "WEB_PROCESSES": "2"}
    base, proc = start_web(env, log_dir / "web-2.log", port=port)
    try:
        # Both processes have written their metric files (each imports engine.metrics at start).
        shared = metrics_dir / f"web-{port}"
        for _ in range(100):
            pids = {p.stem.rsplit("_", 1)[-1] for p in shared.glob("counter_*.db")}
            if len(pids) >= 2:
                break
            httpx.get(f"{base}/health/live", timeout=5)
        assert len(pids) >= 2, sorted(p.name for p in shared.iterdir())
        before = value(httpx.get(f"{base}/metrics", timeout=10).text, "easypay_http_requests_total", route="/health/live")
        # When: 30 requests, each on a new connection (spread over both processes)
        for _ in range(30):
            with httpx.Client(base_url=base, timeout=5) as client:
                assert client.get("/health/live").status_code == 200
        # Then: every scrape, whichever process serves it, reports all of them
        totals = []
        for _ in range(6):
            with httpx.Client(base_url=base, timeout=10) as client:
                totals.append(value(client.get("/metrics").text, "easypay_http_requests_total", route="/health/live"))
        assert totals == [before + 30] * 6
    finally:
        stop(proc, timeout_s=15)
