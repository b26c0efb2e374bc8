"""A sealed method gone before its TTL was lost; gone after it, it expired."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from engine.method_loss import EXPIRED, LOST, gone_method_code

ACCEPTED = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


def test_gone_before_the_ttl_is_lost():
    assert gone_method_code(ACCEPTED, ttl_s=1800, now=ACCEPTED + timedelta(seconds=61)) == LOST
    assert gone_method_code(ACCEPTED, ttl_s=1800, now=ACCEPTED + timedelta(seconds=1799.9)) == LOST


def test_gone_once_the_ttl_passed_is_expired():
    assert gone_method_code(ACCEPTED, ttl_s=1800, now=ACCEPTED + timedelta(seconds=1800)) == EXPIRED
    assert gone_method_code(ACCEPTED, ttl_s=1800, now=ACCEPTED + timedelta(days=2)) == EXPIRED


def test_the_codes_are_the_public_failure_codes():
    assert (LOST, EXPIRED) == ("payment_method_lost", "payment_method_expired")
