"""The developers page's create-key form read into the API's ``ApiKeyCreate``: role, name, expiry
(never, a number of days from now, or a UTC date and time) and per-window rate limits (empty: the
defaults). Only the form's syntax is checked here, each problem naming the API's field
(``expires_at``, ``rate_limits.minute``...); what the values may be (a future expiry, limits within
the caller's ceilings, a role it may hand out) is ``api.keys.create_in_scope``'s, as for the API."""

from __future__ import annotations

import datetime as dt
from typing import Any

from api.keys import ApiKeyCreate
from api.problems import FieldProblem, Problem, validation_problem
from api.validation import card_number_problems
from engine.permissions import ROLES
from engine.ratelimit import WINDOWS

#: The expiry choices besides "never" and "on a date": days from the moment the form is sent.
EXPIRY_DAYS = (7, 30, 90)
NEVER, ON_DATE = "never", "date"
#: The form's rate-limit inputs, one per window of the API's ``rate_limits``.
LIMIT_FIELDS = {window: f"rate_limit_{window}" for window in WINDOWS}


def _text(form: Any, name: str) -> str | None:
    value = form.get(name)
    return (value.strip() or None) if isinstance(value, str) else None


def _expires_at(form: Any, now: dt.datetime, problems: list[FieldProblem]) -> dt.datetime | None:
    """``expires_in`` (never, a number of ``EXPIRY_DAYS``, or date) and ``expires_at`` (a
    ``datetime-local`` value, read as UTC). A date given with the choice left at its default
    "never" is used: filling the date is the clearer intent."""
    choice = _text(form, "expires_in") or NEVER
    on = _text(form, "expires_at")
    if choice == NEVER and on is None:
        return None
    if choice.isdigit() and int(choice) in EXPIRY_DAYS:
        if on is not None:
            problems.append(FieldProblem("expires_at", "Choose either a number of days or a date, not both."))
            return None
        return now + dt.timedelta(days=int(choice))
    if choice not in (NEVER, ON_DATE):
        problems.append(FieldProblem("expires_at", f"Choose never, {', '.join(map(str, EXPIRY_DAYS))} days or a date."))
        return None
    if on is None:
        problems.append(FieldProblem("expires_at", "Give the date and time the key expires (UTC)."))
        return None
    try:
        at = dt.datetime.fromisoformat(on)
    except ValueError:
        problems.append(FieldProblem("expires_at", "Must be a date and time like 2030-01-31T12:00 (UTC)."))
        return None
    return at.replace(tzinfo=dt.timezone.utc) if at.tzinfo is None else at


def _rate_limits(form: Any, problems: list[FieldProblem]) -> dict[str, int] | None:
    limits: dict[str, int] = {}
    for window, name in LIMIT_FIELDS.items():
        raw = _text(form, name)
        if raw is None:
            continue
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 10:
            problems.append(FieldProblem(f"rate_limits.{window}", "Must be a whole number of requests."))
        else:
            limits[window] = int(raw)
    return limits or None


def key_create(form: Any, now: dt.datetime) -> ApiKeyCreate:
    """The form as the API's create body; a ``422`` naming each malformed field."""
    problems: list[FieldProblem] = []
    role, name, merchant_id = (_text(form, f) for f in ("role", "name", "merchant_id"))
    if role not in ROLES:
        problems.append(FieldProblem("role", "Choose a role."))
    if name is not None:
        if len(name) > 200:
            problems.append(FieldProblem("name", "At most 200 characters."))
        problems += card_number_problems({"name": name}, None)  # stored in the clear, as the API refuses
    expires_at = _expires_at(form, now, problems)
    rate_limits = _rate_limits(form, problems)
    if problems:
        raise validation_problem(problems)
    assert role is not None
    return ApiKeyCreate(role=role, name=name, expires_at=expires_at, rate_limits=rate_limits, merchant_id=merchant_id)


def problem_text(problem: Problem) -> str:
    """A problem as the page shows it: its detail, then each field and why."""
    return "; ".join([problem.detail, *(f"{e.field}: {e.message}" for e in problem.errors)])
