"""engine.sealing: authenticated, expiring, context-bound card-data tokens."""

import base64

import pytest

from engine.sealing import SealError, SealExpired, SealInvalid, Sealer

KEY = b"k" * 32
OTHER_KEY = b"o" * 32
PLAINTEXT = b'{"number":"4111111111111111","cvc":"123"}'
NOW_S = 1_800_000_000.0
CONTEXT = "pay_01HXYZ"


@pytest.fixture
def sealer():
    return Sealer(KEY)


def seal(sealer, plaintext=PLAINTEXT, ttl_s=300):
    return sealer.seal(plaintext, context=CONTEXT, ttl_s=ttl_s, now_s=NOW_S)


def decode(token):
    body = token.removeprefix("v1.")
    return bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def encode(raw):
    return "v1." + base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


def test_round_trip(sealer):
    token = seal(sealer)
    assert sealer.open(token, context=CONTEXT, now_s=NOW_S + 1) == PLAINTEXT
    assert Sealer(KEY).open(token, context=CONTEXT, now_s=NOW_S) == PLAINTEXT


def test_round_trip_with_wall_clock(sealer):
    token = sealer.seal(b"x", context=CONTEXT, ttl_s=60)
    assert sealer.open(token, context=CONTEXT) == b"x"


def test_empty_plaintext(sealer):
    assert sealer.open(seal(sealer, b""), context=CONTEXT, now_s=NOW_S) == b""


def test_token_format(sealer):
    token = seal(sealer)
    assert token.startswith("v1.")
    assert "=" not in token
    raw = decode(token)
    assert int.from_bytes(raw[:8], "big") == int(NOW_S) + 300
    assert len(raw) == 8 + 12 + len(PLAINTEXT) + 16


def test_nonces_are_random(sealer):
    assert seal(sealer) != seal(sealer)


def test_token_does_not_contain_plaintext(sealer):
    token = seal(sealer)
    raw = bytes(decode(token))
    for secret in (b"4111111111111111", b"1111", b"123", PLAINTEXT):
        assert secret not in raw
        assert secret.decode() not in token


def test_expiry(sealer):
    token = seal(sealer, ttl_s=300)
    assert sealer.open(token, context=CONTEXT, now_s=NOW_S + 299.9) == PLAINTEXT
    with pytest.raises(SealExpired):
        sealer.open(token, context=CONTEXT, now_s=NOW_S + 300)
    with pytest.raises(SealExpired):
        sealer.open(token, context=CONTEXT, now_s=NOW_S + 10_000)


def test_expired_is_a_seal_error():
    assert issubclass(SealExpired, SealError)
    assert issubclass(SealInvalid, SealError)


@pytest.mark.parametrize(
    "offset",
    [0, 7, 8, 19, 20, -17, -16, -1],
    ids=["expiry-first", "expiry-last", "nonce-first", "nonce-last", "ciphertext-first", "ciphertext-last", "tag-first", "tag-last"],
)
def test_tampering_with_any_part_is_invalid(sealer, offset):
    raw = decode(seal(sealer))
    raw[offset] ^= 0x01
    with pytest.raises(SealInvalid):
        sealer.open(encode(raw), context=CONTEXT, now_s=NOW_S)


def test_extending_the_expiry_is_invalid(sealer):
    raw = decode(seal(sealer, ttl_s=10))
    raw[:8] = (int(NOW_S) + 10**6).to_bytes(8, "big")
    with pytest.raises(SealInvalid):
        sealer.open(encode(raw), context=CONTEXT, now_s=NOW_S + 100)


def test_truncated_and_extended_tokens_are_invalid(sealer):
    raw = decode(seal(sealer))
    for bad in (raw[:-1], raw[:36], raw[:35], raw + b"\x00"):
        with pytest.raises(SealInvalid):
            sealer.open(encode(bad), context=CONTEXT, now_s=NOW_S)


def test_wrong_context_is_invalid(sealer):
    token = seal(sealer)
    for context in ("pay_other", "pay_01HXYZ ", "PAY_01HXYZ"):
        with pytest.raises(SealInvalid):
            sealer.open(token, context=context, now_s=NOW_S)


def test_wrong_key_is_invalid(sealer):
    token = seal(sealer)
    with pytest.raises(SealInvalid):
        Sealer(OTHER_KEY).open(token, context=CONTEXT, now_s=NOW_S)


@pytest.mark.parametrize(
    "token",
    ["", "v1.", "v2.AAAA", "AAAA", "v1.!!!!", "v1.AAAA=", "v1.A", "v1.AA AA", "v1.AA+/", None, b"v1.AAAA"],
)
def test_bad_format_is_invalid(sealer, token):
    with pytest.raises(SealInvalid):
        sealer.open(token, context=CONTEXT, now_s=NOW_S)


