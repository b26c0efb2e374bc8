"""engine.redis_keys: every family under the deployment's prefix, none inside another."""

from __future__ import annotations

import inspect
import uuid

from engine import redis_keys

PAYMENT = uuid.UUID("00000000-0000-4000-8000-000000000001")


def _every_key(prefix: str) -> dict[str, str]:
    return {
        "payment_snapshot": redis_keys.payment_snapshot(prefix, PAYMENT),
        "payment_changes_channel": redis_keys.payment_changes_channel(prefix),
        "sealed_method": redis_keys.sealed_method(prefix, PAYMENT),
        "resent_guard": redis_keys.resent_guard(prefix, PAYMENT),
        "api_key_record": redis_keys.api_key_record(prefix, "k1"),
        "api_key_failures": redis_keys.api_key_failures(prefix, "k1"),
        "recent_write": redis_keys.recent_write(prefix, "key:k1"),
        "rate_limit_prefix": redis_keys.rate_limit_prefix(prefix),
        "running_job": redis_keys.running_job(prefix, "reconcile"),
        "schedule_claim": redis_keys.schedule_claim(prefix, "reconcile", 7),
        "dashboard_session": redis_keys.dashboard_session(prefix, "ab" * 20),
        "held_messages": redis_keys.held_messages(prefix, "payments", str(PAYMENT)),
    }


def test_every_builder_is_exercised():
    builders = {name for name, value in inspect.getmembers(redis_keys, inspect.isfunction) if value.__module__ == redis_keys.__name__}
    assert builders == set(_every_key("p"))


def test_every_key_is_under_the_prefix_and_the_families_are_distinct():
    keys = _every_key("shop1")
    assert all(key.startswith("shop1:") for key in keys.values())
    families = {name: key.split(":")[1] for name, key in keys.items()}
    # Only the resend guard shares a family: it lives beside the sealed method it guards.
    assert families["resent_guard"] == families["sealed_method"]
    del families["resent_guard"]
    assert len(set(families.values())) == len(families)


def test_each_family_is_drawn_in_the_module_docstring():
    doc = redis_keys.__doc__ or ""
    for key in _every_key("<prefix>").values():
        family = ":".join(key.split(":")[:2])
        assert family in doc, family
