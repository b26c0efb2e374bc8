"""Dashboard forms that act: each rendered form carries a one-time key, used as the API's
``Idempotency-Key``, so the same form sent twice acts once (the second answer is the first one's).

``once_per_form(form, run)`` checks the key and runs ``run(key)`` — the API's own idempotent
call (``api.idempotent.run_idempotent`` or ``api.lifecycle.run_operation``); a missing key, or one
already used for another form or still in use, is a ``FormRefused`` the page shows.
"""

from __future__ import annotations

import re
from typing import Any, Awaitable, Callable, TypeVar

from api.problems import Problem
from engine.idempotency import IdempotencyKeyInUse, IdempotencyKeyReused

T = TypeVar("T")

#: What the templates render into ``idempotency_key`` (a UUID, plus an action suffix).
FORM_KEY = re.compile(r"^[A-Za-z0-9-]{8,64}$")
ALREADY_SENT = "This form was already sent: reload the page."


class FormRefused(Problem):
    """The form itself was refused (no valid one-time key, or its key already used)."""


async def once_per_form(form: Any, run: Callable[[str], Awaitable[T]]) -> T:
    key = form.get("idempotency_key")
    if not isinstance(key, str) or not FORM_KEY.match(key):
        raise FormRefused(422, "validation_error", "The form has no valid idempotency key: reload the page.")
    try:
        return await run(key)
    except (IdempotencyKeyReused, IdempotencyKeyInUse):
        raise FormRefused(409, "form_already_sent", ALREADY_SENT) from None
