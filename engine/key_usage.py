"""``api_keys.last_used_at`` without a database write per request.

``touch`` is a dict write; a background task writes the keys used since the last flush in one
batched UPDATE every ``interval_s``. So ``last_used_at`` is accurate to about ``interval_s``.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone

from sqlalchemy.ext.asyncio import AsyncEngine

from engine.db.api_key_secrets import record_key_uses
from engine.periodic import PeriodicFlusher

log = logging.getLogger(__name__)



class KeyUsageRecorder(PeriodicFlusher):
    task_name = "key-usage"

    def __init__(self, engine: AsyncEngine, *, interval_s: float = 60.0) -> None:
        super().__init__(interval_s=interval_s)
        self._engine = engine
        #: key id -> when it was last used (Unix seconds; made a datetime only when written).
        self._pending: dict[str, float] = {}

    def touch(self, key_id: str) -> None:
        self._pending[key_id] = time.time()

    async def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        try:
            async with self._engine.begin() as conn:
                await record_key_uses(conn, [(k, datetime.fromtimestamp(t, timezone.utc)) for k, t in batch.items()])
        except Exception as exc:  # noqa: BLE001 - last-used is best effort
            log.warning("last_used_at update failed: %s", type(exc).__name__)

