"""Webhook signing secrets at rest: AES-256-GCM with a key derived from ``EASYPAY_SECRET_KEY``.

Token ``"v1." + base64url(nonce(12) || ciphertext+tag)``; the endpoint id is authenticated as
associated data, so a sealed secret copied onto another endpoint row does not open.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_PREFIX = "v1."
_INFO = b"easypay:webhook-secret:v1"
_NONCE_BYTES = 12


class SecretUnreadable(Exception):
    """A sealed secret failed authentication (another key, another endpoint, or tampered)."""


class SecretBox:
    __slots__ = ("_aead",)

    def __init__(self, secret_key: bytes) -> None:
        if len(secret_key) < 32:
            raise ValueError("secret_key must be at least 32 bytes")
        self._aead = AESGCM(HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret_key))

    def __repr__(self) -> str:
        return "SecretBox(key=<redacted>)"

    def seal(self, secret: str, *, context: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, secret.encode(), _INFO + b"\x00" + context.encode())
        return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def open(self, token: str, *, context: str) -> str:
        if not token.startswith(_PREFIX):
            raise SecretUnreadable("not a v1 sealed secret")
        raw = base64.urlsafe_b64decode(token[len(_PREFIX) :])
        try:
            return self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _INFO + b"\x00" + context.encode()).decode()
        except InvalidTag:
            raise SecretUnreadable("sealed secret failed authentication") from None
