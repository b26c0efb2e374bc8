"""A payment's move to a status merchants are told about, and its public event, in ONE statement.

``transition`` writes such a move in a transaction of four round trips (BEGIN, the move with its
history row, the public event with its webhook outbox, COMMIT), because the event carries the
payment as it is after the change. A caller that holds the row as it last wrote it (the charge
job holds the row its claim returned) already knows that: the row, with the changes applied, the
new status, the next version and an ``updated_at`` chosen here. So the event is built first and
written in the same ``WITH`` as the move, which also checks that the row's ``version`` is still
the one in hand (every writer of what the payment object shows moves the version on; the cache
relies on that too). One autocommit statement: atomic on its own, no transaction needed.

When the version moved on meanwhile, nothing is written and None is returned: the caller falls
back to ``transition``.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ClauseElement

from engine.db.payments import move_statement
from engine.db.records import PaymentRecord
from engine.db.webhook_outbox import EVENT_IF_MOVED
from engine.events import PAYMENT_EVENT_TYPES, new_event
from engine.states import PaymentStatus, Trigger, apply
from engine.views import payment_view


def expected_after(current: PaymentRecord, new_status: PaymentStatus, changes: dict[str, Any], updated_at: datetime) -> dict[str, Any]:
    """The row ``move`` will return, from the row in hand (columns set by an SQL expression are
    left out: the payment object reads none of them)."""
    after = current._asdict()
    for name, value in changes.items():
        if isinstance(value, ClauseElement):
            del after[name]
        else:
            after[name] = value
    after.update(status=new_status.value, version=current.version + 1, updated_at=updated_at)
    return after


async def move_and_tell(
    conn: AsyncConnection,
    current: PaymentRecord,
    trigger: Trigger,
    *,
    changes: dict[str, Any],
    data: dict[str, Any],
    request_id: str | None = None,
) -> PaymentRecord | None:
    """Move ``current`` (compare-and-set on its status and version) for ``trigger`` with
    ``changes``, its history row, its public event and the event's webhook deliveries, in one
    statement. Returns the row after the change, or None (nothing written) when the row is no
    longer ``current``. The new status must be one merchants are told about."""
    from_status = PaymentStatus(current.status)
    new_status = apply(from_status, trigger)
    event_type = PAYMENT_EVENT_TYPES[new_status]
    updated_at = datetime.now(timezone.utc)
    view, body = new_event(event_type, payment_view(expected_after(current, new_status, changes, updated_at)))
    statement, params = move_statement(from_status, trigger, changes, False, public_event=EVENT_IF_MOVED)
    params.update(
        payment_id=current.id,
        expected_version=current.version,
        updated_at=updated_at,
        event_data=data,
        event_request_id=request_id,
        event_id=uuid.UUID(view.id),
        event_type=event_type,
        object_type="payment",
        body=body,
        event_created_at=view.created_at,
        event_merchant_id=current.merchant_id,
        delay_s=0.0,
    )
    row = (await conn.execute(statement, params)).one_or_none()
    return None if row is None else PaymentRecord._make(row)
