"""The dashboard's pictures, drawn on the server as inline SVG (no script, no chart library, and
nothing the ``Content-Security-Policy`` would refuse: colours are SVG attributes, not styles).

``hourly_outcomes`` turns ``engine.db.activity.payments_per_hour`` into one stacked bar per hour
of the window, by outcome, plus the approval rate: approved (the processor said yes: authorized,
and whatever followed from it) over approved and declined; failed and in-flight payments are
shown but not counted in the rate.

``hourly_latency`` draws ``engine.db.activity.processor_latency``: the processor's median and 95th
percentile answer time per hour, as two lines of points (an hour without a timed charge has none).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from engine.states import PaymentStatus as S

#: Outcome → the statuses it groups, in the order the bars stack (bottom first), and its colour.
OUTCOMES: dict[str, tuple[frozenset[str], str]] = {
    "approved": (frozenset({S.AUTHORIZED, S.CAPTURED, S.PARTIALLY_REFUNDED, S.REFUNDED, S.VOIDED, S.EXPIRED}), "#067647"),
    "declined": (frozenset({S.DECLINED}), "#b42318"),
    "failed": (frozenset({S.FAILED}), "#dc6803"),
    "in_flight": (frozenset({S.PENDING, S.PROCESSING}), "#98a2b3"),
}
_OUTCOME_OF = {status: outcome for outcome, (statuses, _colour) in OUTCOMES.items() for status in statuses}

#: The drawing's size in SVG user units (it scales to the page's width).
WIDTH, HEIGHT = 720, 200
_LEFT, _BOTTOM, _TOP = 36, 22, 8


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    title: str


@dataclass
class HourlyChart:
    hours: int
    #: Payments per outcome over the whole window.
    totals: dict[str, int]
    #: Approved / (approved + declined), in percent; None before any decision.
    approval_rate_pct: float | None
    bars: list[Bar] = field(default_factory=list)
    #: (x, label) under the bars, every few hours; (y, label) on the left.
    x_labels: list[tuple[float, str]] = field(default_factory=list)
    y_labels: list[tuple[float, str]] = field(default_factory=list)
    width: int = WIDTH
    height: int = HEIGHT
    colours: dict[str, str] = field(default_factory=lambda: {o: c for o, (_s, c) in OUTCOMES.items()})


def _nice_ceiling(value: int) -> int:
    """The axis' top: 1, 2 or 5 times a power of ten, at least ``value``."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def hourly_outcomes(rows: list[Any], *, now: dt.datetime, hours: int) -> HourlyChart:
    """One bar per hour, the last ``hours`` hours up to ``now``'s, from ``(hour, status, payments)`` rows."""
    last = now.astimezone(dt.timezone.utc).replace(minute=0, second=0, microsecond=0)
    slots = [last - dt.timedelta(hours=hours - 1 - i) for i in range(hours)]
    index = {slot: i for i, slot in enumerate(slots)}
    counts = [dict.fromkeys(OUTCOMES, 0) for _ in slots]
    for row in rows:
        i = index.get(row.hour.astimezone(dt.timezone.utc))
        outcome = _OUTCOME_OF.get(row.status)
        if i is not None and outcome is not None:
            counts[i][outcome] += int(row.payments)
    totals = {o: sum(c[o] for c in counts) for o in OUTCOMES}
    decided = totals["approved"] + totals["declined"]
    chart = HourlyChart(
        hours=hours, totals=totals, approval_rate_pct=round(100 * totals["approved"] / decided, 1) if decided else None
    )
    top = _nice_ceiling(max([sum(c.values()) for c in counts] + [1]))
    plot_w, plot_h = WIDTH - _LEFT, HEIGHT - _BOTTOM - _TOP
    slot_w = plot_w / hours
    for i, (slot, by_outcome) in enumerate(zip(slots, counts)):
        x, base = _LEFT + i * slot_w + 1, float(HEIGHT - _BOTTOM)
        for outcome, n in by_outcome.items():
            if n == 0:
                continue
            h = plot_h * n / top
            base -= h
            chart.bars.append(Bar(x, round(base, 2), round(slot_w - 2, 2), round(h, 2), OUTCOMES[outcome][1],
                                  f"{slot:%H}:00 UTC · {outcome.replace('_', ' ')}: {n}"))
        if i % 3 == 0:
            chart.x_labels.append((round(x + slot_w / 2, 2), f"{slot:%H}h"))
    chart.y_labels = [(float(HEIGHT - _BOTTOM - plot_h * f), str(int(top * f))) for f in (0, 0.5, 1) if f == 0 or top * f == int(top * f)]
    return chart


