"""Webhook signing secrets at rest: AES-256-GCM with a key derived from ``EASYPAY_SECRET_KEY``.

Token ``"v1." + base64url(nonce(12) || ciphertext+tag)``; the endpoint id is authenticated as
associated data, so a sealed secret copied onto another endpoint row does not open.

During a root-key rotation the box also holds the keys derived from the previous root keys: it
opens what any of them sealed and seals with the current one only; ``reseal`` moves a token onto
the current key (``easypay secret-key reseal``).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from engine.errors import EasyPayError

_PREFIX = "v1."
_INFO = b"easypay:webhook-secret:v1"
_NONCE_BYTES = 12


class SecretUnreadable(EasyPayError):
    """A sealed secret failed authentication (another key, another endpoint, or tampered)."""


def _aead(secret_key: bytes) -> AESGCM:
    if len(secret_key) < 32:
        raise ValueError("secret_key must be at least 32 bytes")
    return AESGCM(HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret_key))


class SecretBox:
    __slots__ = ("_aead", "_previous")

    def __init__(self, secret_key: bytes, *, previous: Sequence[bytes] = ()) -> None:
        self._aead = _aead(secret_key)
        self._previous = tuple(_aead(key) for key in previous)

    def __repr__(self) -> str:
        return "SecretBox(key=<redacted>)"

    def seal(self, secret: str, *, context: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, secret.encode(), _INFO + b"\x00" + context.encode())
        return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def open(self, token: str, *, context: str) -> str:
        return self._open(token, context=context)[0]

    def reseal(self, token: str, *, context: str) -> str | None:
        """``token`` sealed again with the current key, or None when the current key sealed it."""
        secret, current = self._open(token, context=context)
        return None if current else self.seal(secret, context=context)

    def _open(self, token: str, *, context: str) -> tuple[str, bool]:
        """The secret, and whether the current key sealed it."""
        if not token.startswith(_PREFIX):
            raise SecretUnreadable("not a v1 sealed secret")
        raw = base64.urlsafe_b64decode(token[len(_PREFIX) :])
        aad = _INFO + b"\x00" + context.encode()
        for aead in (self._aead, *self._previous):
            try:
                return aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], aad).decode(), aead is self._aead
            except InvalidTag:
                continue
        raise SecretUnreadable("sealed secret failed authentication")
