"""In-process unit tests: card helpers, the transition table, duplicate-index pruning, schema-order checker."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from lxml import etree

from sandbox import cards, wire
from sandbox.config import Config
from sandbox.ledger import Ledger
from sandbox.transactions import MAX_DUPLICATE_WINDOW_S, TRANSITIONS, IllegalTransition, Txn
from sandbox.wire import ApiError, Card, Envelope, TxnRequest


@pytest.mark.parametrize("number, ok", [("4111111111111111", True), ("4111111111111112", False),
                                        ("41111111a1111111", False), ("", False)])
def test_luhn(number: str, ok: bool) -> None:
    assert cards.luhn_ok(number) is ok


@pytest.mark.parametrize("number, brand", [("6221499053360818", "Discover"), ("3530111333300000", "JCB"),
                                           ("30569309025904", "DinersClub"), ("1234567890123452", None)])
def test_brand(number: str, brand: str | None) -> None:
    assert cards.brand(number) == brand


def test_expiration() -> None:
    assert cards.parse_expiration("2035-12") == (2035, 12)
    assert cards.parse_expiration("1235") == (2035, 12)
    assert cards.parse_expiration("13/35") is None
    now = dt.datetime(2030, 2, 28, tzinfo=dt.timezone.utc)
    assert not cards.is_expired(2030, 2, now)
    assert cards.is_expired(2030, 1, now)


@pytest.mark.parametrize("status", sorted(TRANSITIONS))
@pytest.mark.parametrize("event", ["capture", "void", "settle", "expire"])
def test_transition_table_every_cell(status: str, event: str) -> None:
    led = Ledger(Config())
    t = Txn("1", "authOnlyTransaction", Decimal("1"), status, 0.0, 1, 1)
    allowed = TRANSITIONS[status].get(event)
    if allowed is None:
        with pytest.raises(IllegalTransition):
            led._move(t, event)
        assert t.status == status
    else:
        led._move(t, event)
        assert t.status == allowed


def test_duplicate_index_is_pruned_but_keeps_recent_keys() -> None:
    led = Ledger(Config())
    env = Envelope("createTransactionRequest", "easypay-emulator", "k", None, None, {})

    def req(i: int) -> TxnRequest:
        return TxnRequest("authCaptureTransaction", amount=Decimal("1.00"),
                          card=Card("4111111111111111", "2035-12", None), invoice_number=f"P{i}")

    for i in range(5_000):
        assert led.create(req(i), env).txn.response_code == "1"
    led.clock.advance(MAX_DUPLICATE_WINDOW_S + 1)
    for i in range(5_000, 10_001):  # the 10_001st key triggers a prune of the 5_000 stale ones
        assert led.create(req(i), env).txn.response_code == "1"
    assert len(led._dups) == 5_001
    assert led.create(req(10_000), env).txn.errors[0][0] == "11"
    assert len(led.txns) == 10_001


def test_children_checker() -> None:
    ns = wire.NS
    ok = etree.fromstring(f'<order xmlns="{ns}"><invoiceNumber>1</invoiceNumber><description>d</description></order>')
    assert set(wire.children(ok, "order")) == {"invoiceNumber", "description"}
    bad = etree.fromstring(f'<order xmlns="{ns}"><description>d</description><invoiceNumber>1</invoiceNumber></order>')
    with pytest.raises(ApiError) as e:
        wire.children(bad, "order")
    assert e.value.code == "E00003" and "invalid child element 'invoiceNumber'" in e.value.text
    twice = etree.fromstring(f'<order xmlns="{ns}"><invoiceNumber>1</invoiceNumber><invoiceNumber>2</invoiceNumber>'
                             "</order>")
    with pytest.raises(ApiError):
        wire.children(twice, "order")
    settings = etree.fromstring(f'<transactionSettings xmlns="{ns}"><setting/><setting/></transactionSettings>')
    assert len(wire.children(settings, "transactionSettings")["setting"]) == 2
