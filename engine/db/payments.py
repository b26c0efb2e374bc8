"""Payment rows and their event history (SQLAlchemy Core on an ``AsyncConnection``).

``transition`` is the only writer of ``payments.status``: it locks the row, asks
``engine.states.apply`` for the new status and writes the event row in the same transaction.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from sqlalchemy import bindparam, cast, func, insert, literal, select, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.elements import ClauseElement, TextClause
from sqlalchemy.ext.asyncio import AsyncConnection

from engine.db.models import Payment, PaymentEvent
from engine.db.records import PaymentEventRecord, PaymentRecord
from engine.errors import EasyPayError
from engine.events import PAYMENT_EVENT_TYPES, record_event
from engine.states import HISTORY_EVENT_TYPES, IllegalTransition, PaymentStatus, Trigger, apply
from engine.views import payment_view

payments = Payment.__table__
events = PaymentEvent.__table__
_json_encoder = msgspec.json.Encoder()


_INSERT_EVENT = insert(events)

#: The columns a new payment is inserted with (``engine.payments.payment_values``) and their
#: array types; ``metadata`` and ``billing`` travel as JSON text (the driver encodes no jsonb[]).
_NEW_COLUMNS = (
    ("id", "uuid"), ("merchant_id", "uuid"), ("amount_minor", "bigint"), ("currency", "text"),
    ("capture", "boolean"), ("payment_method_type", "text"), ("card_brand", "text"), ("card_last4", "text"),
    ("card_exp_month", "smallint"), ("card_exp_year", "smallint"), ("invoice_number", "text"),
    ("customer_id", "text"), ("description", "text"), ("metadata", "text"), ("billing", "text"),
)
_JSON_COLUMNS = frozenset({"metadata", "billing"})
_ROW_COLUMNS = ", ".join(f"p.{c.name}" for c in payments.c)
#: The payments and their creation events in one statement (one round trip, one prepared
#: statement whatever the batch size): the rows come back in the order of the arrays.
_INSERT_PAYMENTS = text(
    f"""
    WITH v AS (
        SELECT * FROM unnest({", ".join(f"CAST(:{name} AS {sql_type}[])" for name, sql_type in _NEW_COLUMNS)},
                             CAST(:request_id AS text[])) WITH ORDINALITY
            AS v({", ".join(name for name, _ in _NEW_COLUMNS)}, request_id, ord)
    ), p AS (
        INSERT INTO payments (status, {", ".join(name for name, _ in _NEW_COLUMNS)})
        SELECT :status, {", ".join(f"CAST(v.{name} AS jsonb)" if name in _JSON_COLUMNS else f"v.{name}" for name, _ in _NEW_COLUMNS)}
        FROM v ORDER BY v.ord
        RETURNING {", ".join(c.name for c in payments.c)}
    ), e AS (
        INSERT INTO payment_events (payment_id, merchant_id, type, trigger, from_status, to_status, data, request_id)
        SELECT p.id, p.merchant_id, :created, NULL, NULL, p.status, CAST('{{}}' AS jsonb), v.request_id
        FROM p JOIN v ON v.id = p.id ORDER BY v.ord
    )
    SELECT {_ROW_COLUMNS} FROM p JOIN v ON v.id = p.id ORDER BY v.ord
    """
).columns(*payments.c)


class PaymentNotFound(EasyPayError, LookupError):
    """No payment with that id."""


async def insert_payment(conn: AsyncConnection, values: dict[str, Any], *, request_id: str | None) -> PaymentRecord:
    """Insert a new ``pending`` payment and its creation event."""
    return (await insert_payments(conn, [(values, request_id)]))[0]


async def insert_payments(conn: AsyncConnection, new: list[tuple[dict[str, Any], str | None]]) -> list[PaymentRecord]:
    """Insert (values, request id) as ``pending`` payments with their creation events, in one
    statement; the rows come back in the order given."""
    params: dict[str, Any] = {
        name: [_json_text(values[name]) for values, _ in new] if name in _JSON_COLUMNS else [values[name] for values, _ in new]
        for name, _ in _NEW_COLUMNS
    }
    params["request_id"] = [request_id for _, request_id in new]
    params["status"] = PaymentStatus.PENDING.value
    params["created"] = HISTORY_EVENT_TYPES[PaymentStatus.PENDING]
    return [PaymentRecord._make(row) for row in await conn.execute(_INSERT_PAYMENTS, params)]


def _json_text(value: Any) -> str:
    """As the jsonb columns encode a value (``None`` too: JSON ``null``, not SQL NULL)."""
    return _json_encoder.encode(value).decode()


async def insert_event(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(_INSERT_EVENT, values)


async def get_payment(
    conn: AsyncConnection, payment_id: uuid.UUID, *, merchant_id: uuid.UUID | None = None, for_update: bool = False
) -> PaymentRecord | None:
    query = select(payments).where(payments.c.id == payment_id)
    if merchant_id is not None:
        query = query.where(payments.c.merchant_id == merchant_id)
    if for_update:
        query = query.with_for_update()
    row = (await conn.execute(query)).one_or_none()
    return None if row is None else PaymentRecord._make(row)


async def events_of(conn: AsyncConnection, payment_id: uuid.UUID) -> list[PaymentEventRecord]:
    """The payment's event history, oldest first."""
    query = select(events).where(events.c.payment_id == payment_id).order_by(events.c.id)
    return [PaymentEventRecord._make(row) for row in await conn.execute(query)]


