"""``easypay secret-key``: rotate the root key, ``EASYPAY_SECRET_KEY``, and re-seal what it sealed."""

from __future__ import annotations

import secrets
from typing import Any

import click

from easypay.cli.common import emit, json_option, run_async, settings_or_exit
from engine.settings import Settings


@click.group("secret-key")
def secret_key() -> None:
    """The root key (EASYPAY_SECRET_KEY, EASYPAY_PREVIOUS_SECRET_KEYS): rotate it, re-seal under it."""


def _joined(*parts: str) -> str:
    return ",".join(part for part in parts if part)


@secret_key.command("rotate")
@json_option
def secret_key_rotate(as_json: bool) -> None:
    """Print a fresh root key and the environment of the two steps that switch to it.

    Step 1 gives every process the new key as an accepted one (EASYPAY_PREVIOUS_SECRET_KEYS) while
    the current key still signs; step 2, once every process has step 1, makes it the current key
    and keeps the old one accepted. At every moment of either roll-out, every process accepts what
    any other signed. Then run `easypay secret-key reseal`, and drop the old key once
    EASYPAY_JWT_TTL_S has passed and the API keys in use have been used once.
    """
    settings = settings_or_exit()
    fresh = secrets.token_urlsafe(32)
    current = settings.secret_key.decode()
    previous = [key.decode() for key in settings.previous_secret_keys]
    stage = _joined(fresh, *previous)
    switch = _joined(current, *previous)
    ttl_s = settings.access.jwt_ttl_s
    emit(
        as_json,
        {
            "step1": {"EASYPAY_PREVIOUS_SECRET_KEYS": stage},
            "step2": {"EASYPAY_SECRET_KEY": fresh, "EASYPAY_PREVIOUS_SECRET_KEYS": switch},
            "drop_previous_after_s": ttl_s,
        },
        "# Step 1, on every process (API, worker pools, scheduler, CLI); EASYPAY_SECRET_KEY unchanged:\n"
        f"EASYPAY_PREVIOUS_SECRET_KEYS={stage}\n"
        "# Step 2, once every process runs with step 1:\n"
        f"EASYPAY_SECRET_KEY={fresh}\n"
        f"EASYPAY_PREVIOUS_SECRET_KEYS={switch}\n"
        "# Then run `easypay secret-key reseal` with step 2's environment. Drop EASYPAY_PREVIOUS_SECRET_KEYS\n"
        f"# after {ttl_s} s (EASYPAY_JWT_TTL_S) once the API keys in use have each been used (that re-hashes them).",
    )


@secret_key.command("reseal")
@json_option
def secret_key_reseal(as_json: bool) -> None:
    """Seal every stored webhook-endpoint secret and sealed idempotent answer with the current key.

    Opens each with whichever key sealed it (EASYPAY_SECRET_KEY or EASYPAY_PREVIOUS_SECRET_KEYS);
    what is already on the current key is left alone, so running it again is harmless. Exits 1
    if some value opens with none of the keys (they are listed).
    """
    from engine.db.session import make_engine
    from engine.reseal import reseal_all
    from engine.sealing import SecretBox

    async def go(settings: Settings) -> Any:
        engine = make_engine(settings.database)
        try:
            return await reseal_all(engine, SecretBox(settings.secret_key, previous=settings.previous_secret_keys))
        finally:
            await engine.dispose()

    result = run_async(go)
    document = {
        name: {"resealed": c.resealed, "current": c.current, "unreadable": c.unreadable} for name, c in result.items()
    }
    lines = [
        f"{name}: {c.resealed} re-sealed, {c.current} already on the current key, {len(c.unreadable)} unreadable"
        for name, c in result.items()
    ]
    unreadable = [where for c in result.values() for where in c.unreadable]
    lines += [f"unreadable with every key: {where}" for where in unreadable]
    emit(as_json, document, "\n".join(lines))
    if unreadable:
        raise SystemExit(1)
