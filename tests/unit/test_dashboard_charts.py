"""The payments-per-hour picture: bars per hour stacked by outcome, scaled to a round axis."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from api.dashboard.charts import HEIGHT, hourly_outcomes

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
