"""EASYPAY_SECRET_KEY: what production accepts, the previous keys a rotation keeps accepting, and
the development key when none is set.

Development: random, made once per machine user, kept in a file only its owner reads.

A key derived from anything another person can learn (uid, hostname) lets them sign tokens; a random
key kept in a 0600 file is shared by every process of one user (API, pools, scheduler) and by no one
else. Production never uses it: there EASYPAY_SECRET_KEY is required.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping

KEY_BYTES = 32
MIN_DISTINCT_CHARS = 12

#: Keys this repository prints as examples or defaults (benchmarks, an old compose default): anyone can
#: read them, so production refuses them however long they are.
PUBLISHED_KEYS = frozenset({
    "bench-secret-key-0123456789abcdef-0123456789",
    "change-me-development-only-0123456789abcdef",
})


def production_key_problem(raw: str) -> str | None:
    """Why ``raw`` is not fit to be the production key, or None when it is."""
    if raw in PUBLISHED_KEYS:
        return "is published in the EasyPay repository; generate your own (python -c 'import secrets; print(secrets.token_urlsafe(32))')"
    if len(set(raw)) < MIN_DISTINCT_CHARS:
        return f"has fewer than {MIN_DISTINCT_CHARS} distinct characters; use 32+ random characters"
    return None


def previous_keys(raw: str, *, current: bytes, production: bool) -> tuple[bytes, ...]:
    """``EASYPAY_PREVIOUS_SECRET_KEYS`` (comma-separated): keys that still verify and open what they
    signed or sealed, never sign or seal. Each is held to the rules of the main key; raises
    ``ValueError`` with the reason."""
    keys: list[bytes] = []
    for entry in (part.strip() for part in raw.split(",")):
        if not entry:
            continue
        position = f"entry {len(keys) + 1}"
        if len(entry) < 32:
            raise ValueError(f"{position} must be at least 32 characters")
        problem = production_key_problem(entry) if production else None
        if problem:
            raise ValueError(f"{position} {problem}")
        key = entry.encode()
        if key == current:
            raise ValueError(f"{position} is EASYPAY_SECRET_KEY itself")
        if key in keys:
            raise ValueError(f"{position} is listed twice")
        keys.append(key)
    return tuple(keys)


def dev_secret_path(explicit: str, env: Mapping[str, str]) -> str:
    """``explicit`` (``EASYPAY_DEV_SECRET_FILE``) when set, else under the user's state directory."""
    if explicit:
        return explicit
    state_home = env.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(state_home, "easypay", "dev-secret-key")


def load_or_create_dev_secret(path: str) -> tuple[bytes, bool]:
    """The key in ``path``, creating it atomically when absent; True when this call created it."""
    try:
        return _read(path), False
    except FileNotFoundError:
        pass
    os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
    staging = f"{path}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(KEY_BYTES))
        try:
            os.link(staging, path)  # atomic: a concurrent first start keeps whichever key landed first
            created = True
        except FileExistsError:
            created = False
    finally:
        os.unlink(staging)
    return _read(path), created


def _read(path: str) -> bytes:
    if os.stat(path).st_mode & 0o077:
        os.chmod(path, 0o600)
    with open(path) as f:
        key = f.read().strip()
    if len(key) < 2 * KEY_BYTES:
        raise ValueError(f"{path} does not hold a development secret key; delete it to make a new one")
    return key.encode()