_EVENT_COLUMNS = ("payment_id", "merchant_id", "type", "trigger", "from_status", "to_status", "data", "request_id")
#: Built ``move`` statements by shape: constructing one (an UPDATE … RETURNING every column, as a
#: CTE, and the INSERT reading it) costs more than running it, so each shape is built once.
_MOVES: dict[tuple[Any, ...], Any] = {}
_MOVES_MAX = 256
_dialect = postgresql.dialect()  # type: ignore[no-untyped-call]  # SQLAlchemy leaves dialect constructors unannotated


#: ``_expression_key`` of the expressions seen, by identity (the expression is kept, so its id
#: cannot be reused): compiling one costs tens of microseconds, and callers pass module constants.
_EXPRESSION_KEYS: dict[int, tuple[ClauseElement, str]] = {}


def _expression_key(value: ClauseElement) -> str:
    """An SQL expression's text with its literals inlined (``now()``, ``payments.x + 1``)."""
    known = _EXPRESSION_KEYS.get(id(value))
    if known is not None and known[0] is value:
        return known[1]
    key = str(value.compile(dialect=_dialect, compile_kwargs={"literal_binds": True}))
    if len(_EXPRESSION_KEYS) >= _MOVES_MAX:
        _EXPRESSION_KEYS.clear()
    _EXPRESSION_KEYS[id(value)] = (value, key)
    return key


def move_statement(
    from_status: PaymentStatus,
    trigger: Trigger,
    changes: dict[str, Any],
    unless_in_flight: bool,
    *,
    public_event: tuple[TextClause, ...] = (),
) -> tuple[Any, dict[str, Any]]:
    """The statement for this shape of move, and the parameters of this call.

    ``public_event`` (``engine.db.outcomes``): statements that also write the public event, each
    a CTE of the same ``WITH`` (they read the moved row as ``moved``); the move then also checks
    ``version = :expected_version`` and writes ``updated_at = :updated_at``.
    """
    params: dict[str, Any] = {}
    shape: list[tuple[str, str | None]] = []
    for name, value in changes.items():
        if isinstance(value, ClauseElement):
            shape.append((name, _expression_key(value)))
        else:
            shape.append((name, None))
            params[f"v_{name}"] = value
    key = (from_status, trigger, tuple(shape), unless_in_flight, public_event)
    statement = _MOVES.get(key)
    if statement is None:
        new_status = apply(from_status.value, trigger)
        values = {
            name: value if isinstance(value, ClauseElement) else bindparam(f"v_{name}", type_=payments.c[name].type)
            for name, value in changes.items()
        }
        conditions = [payments.c.id == bindparam("payment_id"), payments.c.status == from_status.value]
        if unless_in_flight:
            conditions.append(payments.c.needs_reconciliation.is_(False))
        updated_at: Any = func.now()
        if public_event:
            conditions.append(payments.c.version == bindparam("expected_version"))
            updated_at = bindparam("updated_at", type_=payments.c.updated_at.type)
        moved = (
            update(payments)
            .where(*conditions)
            .values(status=new_status.value, version=payments.c.version + 1, updated_at=updated_at, **values)
            .returning(payments)
            .cte("moved")
        )
        event = insert(events).from_select(
            _EVENT_COLUMNS,
            select(
                moved.c.id,
                moved.c.merchant_id,
                literal(HISTORY_EVENT_TYPES[new_status]),
                literal(trigger.value),
                literal(from_status.value),
                literal(new_status.value),
                cast(bindparam("event_data", type_=JSONB), JSONB),
                bindparam("event_request_id", type_=events.c.request_id.type),
            ),
        )
        statement = select(moved).add_cte(event.cte("event"))
        for i, part in enumerate(public_event):
            statement = statement.add_cte(part.columns().cte(f"public_event_{i}"))
        if len(_MOVES) >= _MOVES_MAX:
            _MOVES.clear()
        _MOVES[key] = statement
    return statement, params