#: Percentile → its colour, the median first.
LATENCY_SERIES: dict[str, str] = {"p50": "#1849a9", "p95": "#dc6803"}


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    title: str


@dataclass
class LatencyChart:
    hours: int
    #: The whole window's percentiles (ms) and how many charges were timed; None before any.
    p50_ms: float | None
    p95_ms: float | None
    charges: int
    #: Percentile → its points, oldest hour first, and the same as an SVG ``points`` string.
    points: dict[str, list[Point]] = field(default_factory=dict)
    lines: dict[str, str] = field(default_factory=dict)
    x_labels: list[tuple[float, str]] = field(default_factory=list)
    y_labels: list[tuple[float, str]] = field(default_factory=list)
    width: int = WIDTH
    height: int = HEIGHT
    colours: dict[str, str] = field(default_factory=lambda: dict(LATENCY_SERIES))


def hourly_latency(rows: list[Any], *, now: dt.datetime, hours: int) -> LatencyChart:
    """p50 and p95 per hour, the last ``hours`` hours up to ``now``'s, from ``(hour, p50_ms, p95_ms,
    charges)`` rows (the row with hour None is the whole window)."""
    last = now.astimezone(dt.timezone.utc).replace(minute=0, second=0, microsecond=0)
    slots = [last - dt.timedelta(hours=hours - 1 - i) for i in range(hours)]
    index = {slot: i for i, slot in enumerate(slots)}
    whole = next((row for row in rows if row.hour is None), None)
    chart = LatencyChart(
        hours=hours,
        p50_ms=None if whole is None else round(float(whole.p50_ms), 1),
        p95_ms=None if whole is None else round(float(whole.p95_ms), 1),
        charges=0 if whole is None else int(whole.charges),
        points={name: [] for name in LATENCY_SERIES},
    )
    hourly = [(index[row.hour.astimezone(dt.timezone.utc)], row) for row in rows
              if row.hour is not None and row.hour.astimezone(dt.timezone.utc) in index]
    top = _nice_ceiling(max([int(float(row.p95_ms)) + 1 for _i, row in hourly] + [1]))
    plot_w, plot_h = WIDTH - _LEFT, HEIGHT - _BOTTOM - _TOP
    slot_w = plot_w / hours
    for i, row in hourly:
        x = round(_LEFT + i * slot_w + slot_w / 2, 2)
        for name in LATENCY_SERIES:
            ms = float(getattr(row, f"{name}_ms"))
            chart.points[name].append(Point(x, round(HEIGHT - _BOTTOM - plot_h * ms / top, 2),
                                            f"{slots[i]:%H}:00 UTC · {name}: {ms:.0f} ms ({row.charges} charges)"))
    chart.lines = {name: " ".join(f"{p.x},{p.y}" for p in points) for name, points in chart.points.items()}
    chart.x_labels = [(round(_LEFT + i * slot_w + slot_w / 2, 2), f"{slot:%H}h") for i, slot in enumerate(slots) if i % 3 == 0]
    chart.y_labels = [(float(HEIGHT - _BOTTOM - plot_h * f), str(int(top * f))) for f in (0, 0.5, 1)
                      if f == 0 or top * f == int(top * f)]
    return chart
