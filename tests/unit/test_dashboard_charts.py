"""The payments-per-hour picture (bars per hour stacked by outcome, scaled to a round axis) and the processor latency picture."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from api.dashboard.charts import HEIGHT, hourly_latency, hourly_outcomes

NOW = dt.datetime(2026, 3, 1, 12, 40, tzinfo=dt.timezone.utc)


def _row(hours_ago: int, status: str, payments: int) -> SimpleNamespace:
    hour = NOW.replace(minute=0) - dt.timedelta(hours=hours_ago)
    return SimpleNamespace(hour=hour, status=status, payments=payments)


def test_bars_stack_by_outcome_and_the_rate_counts_decisions_only():
    rows = [_row(0, "captured", 6), _row(0, "declined", 2), _row(0, "pending", 1), _row(5, "refunded", 1), _row(5, "failed", 3)]
    chart = hourly_outcomes(rows, now=NOW, hours=24)
    assert chart.totals == {"approved": 7, "declined": 2, "failed": 3, "in_flight": 1}
    assert chart.approval_rate_pct == 77.8
    assert len(chart.bars) == 5
    last_hour = [b for b in chart.bars if "12:00" in b.title]
    assert [b.title.split(" · ")[1] for b in last_hour] == ["approved: 6", "declined: 2", "in flight: 1"]
    # Stacked bottom up, touching: each bar starts where the one below ends; 9 of an axis of 10.
    assert all(abs(a.y - (b.y + b.height)) < 0.01 for a, b in zip(last_hour, last_hour[1:]))
    assert chart.y_labels[-1][1] == "10" and abs(sum(b.height for b in last_hour) - 0.9 * (HEIGHT - 30)) < 0.1


def test_rows_outside_the_window_and_an_empty_window():
    chart = hourly_outcomes([_row(30, "captured", 4)], now=NOW, hours=24)
    assert chart.bars == [] and chart.totals["approved"] == 0 and chart.approval_rate_pct is None


def _latency(hours_ago: int | None, p50_ms: float, p95_ms: float, charges: int) -> SimpleNamespace:
    hour = None if hours_ago is None else NOW.replace(minute=0) - dt.timedelta(hours=hours_ago)
    return SimpleNamespace(hour=hour, p50_ms=p50_ms, p95_ms=p95_ms, charges=charges)


def test_latency_draws_a_point_per_timed_hour_and_per_percentile():
    rows = [_latency(5, 40.0, 90.0, 3), _latency(0, 20.0, 180.0, 7), _latency(30, 1.0, 9000.0, 1), _latency(None, 25.0, 170.0, 10)]
    chart = hourly_latency(rows, now=NOW, hours=24)
    assert (chart.p50_ms, chart.p95_ms, chart.charges) == (25.0, 170.0, 10)
    assert [p.title for p in chart.points["p50"]] == ["07:00 UTC · p50: 40 ms (3 charges)", "12:00 UTC · p50: 20 ms (7 charges)"]
    assert len(chart.points["p95"]) == 2 and chart.lines["p95"].count(",") == 2
    # The axis is the hours shown (180 ms → 200), not the hour outside the window (9000 ms).
    assert chart.y_labels[-1][1] == "200"
    bottom = HEIGHT - 22
    assert abs((bottom - chart.points["p95"][1].y) - 0.9 * (HEIGHT - 30)) < 0.1


def test_latency_of_an_empty_window():
    chart = hourly_latency([], now=NOW, hours=24)
    assert chart.p50_ms is None and chart.charges == 0 and chart.points == {"p50": [], "p95": []} and chart.lines == {"p50": "", "p95": ""}
