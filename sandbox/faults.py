"""Fault rules: injected failures for the XML endpoint (docs/authorizenet.md, "The official SDK's
transport and parser" and "Recovering an unknown outcome").

A rule is ``{"fault": kind, "count": N, "delay_ms": N, "duration_ms": N,
"match": {"method", "transaction_type", "invoice_number", "amount"}}``.
The first rule that matches a request and still has count left applies;
its count is decremented (``-1`` = until cleared). ``refuse_connections`` is
not matched against requests: it acts once, when the rule is posted.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

#: kind -> what it does
KINDS = {
    "latency": "wait delay_ms, then answer normally",
    "hang": "wait delay_ms before processing; process and answer only if the client is still connected",
    "http_500": "answer HTTP 500, not processed",
    "http_503": "answer HTTP 503, not processed",
    "malformed": "answer 200 with truncated XML, not processed",
    "no_bom": "process and commit, answer without the UTF-8 BOM",
    "drop_after_commit": "process and commit, then reset the TCP connection without answering",
    "hang_after_commit": "process and commit, then wait delay_ms before answering",
    "reset_before_commit": "reset the TCP connection without processing",
    "refuse_connections": "stop listening for duration_ms (ECONNREFUSED), closing idle keep-alive connections",
}
MATCH_KEYS = ("method", "transaction_type", "invoice_number", "amount")
_ids = itertools.count(1)


@dataclass(slots=True)
class Rule:
    fault: str
    count: int = 1
    delay_ms: int = 0
    duration_ms: int = 0
    match: dict[str, str] = field(default_factory=dict)
    id: int = field(default_factory=lambda: next(_ids))
    hits: int = 0

    @classmethod
    def from_json(cls, data: object) -> "Rule":
        """Validate a JSON rule. Raises ValueError with a readable message."""
        if not isinstance(data, dict):
            raise ValueError("rule must be a JSON object")
        unknown = set(data) - {"fault", "count", "delay_ms", "duration_ms", "match"}
        if unknown:
            raise ValueError(f"unknown rule fields: {sorted(unknown)}")
        kind = data.get("fault")
        if kind not in KINDS:
            raise ValueError(f"fault must be one of {sorted(KINDS)}")
        ints = {}
        for key, default in (("count", 1), ("delay_ms", 0), ("duration_ms", 0)):
            v = data.get(key, default)
            if not isinstance(v, int) or isinstance(v, bool) or (v < 0 and not (key == "count" and v == -1)):
                raise ValueError(f"{key} must be a non-negative integer" + (" or -1" if key == "count" else ""))
            ints[key] = v
        if kind in ("latency", "hang", "hang_after_commit") and ints["delay_ms"] <= 0:
            raise ValueError(f"{kind} needs delay_ms > 0")
        if kind == "refuse_connections" and ints["duration_ms"] <= 0:
            raise ValueError("refuse_connections needs duration_ms > 0")
        match = data.get("match") or {}
        if not isinstance(match, dict) or set(match) - set(MATCH_KEYS):
            raise ValueError(f"match may only contain {list(MATCH_KEYS)}")
        if not all(isinstance(v, str) for v in match.values()):
            raise ValueError("match values must be strings")
        if "amount" in match:
            try:
                Decimal(match["amount"])
            except InvalidOperation:
                raise ValueError("match.amount must be a decimal string") from None
        return cls(fault=kind, match=dict(match), **ints)

    def matches(self, probe: dict[str, str | None]) -> bool:
        for key, want in self.match.items():
            got = probe.get(key)
            if got is None:
                return False
            if key == "amount":
                try:
                    if Decimal(got) != Decimal(want):
                        return False
                except InvalidOperation:
                    return False
            elif got != want:
                return False
        return True

    def public(self) -> dict:
        return {"id": self.id, "fault": self.fault, "count": self.count, "delay_ms": self.delay_ms,
                "duration_ms": self.duration_ms, "match": self.match, "hits": self.hits}


class FaultBook:
    """The ordered list of rules."""

    def __init__(self) -> None:
        self.rules: list[Rule] = []

    def add(self, rule: Rule) -> None:
        self.rules.append(rule)

    def clear(self) -> None:
        self.rules.clear()

    def take(self, probe: dict[str, str | None]) -> Rule | None:
        """The first matching rule with count left, decremented; None when nothing applies."""
        for rule in self.rules:
            if rule.fault == "refuse_connections" or rule.count == 0:
                continue
            if rule.matches(probe):
                if rule.count > 0:
                    rule.count -= 1
                rule.hits += 1
                return rule
        return None

    def public(self) -> list[dict]:
        return [r.public() for r in self.rules]
