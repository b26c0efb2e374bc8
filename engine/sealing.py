"""Seal card data for queue messages: AES-256-GCM, bound to a context (payment id) and an expiry.

Token: ``"v1." + base64url_nopad(expiry_s as 8-byte big-endian || nonce(12) || ciphertext+tag(16))``.
The version prefix, the expiry and the context are authenticated as associated data, so a token
opens only for the payment it was sealed for, only until it expires, and only with the same key.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import time

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_PREFIX = "v1."
_HKDF_INFO = b"easypay:card-message:v1"
_AAD_LABEL = b"easypay:card-message:v1\x00"
_EXPIRY_BYTES = 8
_NONCE_BYTES = 12
_TAG_BYTES = 16
_MIN_SECRET_BYTES = 32
_B64URL_RE = re.compile(r"[A-Za-z0-9_-]+")


class SealError(Exception):
    """A token could not be opened. Messages never contain plaintext or key material."""


class SealExpired(SealError):
    """The token was genuine but its expiry has passed."""


class SealInvalid(SealError):
    """The token is malformed, tampered with, for another context, or sealed with another key."""


def _aad(expiry_bytes: bytes, context: str) -> bytes:
    # The expiry is fixed-length, so label || expiry || context is unambiguous.
    return _AAD_LABEL + expiry_bytes + context.encode("utf-8")


def _check_context(context: str) -> None:
    if not isinstance(context, str) or not context:
        raise ValueError("context must be a non-empty string")


class Sealer:
    """Seals and opens short-lived card-data tokens with a key derived from the app secret."""

    __slots__ = ("_aead",)

    def __init__(self, secret_key: bytes) -> None:
        if not isinstance(secret_key, bytes) or len(secret_key) < _MIN_SECRET_BYTES:
            raise ValueError(f"secret_key must be at least {_MIN_SECRET_BYTES} bytes")
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(secret_key)
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "Sealer(key=<redacted>)"

    def seal(self, plaintext: bytes, *, context: str, ttl_s: int, now_s: float | None = None) -> str:
        """Encrypt ``plaintext`` for ``context``; the token opens until ``now_s + ttl_s``."""
        if not isinstance(plaintext, bytes):
            raise TypeError("plaintext must be bytes")
        _check_context(context)
        if not isinstance(ttl_s, int) or isinstance(ttl_s, bool) or ttl_s <= 0:
            raise ValueError("ttl_s must be a positive int")
        now_s = time.time() if now_s is None else now_s
        expiry_bytes = (int(now_s) + ttl_s).to_bytes(_EXPIRY_BYTES, "big")
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext, _aad(expiry_bytes, context))
        body = base64.urlsafe_b64encode(expiry_bytes + nonce + sealed).rstrip(b"=").decode("ascii")
        return _PREFIX + body

    def open(self, token: str, *, context: str, now_s: float | None = None) -> bytes:
        """Decrypt a token sealed for ``context``.

        Raises ``SealInvalid`` for a bad format, tampering, another context or another key, and
        ``SealExpired`` for a genuine token at or after its expiry.
        """
        _check_context(context)
        raw = _decode(token)
        expiry_bytes = raw[:_EXPIRY_BYTES]
        nonce = raw[_EXPIRY_BYTES : _EXPIRY_BYTES + _NONCE_BYTES]
        sealed = raw[_EXPIRY_BYTES + _NONCE_BYTES :]
        try:
            plaintext = self._aead.decrypt(nonce, sealed, _aad(expiry_bytes, context))
        except InvalidTag:
            raise SealInvalid("token failed authentication (tampered, other context or other key)") from None
        now_s = time.time() if now_s is None else now_s
        if now_s >= int.from_bytes(expiry_bytes, "big"):
            raise SealExpired("token has expired")
        return plaintext


def _decode(token: object) -> bytes:
    if not isinstance(token, str) or not token.startswith(_PREFIX):
        raise SealInvalid("token is not a v1 sealed token")
    body = token[len(_PREFIX) :]
    if not _B64URL_RE.fullmatch(body) or len(body) % 4 == 1:
        raise SealInvalid("token is not valid base64url")
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        raise SealInvalid("token is not valid base64url") from None
    # Reject non-canonical encodings (stray low bits in the last character).
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != body:
        raise SealInvalid("token is not canonical base64url")
    if len(raw) < _EXPIRY_BYTES + _NONCE_BYTES + _TAG_BYTES:
        raise SealInvalid("token is too short")
    return raw
