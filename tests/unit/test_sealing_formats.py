"""The formats of ``engine.sealing`` are frozen: tokens stored before ``SecretBox`` moved into
``engine.sealing`` (webhook secrets and sealed idempotent replies in PostgreSQL, card tokens in
queued messages) still open, and the same nonce still gives the same bytes.

The constants were produced by the code before the move (``engine/webhooks/secretbox.py`` and
``engine/sealing.py`` as they were), with ``os.urandom(n)`` returning ``bytes(range(n))``.
"""

from __future__ import annotations

import base64
import os

import pytest

from engine.sealing import SecretBox, Sealer, SecretUnreadable

ROOT_KEY = b"fixed-test-root-key-0123456789abcdef"
CARD_KEY = b"fixed-test-card-key-0123456789abcdef"
NOW_S = 1_000_000_000

#: (secret, context, token) sealed by the old ``SecretBox(ROOT_KEY)``; base64url with padding.
OLD_BOX_TOKENS = [
    ("whsec_fixed", "endpoint-1", "v1.AAECAwQFBgcICQoL-biLXpRjsHHQIyhb-DQZjvRqtt-d4j8t1BIA"),
    ("whsec_x", "endpoint-1", "v1.AAECAwQFBgcICQoL-biLXpRjrhl56yl9UIDKcBW1uBSteSg="),
    ('{"a":1}', "idempotency:m:k", "v1.AAECAwQFBgcICQoL9fKZGc0NqyF0iqQoRNJLKeCfTkqYn7M="),
]
#: b"card-data" for "payment-1", ttl 3600 s at NOW_S, by the old ``Sealer(ROOT_KEY)`` and by the old
#: ``Sealer(ROOT_KEY, card_keys=[("k1", CARD_KEY)])``.
OLD_CARD_V1 = "v1.AAAAADua2BAAAQIDBAUGBwgJCguNIVKc4fKcj0l7aSwf2OunOqfF5LxWM1jo"
OLD_CARD_V2 = "v2.k1.AAAAADua2BAAAQIDBAUGBwgJCgtLgQa9lxIsiJYCSx1Vdz4ohcUSSZWZBZ0o"


@pytest.fixture
def fixed_nonces(monkeypatch):
    monkeypatch.setattr(os, "urandom", lambda n: bytes(range(n)))


@pytest.mark.parametrize("secret,context,token", OLD_BOX_TOKENS)
def test_a_secret_sealed_before_opens(secret, context, token):
    assert SecretBox(ROOT_KEY).open(token, context=context) == secret
    assert SecretBox(b"n" * 32, previous=[ROOT_KEY]).open(token, context=context) == secret
    assert SecretBox(ROOT_KEY).reseal(token, context=context) is None  # already on the current key
    with pytest.raises(SecretUnreadable):
        SecretBox(ROOT_KEY).open(token, context=context + "x")


@pytest.mark.parametrize("secret,context,token", OLD_BOX_TOKENS)
def test_the_box_still_seals_the_same_bytes(fixed_nonces, secret, context, token):
    assert SecretBox(ROOT_KEY).seal(secret, context=context) == token


def test_card_tokens_sealed_before_open():
    assert Sealer(ROOT_KEY).open(OLD_CARD_V1, context="payment-1", now_s=NOW_S) == b"card-data"
    ring = Sealer(ROOT_KEY, card_keys=[("k1", CARD_KEY)])
    assert ring.open(OLD_CARD_V2, context="payment-1", now_s=NOW_S) == b"card-data"
    assert ring.open(OLD_CARD_V1, context="payment-1", now_s=NOW_S) == b"card-data"


def test_the_sealer_still_seals_the_same_bytes(fixed_nonces):
    assert Sealer(ROOT_KEY).seal(b"card-data", context="payment-1", ttl_s=3600, now_s=NOW_S) == OLD_CARD_V1
    ring = Sealer(ROOT_KEY, card_keys=[("k1", CARD_KEY)])
    assert ring.seal(b"card-data", context="payment-1", ttl_s=3600, now_s=NOW_S) == OLD_CARD_V2


def test_both_round_trip_with_random_nonces():
    box = SecretBox(ROOT_KEY)
    sealed = box.seal("whsec_round", context="endpoint-2")
    assert sealed != box.seal("whsec_round", context="endpoint-2")
    assert box.open(sealed, context="endpoint-2") == "whsec_round"
    sealer = Sealer(ROOT_KEY)
    token = sealer.seal(b"card", context="payment-2", ttl_s=60)
    assert sealer.open(token, context="payment-2") == b"card"


def test_the_two_kinds_use_independent_keys(fixed_nonces):
    """Same root, same nonce, same plaintext: another ciphertext (each kind has its own HKDF label)."""
    box_raw = base64.urlsafe_b64decode(SecretBox(ROOT_KEY).seal("card-data", context="payment-1").removeprefix("v1."))
    card_body = Sealer(ROOT_KEY).seal(b"card-data", context="payment-1", ttl_s=3600, now_s=NOW_S).removeprefix("v1.")
    card_raw = base64.urlsafe_b64decode(card_body + "=" * (-len(card_body) % 4))
    assert box_raw[:12] == card_raw[8:20]  # the same nonce
    assert box_raw[12:21] != card_raw[20:29]  # but not the same key stream
