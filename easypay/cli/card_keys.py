"""``easypay card-keys``: the keyring that seals card data inside queue messages."""

from __future__ import annotations

import secrets
import time

import click

from easypay.cli.common import emit, json_option, settings_or_exit


@click.group("card-keys")
def card_keys() -> None:
    """Card-data keys (EASYPAY_CARD_KEYS): rotate them without losing queued payments."""


@card_keys.command("rotate")
@json_option
def card_keys_rotate(as_json: bool) -> None:
    """Print a new EASYPAY_CARD_KEYS value: a fresh key first (it seals from then on), the current
    keys after it (they still open what they sealed).

    Roll the value out to every API and worker process. Once CARD_MESSAGE_TTL_S has passed since
    the last process switched, the older keys seal nothing still alive: drop them from the list.
    """
    settings = settings_or_exit()
    key_id = f"k{time.strftime('%Y%m%d%H%M', time.gmtime())}"
    if any(existing == key_id for existing, _ in settings.card_keys):
        key_id = f"{key_id[:11]}{secrets.token_hex(2)}"
    current = ",".join(f"{existing}:{secret.decode()}" for existing, secret in settings.card_keys)
    value = f"{key_id}:{secrets.token_urlsafe(32)}" + (f",{current}" if current else "")
    ids = [key_id, *(existing for existing, _ in settings.card_keys)]
    if not settings.card_keys:
        ids.append("(EASYPAY_SECRET_KEY, which keeps opening what it sealed)")
    emit(
        as_json,
        {"EASYPAY_CARD_KEYS": value, "key_ids": ids, "drop_older_after_s": settings.card_message_ttl_s},
        f"EASYPAY_CARD_KEYS={value}\n"
        f"# seals with {key_id} once every API and worker process has it; older keys: {', '.join(ids[1:]) or 'none'}.\n"
        f"# Drop the older keys {settings.card_message_ttl_s} s (CARD_MESSAGE_TTL_S) after the last process switched.",
    )