def test_non_canonical_base64_is_invalid(sealer):
    # 8 + 12 + 4 + 16 = 40 bytes -> 54 chars; the last char carries 4 spare bits.
    token = seal(sealer, b"abcd")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(token[-1])
    twin = token[:-1] + alphabet[last ^ 0b01]
    assert decode(twin) == decode(token)
    with pytest.raises(SealInvalid):
        sealer.open(twin, context=CONTEXT, now_s=NOW_S)


def test_error_messages_do_not_contain_plaintext(sealer):
    token = seal(sealer)
    for call in (
        lambda: sealer.open(token, context="other", now_s=NOW_S),
        lambda: sealer.open(token, context=CONTEXT, now_s=NOW_S + 10**6),
    ):
        with pytest.raises(SealError) as info:
            call()
        assert "4111" not in str(info.value)
        assert info.value.__cause__ is None


def test_repr_hides_key_material(sealer):
    text = repr(sealer)
    assert "k" * 8 not in text
    assert KEY.hex() not in text
    assert "redacted" in text


@pytest.mark.parametrize("secret", [b"", b"short", b"x" * 31, "k" * 32])
def test_secret_key_must_be_long_bytes(secret):
    with pytest.raises(ValueError):
        Sealer(secret)


@pytest.mark.parametrize(
    "kwargs",
    [{"context": "", "ttl_s": 60}, {"context": CONTEXT, "ttl_s": 0}, {"context": CONTEXT, "ttl_s": -1}, {"context": CONTEXT, "ttl_s": 1.5}],
)
def test_seal_rejects_bad_arguments(sealer, kwargs):
    with pytest.raises(ValueError):
        sealer.seal(b"x", now_s=NOW_S, **kwargs)


def test_seal_requires_bytes(sealer):
    with pytest.raises(TypeError):
        sealer.seal("text", context=CONTEXT, ttl_s=60)


# ------------------------------------------------------------------ card keys (EASYPAY_CARD_KEYS)

OLD_CARD_KEY = ("kold", b"o" * 40)
NEW_CARD_KEY = ("knew", b"n" * 40)


def test_card_keys_seal_with_the_newest_and_every_key_opens_its_own():
    old_only = Sealer(KEY, card_keys=[OLD_CARD_KEY])
    rotated = Sealer(KEY, card_keys=[NEW_CARD_KEY, OLD_CARD_KEY])
    before = Sealer(KEY).seal(PLAINTEXT, context=CONTEXT, ttl_s=60, now_s=NOW_S)
    by_old = old_only.seal(PLAINTEXT, context=CONTEXT, ttl_s=60, now_s=NOW_S)
    by_new = rotated.seal(PLAINTEXT, context=CONTEXT, ttl_s=60, now_s=NOW_S)
    assert before.startswith("v1.") and by_old.startswith("v2.kold.") and by_new.startswith("v2.knew.")
    for token in (before, by_old, by_new):  # queued before, during and after the rotation
        assert rotated.open(token, context=CONTEXT, now_s=NOW_S) == PLAINTEXT
    assert old_only.open(before, context=CONTEXT, now_s=NOW_S) == PLAINTEXT


def test_a_token_of_a_key_this_process_does_not_hold_is_key_unknown_not_invalid():
    from engine.sealing import SealKeyUnknown

    by_new = Sealer(KEY, card_keys=[NEW_CARD_KEY]).seal(PLAINTEXT, context=CONTEXT, ttl_s=60, now_s=NOW_S)
    with pytest.raises(SealKeyUnknown):
        Sealer(KEY, card_keys=[OLD_CARD_KEY]).open(by_new, context=CONTEXT, now_s=NOW_S)
    with pytest.raises(SealKeyUnknown):
        Sealer(KEY).open(by_new, context=CONTEXT, now_s=NOW_S)


def test_the_key_id_is_authenticated():
    """Renaming the key id (to another key the process holds) fails authentication."""
    same_secret = Sealer(KEY, card_keys=[("kone", b"s" * 40), ("ktwo", b"s" * 40)])
    token = same_secret.seal(PLAINTEXT, context=CONTEXT, ttl_s=60, now_s=NOW_S)
    with pytest.raises(SealInvalid):
        same_secret.open(token.replace("v2.kone.", "v2.ktwo."), context=CONTEXT, now_s=NOW_S)


@pytest.mark.parametrize("card_keys", [[("Bad-Id", b"s" * 40)], [("k1", b"s" * 40), ("k1", b"t" * 40)], [("k1", b"short")]])
def test_bad_card_keys_are_refused(card_keys):
    with pytest.raises(ValueError):
        Sealer(KEY, card_keys=card_keys)
