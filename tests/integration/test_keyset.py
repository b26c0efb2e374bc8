"""``engine.db.keyset`` on real PostgreSQL: the order is total (equal ``created_at`` broken by id),
pages neither overlap nor skip, ``has_more`` is true only when a row follows, and a cursor outside
the list's scope is refused."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from sqlalchemy import Column, DateTime, Integer, MetaData, Table, select, update

from engine.db import keyset
from engine.db import payments as payment_repo
from engine.db import payment_reads
from engine.payments import NewPayment, accept_payment

_meta = MetaData()
rows_table = Table(
    "keyset_rows",
    _meta,
    Column("id", Integer, primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("owner", Integer, nullable=False),
    prefixes=["TEMPORARY"],
)
ORDER = keyset.Keyset((rows_table.c.created_at, rows_table.c.id))
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


class NoSuchRow(LookupError):
    pass


async def _table(conn: Any, rows: list[tuple[int, dt.datetime, int]]) -> None:
    await conn.run_sync(_meta.create_all)
    if rows:
        await conn.execute(rows_table.insert(), [{"id": i, "created_at": at, "owner": owner} for i, at, owner in rows])


async def _page(conn: Any, *, limit: int, after: Any = None, owner: int = 1, order: keyset.Keyset = ORDER) -> Any:
    mine = [rows_table.c.owner == owner]
    return await keyset.fetch_page(
        conn,
        select(rows_table).where(*mine),
        order,
        limit=limit,
        make=tuple,
        starting_after=after,
        within=mine,
        missing=NoSuchRow,
        key=lambda row: row[0],
    )


async def test_equal_created_at_is_ordered_by_id_and_pages_do_not_overlap(db: Any) -> None:
    # Five rows in the same microsecond, two older ones: newest first is 7..3 by id, then 2, 1.
    same = T0 + dt.timedelta(seconds=10)
    async with db.connect() as conn:
        await _table(conn, [(1, T0, 1), (2, T0 + dt.timedelta(seconds=1), 1), *[(i, same, 1) for i in range(3, 8)]])
        first = await _page(conn, limit=3)
        second = await _page(conn, limit=3, after=int(first.next_cursor))
        third = await _page(conn, limit=3, after=int(second.next_cursor))
    assert [r[0] for r in first.items] == [7, 6, 5] and first.has_more and first.next_cursor == "5"
    assert [r[0] for r in second.items] == [4, 3, 2] and second.has_more and second.next_cursor == "2"
    assert [r[0] for r in third.items] == [1] and not third.has_more and third.next_cursor is None


async def test_an_empty_list_is_one_empty_last_page(db: Any) -> None:
    async with db.connect() as conn:
        await _table(conn, [])
        page = await _page(conn, limit=5)
    assert list(page.items) == [] and page.has_more is False and page.next_cursor is None


async def test_exactly_limit_rows_have_no_next_page_and_one_more_has(db: Any) -> None:
    async with db.connect() as conn:
        await _table(conn, [(i, T0 + dt.timedelta(seconds=i), 1) for i in range(1, 5)])
        exact = await _page(conn, limit=4)
        over = await _page(conn, limit=3)
    assert len(exact.items) == 4 and exact.has_more is False and exact.next_cursor is None
    assert [r[0] for r in over.items] == [4, 3, 2] and over.has_more is True and over.next_cursor == "2"


async def test_a_cursor_outside_the_scope_is_refused_and_other_rows_never_show(db: Any) -> None:
    async with db.connect() as conn:
        await _table(conn, [(1, T0, 1), (2, T0, 2), (3, T0 + dt.timedelta(seconds=1), 1)])
        with pytest.raises(NoSuchRow):
            await _page(conn, limit=5, after=2)  # owner 2's row: not a position in owner 1's list
        with pytest.raises(NoSuchRow):
            await _page(conn, limit=5, after=99)
        page = await _page(conn, limit=5)
    assert [r[0] for r in page.items] == [3, 1]


async def test_oldest_first_and_an_id_only_order(db: Any) -> None:
    by_id = keyset.Keyset((rows_table.c.id,))
    async with db.connect() as conn:
        await _table(conn, [(i, T0, 1) for i in range(1, 6)])
        ascending = await _page(conn, limit=2, after=2, order=keyset.Keyset(ORDER.columns, descending=False))
        # An id-only order takes the id as the position: a gone row still pages.
        gone = await _page(conn, limit=2, after=100, order=by_id)
    assert [r[0] for r in ascending.items] == [3, 4] and ascending.has_more
    assert [r[0] for r in gone.items] == [5, 4] and gone.has_more


async def test_payments_created_in_the_same_instant_page_by_id(db: Any, merchant: Any) -> None:
    """A real list on the helper: ties on ``created_at`` (one batch, one ``now()``) never repeat
    or lose a payment across pages, and another merchant's payment is no cursor."""
    other = uuid.uuid4()
    async with db.begin() as conn:
        ids = [
            (await accept_payment(conn, NewPayment(merchant_id=merchant.id, amount_minor=100 + i, currency="USD", capture=True,
                                                   payment_method_type="card"))).id
            for i in range(5)
        ]
        await conn.execute(update(payment_repo.payments).where(payment_repo.payments.c.id.in_(ids)).values(created_at=T0))
    seen: list[uuid.UUID] = []
    cursor = None
    async with db.connect() as conn:
        while True:
            page = await payment_reads.list_payments(conn, merchant.id, limit=2, starting_after=cursor)
            seen += [row.id for row in page.items]
            if not page.has_more:
                break
            cursor = uuid.UUID(page.next_cursor)
        with pytest.raises(payment_repo.PaymentNotFound):
            await payment_reads.list_payments(conn, other, limit=2, starting_after=ids[0])
    assert seen == sorted(ids, reverse=True)
