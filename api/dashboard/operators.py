"""``/dashboard/operators`` (admins only): the broker's queues (depth, oldest message age: what
``easypay queues`` and the ``/metrics`` gauges read), the dead letters (``easypay dlq``'s list,
retry and purge), and the payments not progressing (``easypay payments stuck`` and the backlog
gauges), for every merchant or one (``?merchant_id=``: its payments, and the dead letters about
its payments and refunds).

Replay and purge are POST forms (CSRF-checked by the guard, audited like every dashboard POST).
Dead letters are read and repaired through ``jobs.brokers.open_dead_letters``, the interface the
CLI uses, on either broker: asynchronous, so the page never holds the event loop (on RabbitMQ it
reads on a short-lived connection of its own, and a replay publishes through the API's sender,
with its confirms)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncConnection

from api.dashboard.guard import current_session, require_session
from api.ids import parse_id
from api.metrics import SCRAPE_CHECK_TIMEOUT_S, known_queues
from api.problems import Problem
from api.state import AppState
from engine.db import payment_backlog
from jobs.brokers import open_dead_letters
from jobs.dead_letters import DeadLetter, DeadLetters
from jobs.queues import QueueStats

log = logging.getLogger(__name__)

#: What the page shows: dead letters per queue (newest first) and stuck payments (oldest first).
DEAD_LETTERS_SHOWN = 50
STUCK_SHOWN = 100
#: In flight for longer than this is stuck (``easypay payments stuck``'s default).
STUCK_AFTER_S = 300
#: The broker answers a listing within this, or the page says it did not.
BROKER_TIMEOUT_S = 5.0
_OPT = {"dashboard_admin_only": True, "audit_object": "dead_letter"}


def _notice(done: str, count: str) -> str | None:
    if done == "replayed":
        return "Dead letter put back on its queue."
    if done == "purged" and count.isdigit():
        return f"{int(count)} dead letter(s) purged."
    return None


def _dead_letters_of(state: AppState) -> DeadLetters:
    return open_dead_letters(state.settings, state.jobs)


def _merchant(request: Request[Any, Any, Any]) -> uuid.UUID | None:
    raw = request.query_params.get("merchant_id", "").strip()
    if not raw:
        return None
    merchant_id = parse_id(raw)
    if merchant_id is None:
        raise Problem(422, "validation_error", "merchant_id must be a merchant id.")
    return merchant_id


async def _queues(state: AppState) -> list[QueueStats] | None:
    try:
        return await asyncio.wait_for(state.jobs.queue_stats(known_queues(state)), timeout=SCRAPE_CHECK_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - the page says the broker did not answer
        log.warning("queue stats unavailable: %s", type(exc).__name__)
        return None


async def _dead_letters(state: AppState) -> tuple[dict[str, list[DeadLetter]] | None, str | None]:
    """Each queue's newest dead letters, or None and why there are none to show."""
    letters = _dead_letters_of(state)

    async def read() -> dict[str, list[DeadLetter]]:
        return {q: await letters.list(q, limit=DEAD_LETTERS_SHOWN) for q in known_queues(state)}

    try:
        return await asyncio.wait_for(read(), timeout=BROKER_TIMEOUT_S), None
    except Exception as exc:  # noqa: BLE001 - the page says the broker did not answer
        log.warning("dead letters unavailable: %s", type(exc).__name__)
        return None, "The broker did not answer: dead letters cannot be shown."


async def _of_merchant(state: AppState, letters: dict[str, list[DeadLetter]], merchant_id: uuid.UUID) -> dict[str, list[DeadLetter]]:
    """The dead letters about the merchant's payments or refunds (their subject), among each
    queue's newest ``DEAD_LETTERS_SHOWN``."""
    subjects = list({uuid.UUID(d.subject) for found in letters.values() for d in found if d.subject})
    async with state.engine.connect() as conn:
        owned = {str(i) for i in await payment_backlog.owned_by(conn, subjects, merchant_id)}
    return {queue: [d for d in found if d.subject in owned] for queue, found in letters.items()}


@get("/operators", guards=[require_session], opt=_OPT)
async def operators(request: Request[Any, Any, Any], easypay: NamedDependency[AppState]) -> Template:
    merchant_id = _merchant(request)

    async def read(conn: AsyncConnection) -> tuple[Any, list[Any]]:
        backlog = await payment_backlog.backlog(conn, merchant_id=merchant_id)
        stuck = await payment_backlog.list_stuck(conn, older_than_s=STUCK_AFTER_S, limit=STUCK_SHOWN, merchant_id=merchant_id)
        return backlog, stuck

    (backlog, stuck), queues, (letters, letters_note) = await asyncio.gather(easypay.read_router.read(read), _queues(easypay), _dead_letters(easypay))
    if letters is not None and merchant_id is not None:
        letters = await _of_merchant(easypay, letters, merchant_id)
    return Template(
        template_name="operators.html",
        context={
            "session": current_session(request),
            "merchant_id": str(merchant_id) if merchant_id else "",
            "queues": queues,
            "dead_letters": letters,
            "dead_letters_note": letters_note,
            "backlog": backlog,
            "stuck": stuck,
            "stuck_after_s": STUCK_AFTER_S,
            "notice": _notice(request.query_params.get("done", ""), request.query_params.get("count", "")),
        },
    )


async def _queue_of(request: Request[Any, Any, Any], state: AppState) -> tuple[str, Any]:
    """The form's queue (one of the pools' queues: no other broker key is touched) and the form."""
    form = await request.form()
    queue = form.get("queue")
    if queue not in known_queues(state):
        raise Problem(422, "validation_error", "queue must be one of the workers' queues.")
    return str(queue), form


@post("/operators/dead-letters/replay", guards=[require_session], opt={**_OPT, "audit_action": "replay_dead_letter"}, status_code=303)
async def replay(request: Request[Any, Any, Any], easypay: NamedDependency[AppState]) -> Redirect:
    """``easypay dlq retry``: the message back on its queue with a fresh retry budget."""
    queue, form = await _queue_of(request, easypay)
    dead_letter_id = form.get("dead_letter_id")
    if not isinstance(dead_letter_id, str) or not dead_letter_id:
        raise Problem(422, "validation_error", "dead_letter_id is required.")
    done = await _dead_letters_of(easypay).replay(queue, [dead_letter_id])
    if not done.retried:
        raise Problem(404, "dead_letter_not_found", "No such dead letter: already replayed, purged or expired.")
    return Redirect("/dashboard/operators?done=replayed", status_code=303)


@post("/operators/dead-letters/purge", guards=[require_session], opt={**_OPT, "audit_action": "purge_dead_letters"}, status_code=303)
async def purge(request: Request[Any, Any, Any], easypay: NamedDependency[AppState]) -> Redirect:
    """``easypay dlq purge --queue Q --older-than-s N``: dead letters dropped for good."""
    queue, form = await _queue_of(request, easypay)
    raw = str(form.get("older_than_s") or "0").strip()
    if not raw.isdigit():
        raise Problem(422, "validation_error", "older_than_s must be a whole number of seconds.")
    older_than_s = int(raw)
    purged = await _dead_letters_of(easypay).purge(queue, older_than_s=older_than_s)
    return Redirect(f"/dashboard/operators?done=purged&count={purged}", status_code=303)
