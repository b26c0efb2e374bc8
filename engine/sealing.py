"""AES-256-GCM sealing with keys derived (HKDF-SHA256) from a root secret: the one copy of the
mechanism, for its two kinds of tokens.

``Sealer``, card data in queue messages, bound to a context (payment id) and an expiry.
Token: ``"v1." + base64url_nopad(expiry_s as 8-byte big-endian || nonce(12) || ciphertext+tag(16))``
with the key derived from ``EASYPAY_SECRET_KEY``; with card keys (``EASYPAY_CARD_KEYS``, a keyring,
newest first) ``"v2." + key id + "." + the same``, sealed with the newest. The version, the key id,
the expiry and the context are authenticated as associated data, so a token opens only for the
payment it was sealed for, only until it expires, and only with the key it names. Every key of the
ring opens what it sealed, so keys rotate without losing queued payments: add a new key first, drop
the old one once ``CARD_MESSAGE_TTL_S`` has passed (``easypay card-keys rotate``).

``SecretBox``, secrets at rest in PostgreSQL (webhook signing secrets, sealed idempotent replies),
no expiry. Token ``"v1." + base64url(nonce(12) || ciphertext+tag)`` (padded); the context (an
endpoint id, an idempotency key) is authenticated as associated data, so a sealed value copied onto
another row does not open. During a root-key rotation the box also holds the keys derived from the
previous root keys: it opens what any of them sealed and seals with the current one only;
``reseal`` moves a token onto the current key (``easypay secret-key reseal``).

Each use has its own HKDF ``info`` label, so their keys are independent though the root is shared.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import time
from typing import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from engine.errors import EasyPayError

_PREFIX = "v1."
_PREFIX_V2 = "v2."
_HKDF_INFO_V2 = b"easypay:card-message:v2\x00"
_AAD_LABEL_V2 = b"easypay:card-message:v2\x00"
#: A card key's id: short, lower-case letters and digits (it travels in every token).
KEY_ID_RE = re.compile(r"[a-z0-9]{1,16}")
_HKDF_INFO = b"easypay:card-message:v1"
_AAD_LABEL = b"easypay:card-message:v1\x00"
_EXPIRY_BYTES = 8
_NONCE_BYTES = 12
_TAG_BYTES = 16
_MIN_SECRET_BYTES = 32
_B64URL_RE = re.compile(r"[A-Za-z0-9_-]+")
#: ``SecretBox``'s label: its HKDF ``info``, and (NUL, then the context) its associated data.
_BOX_INFO = b"easypay:webhook-secret:v1"


class SealError(EasyPayError):
    """A token could not be opened. Messages never contain plaintext or key material."""


class SealExpired(SealError):
    """The token was genuine but its expiry has passed."""


class SealInvalid(SealError):
    """The token is malformed, tampered with, for another context, or sealed with another key."""


class SealKeyUnknown(SealError):
    """The token names a card key this process does not hold (yet): another process, or this one
    once a key rotation has reached it, can open it. Not a verdict on the token: retry, never fail."""


class SecretUnreadable(SealError):
    """A ``SecretBox`` token failed authentication (another key, another context, or tampered)."""


def _aad(expiry_bytes: bytes, context: str) -> bytes:
    # The expiry is fixed-length, so label || expiry || context is unambiguous.
    return _AAD_LABEL + expiry_bytes + context.encode("utf-8")


def _aad_v2(key_id: str, expiry_bytes: bytes, context: str) -> bytes:
    # The key id is 1-16 characters of [a-z0-9] and NUL-terminated, so the layout is unambiguous.
    return _AAD_LABEL_V2 + key_id.encode("ascii") + b"\x00" + expiry_bytes + context.encode("utf-8")


def _check_context(context: str) -> None:
    if not isinstance(context, str) or not context:
        raise ValueError("context must be a non-empty string")


def _derive(secret: bytes, info: bytes) -> AESGCM:
    if not isinstance(secret, bytes) or len(secret) < _MIN_SECRET_BYTES:
        raise ValueError(f"secret_key must be at least {_MIN_SECRET_BYTES} bytes")
    return AESGCM(HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret))


class Sealer:
    """Seals and opens short-lived card-data tokens: with the newest of ``card_keys`` ((id, secret),
    newest first) when there are any, else with a key derived from the app secret (which always
    still opens its own ``v1`` tokens)."""

    __slots__ = ("_aead", "_previous", "_ring", "_current")

    def __init__(
        self, secret_key: bytes, *, card_keys: Sequence[tuple[str, bytes]] = (), previous_secret_keys: Sequence[bytes] = ()
    ) -> None:
        self._aead = _derive(secret_key, _HKDF_INFO)
        #: Keys of earlier app secrets (a root-key rotation): they still open their ``v1`` tokens.
        self._previous = tuple(_derive(key, _HKDF_INFO) for key in previous_secret_keys)
        self._ring: dict[str, AESGCM] = {}
        for key_id, secret in card_keys:
            if not KEY_ID_RE.fullmatch(key_id) or key_id in self._ring:
                raise ValueError(f"card key id {key_id!r} must be 1-16 lower-case letters or digits, once")
            self._ring[key_id] = _derive(secret, _HKDF_INFO_V2 + key_id.encode())
        self._current = card_keys[0][0] if card_keys else None

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
        if self._current is None:
            sealed = _encrypt(self._aead, plaintext, _aad(expiry_bytes, context))
            prefix = _PREFIX
        else:
            sealed = _encrypt(self._ring[self._current], plaintext, _aad_v2(self._current, expiry_bytes, context))
            prefix = f"{_PREFIX_V2}{self._current}."
        body = base64.urlsafe_b64encode(expiry_bytes + sealed).rstrip(b"=").decode("ascii")
        return prefix + body

    def open(self, token: str, *, context: str, now_s: float | None = None) -> bytes:
        """Decrypt a token sealed for ``context``.

        Raises ``SealInvalid`` for a bad format, tampering, another context or another key, and
        ``SealExpired`` for a genuine token at or after its expiry.
        """
        _check_context(context)
        if isinstance(token, str) and token.startswith(_PREFIX_V2):
            key_id, dot, body = token[len(_PREFIX_V2) :].partition(".")
            if not dot or not KEY_ID_RE.fullmatch(key_id):
                raise SealInvalid("token is not a v2 sealed token")
            aead = self._ring.get(key_id)
            if aead is None:
                raise SealKeyUnknown(f"token was sealed with card key {key_id!r}, which this process does not hold")
            raw = _decode(_PREFIX + body)
            aad = _aad_v2(key_id, raw[:_EXPIRY_BYTES], context)
            aeads: tuple[AESGCM, ...] = (aead,)
        else:
            aeads = (self._aead, *self._previous)
            raw = _decode(token)
            aad = _aad(raw[:_EXPIRY_BYTES], context)
        expiry_bytes = raw[:_EXPIRY_BYTES]
        opened = _decrypt(aeads, raw[_EXPIRY_BYTES:], aad)
        if opened is None:
            raise SealInvalid("token failed authentication (tampered, other context or other key)")
        plaintext = opened[0]
        now_s = time.time() if now_s is None else now_s
        if now_s >= int.from_bytes(expiry_bytes, "big"):
            raise SealExpired("token has expired")
        return plaintext


class SecretBox:
    """Seals and opens secrets at rest (no expiry) with the key of ``secret_key``; the keys of
    ``previous`` root secrets (a root-key rotation) still open what they sealed."""

    __slots__ = ("_aead", "_previous")

    def __init__(self, secret_key: bytes, *, previous: Sequence[bytes] = ()) -> None:
        self._aead = _derive(secret_key, _BOX_INFO)
        self._previous = tuple(_derive(key, _BOX_INFO) for key in previous)

    def __repr__(self) -> str:
        return "SecretBox(key=<redacted>)"

    def seal(self, secret: str, *, context: str) -> str:
        sealed = _encrypt(self._aead, secret.encode(), _BOX_INFO + b"\x00" + context.encode())
        return _PREFIX + base64.urlsafe_b64encode(sealed).decode("ascii")

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
        opened = _decrypt((self._aead, *self._previous), raw, _BOX_INFO + b"\x00" + context.encode())
        if opened is None:
            raise SecretUnreadable("sealed secret failed authentication")
        plaintext, aead = opened
        return plaintext.decode(), aead is self._aead


def _encrypt(aead: AESGCM, plaintext: bytes, aad: bytes) -> bytes:
    """``nonce(12) || ciphertext+tag``, under a fresh random nonce."""
    nonce = os.urandom(_NONCE_BYTES)
    return nonce + aead.encrypt(nonce, plaintext, aad)


def _decrypt(aeads: Sequence[AESGCM], sealed: bytes, aad: bytes) -> tuple[bytes, AESGCM] | None:
    """The plaintext of ``nonce(12) || ciphertext+tag`` and the first of ``aeads`` that opens it,
    or None when none does."""
    nonce, body = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
    for aead in aeads:
        try:
            return aead.decrypt(nonce, body, aad), aead
        except InvalidTag:
            continue
    return None


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
