"""What every request body must be before a handler sees it; one pass, run by the access guard.

In order: JSON by its ``Content-Type`` (else 415), UTF-8 (else 400), no NUL in the query string,
nesting and string length within limits, no object with the same key twice (the last would
silently win: ``"amount":"1.00","amount":"1000.00"``), and the handler's body type decoded
strictly (``"capture": "false"`` is not a boolean, ``"12"`` is not a month). Litestar converts
bodies leniently for its own reasons (query and path values arrive as text), so the strict decode
here is what decides; it costs a few microseconds on a payment-sized body. Last, no card number in
any text of the body nor in ``Idempotency-Key`` (``api.validation.card_number_problems``).
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterable
from urllib.parse import parse_qsl

import msgspec
from litestar import Request
from litestar.exceptions import SerializationException
from litestar.handlers import BaseRouteHandler

from api.problems import FieldProblem, Problem, field_path, validation_problem
from api.validation import card_number_problems, may_hold_card_text
from api.state import app_state
from engine.jsonlimits import too_deep, too_long_string

_JSON_MEDIA_TYPE = re.compile(r"^\s*application/json\s*(;.*)?$", re.IGNORECASE)
#: A string followed by white space and a colon: a key the fast duplicate check cannot count.
_SPACED_COLON = re.compile(rb'"\s+:')
_LOCATION = re.compile(r"- at `\$\.?([^`]*)`")


class _DuplicateKey(ValueError):
    pass


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen[key] = value
    return seen


def _key_count(value: Any) -> int:
    """Object keys in a decoded JSON value, all levels (iterative: no generator per container)."""
    count = 0
    stack = [value]
    children: Iterable[Any]
    while stack:
        item = stack.pop()
        if type(item) is dict:
            count += len(item)
            children = item.values()
        elif type(item) is list:
            children = item
        else:
            continue
        stack.extend(child for child in children if type(child) is dict or type(child) is list)
    return count


def duplicate_key(body: bytes, decoded: Any) -> str | None:
    """A key that appears twice in one object of ``body``, or None (``decoded``: the body, decoded).

    Fast path: every object key written ``"key":`` adds one ``":`` to the text, and a string value
    can only add more; so when no key has space before its colon and the text holds exactly as many
    ``":`` as the decoded objects hold keys, no key was given twice. Otherwise the exact check.
    """
    if _SPACED_COLON.search(body) is None and body.count(b'":') == _key_count(decoded):
        return None
    try:
        json.loads(body, object_pairs_hook=_refuse_duplicates)
    except _DuplicateKey as exc:
        return str(exc)
    except ValueError:  # not JSON at all: the decoder says so
        return None
    return None


def _field_of(message: str) -> str:
    """``payment_method.card.exp_month`` from msgspec's "… - at `$.payment_method.card.exp_month`"."""
    location = _LOCATION.search(message)
    return field_path(location.group(1) if location else None, message)


def decode_strict(body: bytes, type_: Any) -> Any:
    """``body`` as ``type_``, no coercion; a 422 naming the field, or 400 for what is not JSON."""
    try:
        return msgspec.json.decode(body, type=type_, strict=True)
    except msgspec.ValidationError as exc:
        message = str(exc)
        raise validation_problem([FieldProblem(_field_of(message), message)]) from None
    except msgspec.DecodeError:
        raise Problem(400, "invalid_json", "The request body is not valid JSON.") from None


def decode_optional(body: bytes, type_: Any) -> Any:
    """An optional JSON body: empty (or only whitespace) means ``type_()``'s defaults."""
    if not body.strip():
        return type_()
    return decode_strict(body, type_)


def _refuse_nul_in_query(query_string: bytes) -> None:
    if b"%00" not in query_string and b"\x00" not in query_string:
        return
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            raise validation_problem([FieldProblem(name.replace("\x00", "") or "query", "Must not contain NUL characters.")])


def _header(request: Request[Any, Any, Any], name: bytes) -> str | None:
    """The first ``name`` header (lower case, as ASGI servers give them), without building a header object."""
    for key, value in request.scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


async def check_body(request: Request[Any, Any, Any], route_handler: BaseRouteHandler) -> None:
    access = app_state(request.app).settings.access
    body = await request.body()
    if not body.strip():
        if problems := card_number_problems(None, _header(request, b"idempotency-key")):
            raise validation_problem(problems)
        return
    content_type = _header(request, b"content-type") or ""
    if not _JSON_MEDIA_TYPE.match(content_type):
        raise Problem(
            415,
            "unsupported_media_type",
            "Request bodies must be JSON, sent with Content-Type: application/json.",
            errors=[FieldProblem("Content-Type", f"Expected application/json, got {content_type[:80] or 'none'}.")],
        )
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Problem(
            400,
            "invalid_json",
            "The request body is not valid UTF-8.",
            errors=[FieldProblem("body", f"Invalid UTF-8 at byte {exc.start}.")],
        ) from None
    if too_deep(body, access.json_max_depth):
        raise Problem(
            400,
            "json_too_deep",
            f"The JSON body nests objects/arrays deeper than {access.json_max_depth} levels.",
            errors=[FieldProblem("body", f"At most {access.json_max_depth} levels of nesting.")],
        )
    if too_long_string(body, access.json_max_string_length):
        raise Problem(
            422,
            "json_string_too_long",
            f"The JSON body holds a string longer than {access.json_max_string_length} characters.",
            errors=[FieldProblem("body", f"Strings are at most {access.json_max_string_length} characters.")],
        )
    try:
        # Through the request: Litestar keeps the decoded body for the handler's ``data`` (it
        # would decode the body once more otherwise).
        decoded = await request.json()
    except SerializationException:
        raise Problem(400, "invalid_json", "The request body is not valid JSON.") from None
    if (key := duplicate_key(body, decoded)) is not None:
        raise Problem(
            400,
            "duplicate_json_key",
            f"The JSON body gives the key {key!r} more than once in one object.",
            errors=[FieldProblem(key, "Given more than once.")],
        )
    data_field = route_handler.parsed_data_field
    if data_field is not None:
        decode_strict(body, data_field.annotation)
    # Text a write stores in the clear must not be a card number (the body, and the header). The
    # exact walk over every text runs only when a scan of the raw bytes found a candidate.
    texts = decoded if may_hold_card_text(body, decoded) else None
    if problems := card_number_problems(texts, _header(request, b"idempotency-key")):
        raise validation_problem(problems)


async def check_request(request: Request[Any, Any, Any], route_handler: BaseRouteHandler, *, has_body: bool) -> None:
    _refuse_nul_in_query(request.scope.get("query_string", b""))
    if has_body:
        await check_body(request, route_handler)
