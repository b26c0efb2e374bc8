"""Reading Prometheus text exposition in tests (prometheus-client's own parser)."""

from __future__ import annotations

import time
from typing import Callable

import httpx
from prometheus_client.parser import text_string_to_metric_families


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} of an exposition."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(text: str, name: str, **labels: str) -> float:
    """Sum of the samples called ``name`` whose labels include ``labels`` (0 when none)."""
    wanted = set(labels.items())
    return sum(v for (n, lbls), v in samples(text).items() if n == name and wanted <= set(lbls))


def names(text: str) -> set[str]:
    """Every sample name and family name with at least one sample."""
    out: set[str] = set()
    for family in text_string_to_metric_families(text):
        if family.samples:
            out.add(family.name)
            out.update(sample.name for sample in family.samples)
    return out


def scrape_until(url: str, ready: Callable[[str], bool], *, timeout_s: float = 30.0) -> str:
    """Scrape ``url`` until ``ready(text)`` (worker metrics are written by other processes)."""
    deadline = time.monotonic() + timeout_s
    last = ""
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, timeout=5.0)
            if response.status_code == 200:
                last = response.text
                if ready(last):
                    return last
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} never satisfied the condition; last scrape:\n{last[-3000:]}")
