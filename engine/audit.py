"""The audit trail: who did what to which object, from where, with what outcome.

Entries carry identifiers only (key id, user id, object id, route template): never a request
body, a secret or card data. ``AuditWriter`` buffers entries in-process and inserts them in
batches (at least every ``flush_interval_s``, and on shutdown), so auditing costs the request
path no database round trip. A hard crash can lose the last ``flush_interval_s`` of entries.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from engine.db.models import AuditLog
from engine.periodic import PeriodicFlusher

log = logging.getLogger(__name__)

audit_logs = AuditLog.__table__
_INSERT = insert(audit_logs)

#: Entries kept while the database is unreachable; beyond this the oldest are dropped (and logged).
MAX_BUFFERED = 50_000


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


def outcome_for(status_code: int) -> str:
    if status_code in (401, 403):
        return "denied"
    return "success" if status_code < 400 else "failure"


async def write_entries(conn: AsyncConnection, entries: list[AuditEntry]) -> None:
    if entries:
        # The fields are flat values: a shallow copy (``asdict`` deep-copies each one).
        await conn.execute(_INSERT, [dict(e.__dict__) for e in entries])


class AuditWriter(PeriodicFlusher):
    task_name = "audit-writer"

    def __init__(self, engine: AsyncEngine, *, flush_interval_s: float = 0.2) -> None:
        super().__init__(interval_s=flush_interval_s)
        self._engine = engine
        self._buffer: list[AuditEntry] = []
        self._lock = asyncio.Lock()

    def record(self, entry: AuditEntry) -> None:
        self._buffer.append(entry)
        if len(self._buffer) > MAX_BUFFERED:
            dropped = len(self._buffer) - MAX_BUFFERED
            del self._buffer[:dropped]
            log.error("audit buffer full: dropped %d entries", dropped)

    async def flush(self) -> None:
        """Write everything buffered so far (also called by readers of the audit log)."""
        async with self._lock:
            if not self._buffer:
                return
            batch, self._buffer = self._buffer, []
            try:
                async with self._engine.begin() as conn:
                    await write_entries(conn, batch)
            except Exception as exc:  # noqa: BLE001 - keep the entries and retry on the next tick
                log.warning("audit write failed, will retry: %s", type(exc).__name__)
                self._buffer[:0] = batch