async def move(
    conn: AsyncConnection,
    payment_id: uuid.UUID,
    trigger: Trigger,
    *,
    from_status: PaymentStatus,
    changes: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
    request_id: str | None = None,
    unless_in_flight: bool = False,
) -> PaymentRecord | None:
    """Compare-and-set ``from_status`` → the state machine's next status for ``trigger``, with
    ``changes`` and its event row, in ONE statement (an UPDATE and an INSERT in one ``WITH``):
    atomic on its own, so it needs no transaction of its own (autocommit is one round trip).

    Returns the row after the change, or None when the payment is not in ``from_status`` (or,
    with ``unless_in_flight``, has a request in flight; or does not exist): nothing is written.
    Writes no public event: ``transition`` adds it where the new status has one.
    """
    statement, params = move_statement(from_status, trigger, changes or {}, unless_in_flight)
    params.update(payment_id=payment_id, event_data=data or {}, event_request_id=request_id)
    row = (await conn.execute(statement, params)).one_or_none()
    return None if row is None else PaymentRecord._make(row)


async def transition(
    conn: AsyncConnection,
    payment_id: uuid.UUID,
    trigger: Trigger,
    *,
    changes: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
    request_id: str | None = None,
    expected_status: PaymentStatus | None = None,
    locked: PaymentRecord | None = None,
) -> PaymentRecord:
    """Apply ``trigger`` to the payment under a row lock; write the status, ``changes`` and one event.

    A status merchants are told about (``engine.events.PAYMENT_EVENT_TYPES``) also records its
    public event, with the payment as it is after the change.

    Raises ``PaymentNotFound`` or ``engine.states.IllegalTransition`` (nothing written).
    ``expected_status`` narrows the move to a compare-and-set from that status, done in the UPDATE
    itself (no locking read first). ``locked`` is the row when the caller already holds its lock
    in this transaction (saves a read).
    """
    if expected_status is not None and locked is None:
        # Compare-and-set in the UPDATE itself (it takes the row lock), event in the same statement.
        row = await move(
            conn, payment_id, trigger, from_status=expected_status, changes=changes, data=data, request_id=request_id
        )
        if row is None:
            current = await get_payment(conn, payment_id)
            if current is None:
                raise PaymentNotFound(str(payment_id))
            raise IllegalTransition(PaymentStatus(current.status), trigger)
        new_status = PaymentStatus(row.status)
    else:
        values = {"version": payments.c.version + 1, "updated_at": func.now(), **(changes or {})}
        current = locked if locked is not None else await get_payment(conn, payment_id, for_update=True)
        if current is None:
            raise PaymentNotFound(str(payment_id))
        if expected_status is not None and current.status != expected_status.value:
            raise IllegalTransition(PaymentStatus(current.status), trigger)
        from_status = current.status
        new_status = apply(from_status, trigger)
        row = PaymentRecord._make(
            (
                await conn.execute(
                    update(payments)
                    .where(payments.c.id == payment_id)
                    .values(status=new_status.value, **values)
                    .returning(payments)
                )
            ).one()
        )
        await insert_event(
            conn,
            payment_id=payment_id,
            merchant_id=row.merchant_id,
            type=HISTORY_EVENT_TYPES[new_status],
            trigger=trigger.value,
            from_status=from_status,
            to_status=new_status.value,
            data=data or {},
            request_id=request_id,
        )
    public_type = PAYMENT_EVENT_TYPES.get(new_status)
    if public_type is not None:
        await record_event(
            conn,
            merchant_id=row.merchant_id,
            type=public_type,
            object_type="payment",
            object_id=row.id,
            snapshot=payment_view(row),
        )
    return row


async def annotate(
    conn: AsyncConnection, payment_id: uuid.UUID, *, changes: dict[str, Any], event_type: str, data: dict[str, Any]
) -> PaymentRecord:
    """Record a fact that is not a status change (e.g. an unknown outcome) with its event row."""
    row = await annotate_if(conn, payment_id, (), changes=changes, event_type=event_type, data=data)
    if row is None:
        raise PaymentNotFound(str(payment_id))
    return row


async def annotate_if(
    conn: AsyncConnection,
    payment_id: uuid.UUID,
    only_if: tuple[Any, ...],
    *,
    changes: dict[str, Any],
    event_type: str,
    data: dict[str, Any],
) -> PaymentRecord | None:
    """``annotate`` as a compare-and-set: ``only_if`` (conditions on the row) is checked in the
    UPDATE itself; when it no longer holds (another writer moved the payment on), nothing is
    written and None is returned."""
    found = (
        await conn.execute(
            update(payments)
            .where(payments.c.id == payment_id, *only_if)
            .values(version=payments.c.version + 1, updated_at=func.now(), **changes)
            .returning(payments)
        )
    ).one_or_none()
    if found is None:
        return None
    row = PaymentRecord._make(found)
    await insert_event(
        conn,
        payment_id=payment_id,
        merchant_id=row.merchant_id,
        type=event_type,
        trigger=None,
        from_status=row.status,
        to_status=row.status,
        data=data,
        request_id=None,
    )
    return row
