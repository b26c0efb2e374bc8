"""The HMAC keys that sign an endpoint's deliveries now: its current secret, plus the previous one
during a rotation's grace. Sealed secrets are opened once per process and kept by their sealed
form (a rotation seals a new one, so a changed secret is never served from the cache)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cachetools import LRUCache

from engine.sealing import SecretBox
from engine.webhooks.signing import key_of

#: Opened secrets kept per process (two per endpoint during a rotation).
CACHED_KEYS = 10_000


class Keyring:
    __slots__ = ("_box", "_keys")

    def __init__(self, box: SecretBox, *, size: int = CACHED_KEYS) -> None:
        self._box = box
        self._keys: LRUCache[tuple[str, str], bytes] = LRUCache(maxsize=size)

    def __repr__(self) -> str:
        return f"Keyring({len(self._keys)} keys)"

    def _key(self, sealed: str, endpoint_id: str) -> bytes:
        cache_key = (sealed, endpoint_id)
        key = self._keys.get(cache_key)
        if key is None:
            key = key_of(self._box.open(sealed, context=endpoint_id))
            self._keys[cache_key] = key
        return key

    def signing_keys(self, row: Any, *, now: datetime) -> list[bytes]:
        """``row`` carries ``endpoint_id``, ``secret_sealed``, ``previous_secret_sealed`` and
        ``previous_secret_expires_at``."""
        endpoint_id = str(row.endpoint_id)
        keys = [self._key(row.secret_sealed, endpoint_id)]
        expires = row.previous_secret_expires_at
        if row.previous_secret_sealed and expires is not None and expires > now:
            keys.append(self._key(row.previous_secret_sealed, endpoint_id))
        return keys
