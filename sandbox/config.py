"""Runtime settings of one emulator process (CLI flags, changeable via /_sandbox/config)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

DEFAULT_LOGIN_ID = "easypay-emulator"
DEFAULT_TRANSACTION_KEY = "EmulatorKey12345"


@dataclass(slots=True)
class Config:
    """Everything that shapes answers. Units are in the names."""

    login_id: str = DEFAULT_LOGIN_ID
    transaction_key: str = DEFAULT_TRANSACTION_KEY
    latency_ms: int = 0  #: added to every XML request
    latency_jitter_ms: int = 0  #: plus uniform(0, jitter) on top of latency_ms
    fail_rate: float = 0.0  #: fraction of XML requests answered 503 (not processed)
    settle_interval_s: float | None = None  #: automatic settlement period; None = only on demand
    #: Merchant filters (off by default, like a fresh sandbox): AVS / CVV results that decline
    #: the transaction with reason 27 (AVS), 65 (card code) or 45 (both).
    avs_reject: frozenset[str] = field(default_factory=frozenset)
    cvv_reject: frozenset[str] = field(default_factory=frozenset)

    #: Fields /_sandbox/config may change at run time.
    MUTABLE = ("latency_ms", "latency_jitter_ms", "fail_rate", "avs_reject", "cvv_reject")

    def public(self) -> dict:
        """JSON view (the transaction key is not shown)."""
        return {
            "login_id": self.login_id,
            "latency_ms": self.latency_ms,
            "latency_jitter_ms": self.latency_jitter_ms,
            "fail_rate": self.fail_rate,
            "settle_interval_s": self.settle_interval_s,
            "avs_reject": sorted(self.avs_reject),
            "cvv_reject": sorted(self.cvv_reject),
        }

    def update(self, changes: dict) -> None:
        """Apply a JSON patch of :attr:`MUTABLE` fields. Raises ValueError on bad input."""
        unknown = set(changes) - set(self.MUTABLE)
        if unknown:
            raise ValueError(f"unknown or read-only fields: {sorted(unknown)}")
        new: dict[str, object] = {}
        for key in ("latency_ms", "latency_jitter_ms"):
            if key in changes:
                v = changes[key]
                if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                    raise ValueError(f"{key} must be a non-negative integer")
                new[key] = v
        if "fail_rate" in changes:
            v = changes["fail_rate"]
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 <= v <= 1:
                raise ValueError("fail_rate must be a number in [0, 1]")
            new["fail_rate"] = float(v)
        for key in ("avs_reject", "cvv_reject"):
            if key in changes:
                v = changes[key]
                if not isinstance(v, list) or not all(isinstance(x, str) and len(x) == 1 for x in v):
                    raise ValueError(f"{key} must be a list of one-letter result codes")
                new[key] = frozenset(x.upper() for x in v)
        for key, value in new.items():
            setattr(self, key, value)

    def copy(self) -> "Config":
        return dataclasses.replace(self)
