"""Keyset pagination, the one copy every list uses: order by a tuple of columns ending in a unique
one (``(created_at, id)``, or ``id`` alone), read ``limit + 1`` rows after the cursor's position,
and make the page.

The cursor a client sends is the last item's id (``engine.pages``); its position is the row's
ordering columns, read in the list's own scope, so an id from another merchant (or another
payment's refund) is not a position at all: ``missing`` is raised, as the list's "no such ...".
An ordering on the id alone needs no lookup: the id is the position (a gone entry still pages).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from engine.pages import Page, page_of

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Keyset:
    """A list's order: ``columns`` (the last one unique, the id a cursor names), newest first unless
    ``descending`` is False."""

    columns: tuple[ColumnElement[Any], ...]
    descending: bool = True

    @property
    def id_column(self) -> ColumnElement[Any]:
        return self.columns[-1]


def after(query: Select[Any], keyset: Keyset, position: Sequence[Any] | None, *, limit: int) -> Select[Any]:
    """``query`` with the rows after ``position`` (None: from the start), in order, ``limit + 1`` of
    them (the extra one tells whether more follow)."""
    if position is not None:
        if len(keyset.columns) == 1:
            key, at = keyset.columns[0], position[0]
        else:
            key, at = tuple_(*keyset.columns), tuple_(*position)
        query = query.where(key < at if keyset.descending else key > at)
    order = [c.desc() if keyset.descending else c.asc() for c in keyset.columns]
    return query.order_by(*order).limit(limit + 1)


async def position_of(
    conn: AsyncConnection,
    keyset: Keyset,
    cursor: Any,
    *,
    within: Sequence[ColumnElement[bool]] = (),
    missing: Callable[[str], Exception] = LookupError,
) -> tuple[Any, ...]:
    """Where the row ``cursor`` names sits in the order; raises ``missing(cursor)`` when no such row
    is in the list's scope (``within``: the list's ownership conditions)."""
    if len(keyset.columns) == 1:
        return (cursor,)
    found = (await conn.execute(select(*keyset.columns).where(keyset.id_column == cursor, *within))).one_or_none()
    if found is None:
        raise missing(str(cursor))
    return tuple(found)


async def fetch_page(
    conn: AsyncConnection,
    query: Select[Any],
    keyset: Keyset,
    *,
    limit: int,
    make: Callable[[Any], T],
    starting_after: Any = None,
    within: Sequence[ColumnElement[bool]] = (),
    missing: Callable[[str], Exception] = LookupError,
    key: Callable[[T], Any] = attrgetter("id"),
) -> Page[T]:
    """One page of ``query`` (already filtered and scoped) after ``starting_after`` (an id; see
    ``position_of`` for ``within`` and ``missing``), each row made into an item by ``make``; the next
    cursor is ``key`` of the last item (its id)."""
    position = None
    if starting_after is not None:
        position = await position_of(conn, keyset, starting_after, within=within, missing=missing)
    rows = [make(row) for row in await conn.execute(after(query, keyset, position, limit=limit))]
    return page_of(rows, limit, key=key)


__all__ = ["Keyset", "after", "fetch_page", "position_of"]
