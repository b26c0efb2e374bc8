"""The audit trail: who did what to which object, from where, with what outcome.

Entries carry identifiers only (key id, user id, object id, route template): never a request
body, a secret or card data. ``AuditWriter`` buffers entries in-process and inserts them in
batches (at least every ``flush_interval_s``, and on shutdown), so auditing costs the request
path no database round trip. A hard crash can lose the last ``flush_interval_s`` of entries.

Security events (``is_security_event``: failed authentication, denials, 429s, cross-tenant
probes, key revocations) are never dropped: they wait in their own list, which no overflow
trims, and a request that brings that list to ``max_buffered`` waits for a write (backpressure:
a flood of them slows its own senders down instead of pushing entries out). Only ordinary
entries are dropped, oldest first, when PostgreSQL is unreachable long enough to fill the buffer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import operator
import uuid
from dataclasses import dataclass
from typing import Any, Callable

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from engine.db import audit as repo
from engine.periodic import PeriodicFlusher

log = logging.getLogger(__name__)

#: An entry as the values of ``COLUMNS``, in order: what the writer buffers and copies.
Row = tuple[Any, ...]

#: Entries kept while the database is unreachable; beyond this the oldest ordinary ones are
#: dropped (and logged), and a security event waits for a write.
MAX_BUFFERED = 50_000

#: Actions audited as security events whatever their status.
SECURITY_ACTIONS = frozenset({"authentication_failed", "cross_tenant_probe", "rate_limited", "revoke_api_key"})


@dataclass(frozen=True)
class AuditEntry:
    actor_type: str  # api_key | user | cli | anonymous
    action: str
    outcome: str  # success | failure | denied
    actor_id: str | None = None
    merchant_id: uuid.UUID | None = None
    object_type: str | None = None
    object_id: str | None = None
    method: str | None = None
    route: str | None = None
    status_code: int | None = None
    remote_addr: str | None = None
    request_id: str | None = None


#: The columns an entry fills (the others take their defaults: id, created_at).
COLUMNS = tuple(field.name for field in dataclasses.fields(AuditEntry))
#: An entry's ``COLUMNS`` values as a tuple (its row), in one C call.
row_of: Callable[[AuditEntry], Row] = operator.attrgetter(*COLUMNS)


def is_security_event(entry: AuditEntry) -> bool:
    return entry.action in SECURITY_ACTIONS or entry.status_code in (401, 403, 429)


#: An entry's outcome (``outcome_for``).
AUDIT_OUTCOMES = ("success", "failure", "denied")


def outcome_for(status_code: int) -> str:
    if status_code in (401, 403):
        return "denied"
    return "success" if status_code < 400 else "failure"


async def write_entries(conn: AsyncConnection, entries: list[AuditEntry]) -> None:
    """Insert ``entries`` in ``conn``'s transaction (the CLI audits its changes this way)."""
    if entries:
        # The fields are flat values: a shallow copy (``asdict`` deep-copies each one).
        await repo.insert_audit_logs(conn, [dict(e.__dict__) for e in entries])


async def copy_rows(engine: AsyncEngine, rows: list[Row]) -> None:
    """Insert entries' rows as one statement of their own: a binary ``COPY`` (atomic by itself), so
    the driver encodes the rows, with no SQL construct or parameter dict per entry."""
    if not rows:
        return
    async with engine.connect() as conn:
        if not await repo.copy_audit_logs(conn, rows, columns=COLUMNS):
            # not asyncpg: the portable INSERT
            await repo.insert_audit_logs(conn, [dict(zip(COLUMNS, row)) for row in rows])
            await conn.commit()


class AuditWriter(PeriodicFlusher):
    task_name = "audit-writer"

    def __init__(self, engine: AsyncEngine, *, flush_interval_s: float = 0.2, max_buffered: int = MAX_BUFFERED) -> None:
        super().__init__(interval_s=flush_interval_s)
        self._engine = engine
        self._max_buffered = max_buffered
        #: Rows (``row_of``), not entries: the API's request path builds an entry's row directly
        #: (``api.audit``) and ``COPY`` takes rows.
        self._buffer: list[Row] = []
        self._security: list[Row] = []
        self._lock = asyncio.Lock()

    def record(self, entry: AuditEntry) -> None:
        """Buffer an ordinary entry (dropped, oldest first, if the buffer overflows)."""
        self.record_row(row_of(entry))

    def record_row(self, row: Row) -> None:
        """``record`` of an entry given as its row."""
        self._buffer.append(row)
        if len(self._buffer) > self._max_buffered:
            self._trim()

    async def record_durably(self, entry: AuditEntry) -> None:
        """Buffer a security event, never to be dropped; at ``max_buffered`` of them, wait for a write."""
        await self.record_row_durably(row_of(entry))

    async def record_row_durably(self, row: Row) -> None:
        """``record_durably`` of an entry given as its row."""
        self._security.append(row)
        if len(self._security) >= self._max_buffered:
            await self.flush()

    async def record_any(self, entry: AuditEntry) -> None:
        if is_security_event(entry):
            await self.record_durably(entry)
        else:
            self.record(entry)

    def _trim(self) -> None:
        if len(self._buffer) > self._max_buffered:
            dropped = len(self._buffer) - self._max_buffered
            del self._buffer[:dropped]
            log.error("audit buffer full: dropped %d entries (no security event)", dropped)

    async def flush(self) -> None:
        """Write everything buffered so far (also called by readers of the audit log)."""
        async with self._lock:
            if not self._buffer and not self._security:
                return
            security, self._security = self._security, []
            batch, self._buffer = self._buffer, []
            try:
                await copy_rows(self._engine, security + batch)
            except Exception as exc:  # noqa: BLE001 - keep the entries and retry on the next tick
                log.warning("audit write failed, will retry: %s", type(exc).__name__)
                self._security[:0] = security
                self._buffer[:0] = batch
                self._trim()

