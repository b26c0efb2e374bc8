"""One loader for every settings section: the variables come from the fields' annotations
(``engine.settings.from_env``), msgspec converts and checks the bounds.

A variable that is unset or empty (after stripping) leaves the field's default. Lists are
comma-separated (empty entries dropped); booleans take 1/0, true/false, yes/no, on/off; a choice
(``Literal``) matches whatever its case. msgspec's errors name a field (``- at `$.field```): they
are raised again as ``SettingsError`` naming the variable and what it must be, and showing the
value given unless the field is kept out of the repr (URLs with passwords, secrets).
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeVar, get_args, get_origin
from urllib.parse import urlsplit

import msgspec

from engine.errors import EasyPayError

T = TypeVar("T")


class SettingsError(EasyPayError, ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


@dataclasses.dataclass(frozen=True)
class Declared:
    """A configurable field: its variable (``{prefix}`` not yet filled), type and bounds."""

    field: str
    variable: str
    base: Any
    metas: tuple[msgspec.Meta, ...]
    #: Read by a function of ``engine.settings_from_env``, not by ``section``.
    rule: bool
    schemes: tuple[str, ...]
    #: Out of the repr: the value is never shown in an error either.
    secret: bool


def _unwrap(hint: Any) -> tuple[Any, tuple[msgspec.Meta, ...]]:
    """The type under ``Annotated`` and ``| None``, and every ``msgspec.Meta`` met on the way."""
    metas: list[msgspec.Meta] = []
    while True:
        if get_origin(hint) is Annotated:
            hint, *extras = get_args(hint)
            metas.extend(m for m in extras if isinstance(m, msgspec.Meta))
        elif get_origin(hint) in (typing.Union, types.UnionType) and len(get_args(hint)) == 2 and type(None) in get_args(hint):
            [hint] = [arg for arg in get_args(hint) if arg is not type(None)]
        else:
            return hint, tuple(metas)


_DECLARED: dict[Any, tuple[Declared, ...]] = {}


def declared(cls: Any) -> tuple[Declared, ...]:
    """The configurable fields of the dataclass ``cls`` (read from its annotations once)."""
    if cls in _DECLARED:
        return _DECLARED[cls]
    hints = typing.get_type_hints(cls, include_extras=True)
    found = []
    for f in dataclasses.fields(cls):
        base, metas = _unwrap(hints[f.name])
        extra = next((m.extra for m in metas if m.extra and "env" in m.extra), None)
        if extra is not None:
            found.append(Declared(f.name, extra["env"], base, metas, bool(extra.get("rule")), tuple(extra.get("schemes", ())), not f.repr))
    _DECLARED[cls] = tuple(found)
    return _DECLARED[cls]


def variables(cls: type, prefix: str = "") -> dict[str, str]:
    """Field name -> the variable that sets it."""
    return {d.field: d.variable.format(prefix=prefix) for d in declared(cls)}


def variable(cls: type, field: str, prefix: str = "") -> str:
    return variables(cls, prefix)[field]


def raw(env: Mapping[str, str], cls: type, field: str, prefix: str = "") -> str:
    """The stripped value of ``field``'s variable; empty when unset."""
    return env.get(variable(cls, field, prefix), "").strip()


_BOOLEANS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def _prepare(base: Any, value: str) -> Any:
    origin = get_origin(base)
    if origin in (tuple, frozenset, list, set):
        return [part.strip() for part in value.split(",") if part.strip()]
    if base is bool:
        return _BOOLEANS.get(value.lower(), value)
    if origin is Literal:
        return next((c for c in get_args(base) if isinstance(c, str) and c.lower() == value.lower()), value)
    return value


def section(cls: type[T], env: Mapping[str, str], *, prefix: str = "", base: Mapping[str, Any] | None = None) -> T:
    """``cls`` from the variables present in ``env`` over ``base`` (else the fields' defaults)."""
    values = dict(base or {})
    given: dict[str, tuple[Declared, str]] = {}
    for d in declared(cls):
        value = "" if d.rule else env.get(d.variable.format(prefix=prefix), "").strip()
        if value:
            values[d.field] = _prepare(d.base, value)
            given[d.field] = (d, value)
    try:
        result = msgspec.convert(values, type=cls, strict=False)
    except msgspec.ValidationError as exc:
        match = re.search(r"- at `\$\.(\w+)", str(exc))
        if match is None or match.group(1) not in given:
            raise SettingsError(str(exc)) from None
        d, value = given[match.group(1)]
        raise SettingsError(_must_be(d.variable.format(prefix=prefix), expectation(d.base, d.metas), value, d.secret)) from None
    for d, value in given.values():
        if d.schemes:
            check_url(d.variable.format(prefix=prefix), value, d.schemes, secret=d.secret)
    return result


def check_url(name: str, value: str, schemes: tuple[str, ...], *, secret: bool = False) -> str:
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.hostname:
        raise SettingsError(_must_be(name, f"a URL with scheme {' or '.join(schemes)}", value, secret))
    return value


def _must_be(name: str, expected: str, value: str, secret: bool) -> str:
    return f"{name} must be {expected}" + ("" if secret else f", got {value!r}")


def _range(metas: tuple[msgspec.Meta, ...], low: str, high: str) -> str:
    lo = next((getattr(m, low) for m in metas if getattr(m, low) is not None), None)
    hi = next((getattr(m, high) for m in metas if getattr(m, high) is not None), None)
    if lo is not None and hi is not None:
        return f"between {lo} and {hi}"
    return f"at least {lo}" if lo is not None else f"at most {hi}" if hi is not None else ""


def expectation(base: Any, metas: tuple[msgspec.Meta, ...]) -> str:
    """What a value must be, in words, from its type and bounds (or the bound's ``description``)."""
    description = next((m.description for m in metas if m.description), None)
    if description:
        return description
    origin = get_origin(base)
    if origin is Literal:
        *others, last = (str(choice) for choice in get_args(base))
        return f"{', '.join(others)} or {last}" if others else last
    if origin in (tuple, frozenset, list, set):
        count = _range(metas, "min_length", "max_length").removeprefix("between ").replace(" and ", " to ")
        item = expectation(*_unwrap(get_args(base)[0]))
        return "a comma-separated list" + (f" of {count} entries" if count else "") + (f", each {item}" if item != "text" else "")
    if base is bool:
        return "true or false"
    if base in (int, float):
        return f"{'an integer' if base is int else 'a number'} {_range(metas, 'ge', 'le')}".strip()
    if base is str:
        length = _range(metas, "min_length", "max_length")
        pattern = next((m.pattern for m in metas if m.pattern), None)
        return f"{length} characters" if length else f"text matching {pattern}" if pattern else "text"
    return getattr(base, "__name__", str(base))
