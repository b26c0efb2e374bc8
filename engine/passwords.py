"""User passwords: argon2id (argon2-cffi) with its default, current parameters.

A verification costs about a second of CPU, and anyone may ask for one (``POST /v1/auth/token``),
so ``PasswordHashing`` runs at most a few at once per process: a flood of logins queues briefly,
then is turned away (``HashingBusy``) instead of taking every core from the payments.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from engine.errors import EasyPayError

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256

_hasher = PasswordHasher()
#: Verified against when the user does not exist, so both cases cost the same time.
_DUMMY_HASH = _hasher.hash("easypay-no-such-user-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def password_problem(password: str) -> str | None:
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"At least {MIN_PASSWORD_LENGTH} characters."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"At most {MAX_PASSWORD_LENGTH} characters."
    return None


class HashingBusy(EasyPayError):
    """Every password-hashing slot of this process stayed taken for the whole wait."""


class PasswordHashing:
    """At most ``concurrency`` password verifications at once (in threads, off the event loop).

    A caller waits up to ``wait_s`` for a slot. The slot is given back when the hash is done, not
    when the caller goes away: an abandoned request's hash still holds its core until it ends.
    """

    def __init__(self, *, concurrency: int, wait_s: float) -> None:
        self._slots = asyncio.Semaphore(concurrency)
        self._wait_s = wait_s

    async def verify(self, password_hash: str | None, password: str) -> bool:
        if self._slots.locked():
            try:
                await asyncio.wait_for(self._slots.acquire(), timeout=self._wait_s)
            except TimeoutError:
                raise HashingBusy() from None
        else:
            await self._slots.acquire()  # free: taken at once (wait_for with no time left never is)
        hashing = asyncio.ensure_future(asyncio.to_thread(verify_password, password_hash, password))
        hashing.add_done_callback(lambda _: self._slots.release())
        return await asyncio.shield(hashing)
