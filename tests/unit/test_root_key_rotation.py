"""Root-key rotation, piece by piece: ``EASYPAY_PREVIOUS_SECRET_KEYS`` is checked like the main key,
and everything derived from the root key verifies or opens with a previous key while making
anything new with the current one only."""

from __future__ import annotations

import secrets
import time
import uuid

import pytest

from engine.auth import KeyRecords, derive_record_key
from engine.idempotency import IdempotencyKeyReused, StoredKey, StoredResponse, request_fingerprint, request_fingerprints
from engine.sealing import SealInvalid, SecretBox, Sealer, SecretUnreadable
from engine.settings_from_env import SettingsError, load_settings
from engine.tokens import TokenService, derive_jwt_key

OLD = secrets.token_urlsafe(32)
NEW = secrets.token_urlsafe(32)
OTHER = secrets.token_urlsafe(32)


def test_previous_keys_are_parsed_in_order_and_held_to_the_main_keys_rules(tmp_path):
    base = {"EASYPAY_DEV_SECRET_FILE": str(tmp_path / "key"), "EASYPAY_SECRET_KEY": NEW}
    assert load_settings(base).previous_secret_keys == ()
    parsed = load_settings({**base, "EASYPAY_PREVIOUS_SECRET_KEYS": f"{OLD}, {OTHER},"})
    assert parsed.previous_secret_keys == (OLD.encode(), OTHER.encode())
    assert OLD not in repr(parsed)
    for bad, reason in (("short", "at least 32"), (NEW, "EASYPAY_SECRET_KEY itself"), (f"{OLD},{OLD}", "twice")):
        with pytest.raises(SettingsError, match=f"EASYPAY_PREVIOUS_SECRET_KEYS: entry .*{reason}"):
            load_settings({**base, "EASYPAY_PREVIOUS_SECRET_KEYS": bad})
    production = {**base, "EASYPAY_ENV": "production", "EASYPAY_OPS_TOKEN": secrets.token_urlsafe(32)}
    assert load_settings({**production, "EASYPAY_PREVIOUS_SECRET_KEYS": OLD}).previous_secret_keys == (OLD.encode(),)
    for weak in ("a" * 40, "change-me-development-only-0123456789abcdef"):
        with pytest.raises(SettingsError, match="EASYPAY_PREVIOUS_SECRET_KEYS: entry 2"):
            load_settings({**production, "EASYPAY_PREVIOUS_SECRET_KEYS": f"{OLD},{weak}"})


def test_tokens_signed_with_a_previous_key_verify_until_they_expire():
    old = TokenService(derive_jwt_key(OLD.encode()), ttl_s=60)
    rotated = TokenService(derive_jwt_key(NEW.encode()), ttl_s=60, previous_keys=[derive_jwt_key(OLD.encode())])
    alone = TokenService(derive_jwt_key(NEW.encode()), ttl_s=60)
    user = uuid.uuid4()
    minted = old.issue(user_id=user, merchant_id=uuid.uuid4(), role="viewer", version=0).token
    assert rotated.verify(minted) is not None and rotated.verify(minted).actor_id == str(user)
    assert alone.verify(minted) is None
    expired = old.issue(user_id=user, merchant_id=uuid.uuid4(), role="viewer", version=0, now=time.time() - 120).token
    assert rotated.verify(expired) is None
    # New tokens are signed with the current key only.
    fresh = rotated.issue(user_id=user, merchant_id=uuid.uuid4(), role="viewer", version=0).token
    assert alone.verify(fresh) is not None and old.verify(fresh) is None


def test_the_secret_box_opens_with_any_key_seals_with_the_current_and_reseals():
    sealed = SecretBox(OLD.encode()).seal("whsec_x", context="endpoint-1")
    rotated = SecretBox(NEW.encode(), previous=[OLD.encode()])
    assert rotated.open(sealed, context="endpoint-1") == "whsec_x"
    with pytest.raises(SecretUnreadable):
        rotated.open(sealed, context="endpoint-2")
    with pytest.raises(SecretUnreadable):
        SecretBox(NEW.encode()).open(sealed, context="endpoint-1")
    moved = rotated.reseal(sealed, context="endpoint-1")
    assert moved is not None and SecretBox(NEW.encode()).open(moved, context="endpoint-1") == "whsec_x"
    assert rotated.reseal(moved, context="endpoint-1") is None  # already on the current key
    assert SecretBox(OLD.encode()).reseal(sealed, context="endpoint-1") is None


def test_card_tokens_of_the_previous_app_secret_still_open():
    token = Sealer(OLD.encode()).seal(b"card", context="pay_1", ttl_s=60)
    assert Sealer(NEW.encode(), previous_secret_keys=[OLD.encode()]).open(token, context="pay_1") == b"card"
    with pytest.raises(SealInvalid):
        Sealer(NEW.encode()).open(token, context="pay_1")


def test_key_records_signed_with_a_previous_key_verify():
    old = KeyRecords(None, prefix="p", mac_key=derive_record_key(OLD.encode()))  # type: ignore[arg-type]
    rotated = KeyRecords(None, prefix="p", mac_key=derive_record_key(NEW.encode()), previous_mac_keys=[derive_record_key(OLD.encode())])  # type: ignore[arg-type]
    alone = KeyRecords(None, prefix="p", mac_key=derive_record_key(NEW.encode()))  # type: ignore[arg-type]
    raw = old.seal("abc", {"revoked": True}, ttl_s=60)
    assert rotated.open("abc", raw) == {"revoked": True}
    assert alone.open("abc", raw) is None
    assert rotated.open("abd", raw) is None  # still bound to its key id


def test_an_idempotency_fingerprint_of_a_previous_pepper_still_matches():
    old_pepper, new_pepper = b"o" * 32, b"n" * 32
    stored = StoredKey(request_fingerprint(old_pepper, "POST", "/v1/x", b'{"a":1}'), StoredResponse(201, b"{}", None))
    current, *earlier = request_fingerprints((new_pepper, old_pepper), "post", "/v1/x", b'{ "a": 1 }')
    assert current == request_fingerprint(new_pepper, "POST", "/v1/x", b'{"a":1}')
    assert stored.replay_for(current, earlier).status == 201
    with pytest.raises(IdempotencyKeyReused):
        stored.replay_for(current)


def test_rotate_prints_a_stage_and_a_switch_that_both_load(tmp_path):
    import json

    from click.testing import CliRunner

    from easypay.cli import main

    env = {"EASYPAY_DEV_SECRET_FILE": str(tmp_path / "key"), "EASYPAY_SECRET_KEY": OLD, "EASYPAY_PREVIOUS_SECRET_KEYS": OTHER}
    result = CliRunner().invoke(main, ["secret-key", "rotate", "--json"], env=env)
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    fresh = printed["step2"]["EASYPAY_SECRET_KEY"]
    assert fresh not in (OLD, OTHER) and len(fresh) >= 32
    staged = load_settings({**env, **printed["step1"]})
    assert staged.secret_key == OLD.encode() and staged.previous_secret_keys == (fresh.encode(), OTHER.encode())
    switched = load_settings({**env, **printed["step2"]})
    assert switched.secret_key == fresh.encode() and switched.previous_secret_keys == (OLD.encode(), OTHER.encode())
