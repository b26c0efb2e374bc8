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


def test_every_engine_failure_code_is_in_its_docstring_table_and_in_the_readme():
    import re

    from engine import engine_failures
    from tests.conftest import ROOT

    documented = set(re.findall(r"^([a-z_]+)\s{2,}", engine_failures.__doc__ or "", re.MULTILINE)) - {"code"}
    assert documented == set(engine_failures.MESSAGES)
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("### Failure codes") : readme.index("## Authorize.net emulator")]
    assert all(f"`{code}`" in table for code in engine_failures.MESSAGES)
    assert {LOST, EXPIRED} <= set(engine_failures.MESSAGES)
    assert "nothing was charged" in engine_failures.MESSAGES[LOST] and "new request" in engine_failures.MESSAGES[LOST]
