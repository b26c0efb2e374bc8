"""The delivery runner: many attempts in flight in one process, recorded and refilled in batches.

One runner per ``webhooks`` worker process, on the process's event loop, sharing one HTTP client.
It holds at most ``slots`` attempts at once. Each attempt, when it ends, joins the finished list
and wakes the runner's loop, which records every attempt finished so far and claims as many due
deliveries as there are free slots: the failures each with its consequences in one transaction
(``engine.webhooks.recording``), then the successes and the claim in one statement
(``settle_and_claim``: leases, the endpoints' URLs and secrets and the event bytes come back with
it). While that runs, more attempts finish: the next batch is whatever arrived meanwhile (with a
``BATCH_WINDOW_S`` wait while others are still in flight), so batches grow with the load and a
lone delivery is recorded at once.

Leasing ahead: the runner holds up to ``LEASED_PER_SLOT`` leases per slot, and up to
``1 + AHEAD_PER_CAP`` times ``WEBHOOK_ENDPOINT_MAX_IN_FLIGHT`` of an endpoint it alone serves (its leases
carry the runner's id, see ``engine.db.webhook_outbox.claim_ctes``), while it never makes more
than the cap of attempts to one endpoint at once. So when an attempt ends, the next one for its
endpoint starts at once, without waiting for the round trip that records the first and claims
again. A delivery leased ahead that could not start within half the margin between the lease and
the timeout is dropped: its lease runs out and it is claimed again.

Claims also come from outside: ``claim_now()`` (the scheduler's tick) claims now, and ``adopt()``
takes deliveries another process leased (``easypay webhooks dispatch``). The per-endpoint cap
lives in the claim (leases in PostgreSQL), so a hanging endpoint holds at most its cap of
slots, each for at most the timeout, and the other slots keep serving everyone else.

Nothing is lost if the process dies: every claimed delivery has a lease; an attempt never
recorded lets the lease run out and the delivery is claimed again (at least once, same
``webhook-id``). A batch that cannot be recorded (database outage) is kept and tried again
until its leases would have run out.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter, deque
from datetime import datetime, timezone
from typing import Any, Callable, Sequence

from engine.db.session import autocommit
from engine.db.webhook_batches import load_adopted, release_leases, settle_and_claim
from engine.webhooks.attempt import AttemptResult
from engine.webhooks.recording import Finished, Outcome, as_successes, record_failures, success_outcomes
from engine.webhooks.service import DeliveryDeps, attempt

log = logging.getLogger(__name__)

#: Called with each recorded batch: (attempt, outcome) pairs.
OnRecorded = Callable[[Sequence[tuple[Finished, Outcome]]], None]
#: While other attempts are still in flight, a finished one waits this long for company before
#: its batch is recorded (bigger batches under load; nothing waits when it is alone).
BATCH_WINDOW_S = 0.002
#: Record-and-claim round trips under way at once: a batch that finishes while one is under way
#: does not wait for it (a second database connection per process).
CONCURRENT_CYCLES = 2
#: Leases held at most per slot (in flight, finished and being recorded, or leased ahead).
LEASED_PER_SLOT = 4
#: An endpoint this runner alone serves may have this many times its in-flight cap leased beyond
#: the cap: recording a batch and claiming again takes several attempts' time under load.
AHEAD_PER_CAP = 3
#: Waits between tries of a batch that could not be recorded.
RETRY_S = (0.2, 0.5, 1.0, 2.0, 5.0)


class DeliveryRunner:
    def __init__(self, deps: DeliveryDeps, *, slots: int, on_recorded: OnRecorded | None = None) -> None:
        if slots < 1:
            raise ValueError("slots must be >= 1")
        self._deps = deps
        self._slots = slots
        self._capacity = LEASED_PER_SLOT * slots
        self._owner = uuid.uuid4()  # this runner's leases (``lease_owner``)
        self._per_endpoint: Counter[uuid.UUID] = Counter()  # attempts in flight, by endpoint
        cfg = deps.settings
        margin_s = cfg.lease_s - cfg.total_timeout_s - cfg.connect_timeout_s
        #: How long a leased delivery may wait for its slot (no limit if the settings leave no margin).
        self._max_wait_s = margin_s / 2 if margin_s > 0 else float("inf")
        self._on_recorded = on_recorded
        self._tasks: set[asyncio.Task[None]] = set()
        self._running = 0  # attempts started and not finished (a finished task may linger in _tasks)
        self._cycles: set[asyncio.Task[None]] = set()
        self._claiming = 0  # slots the cycles under way may fill
        self._waiting: deque[tuple[float, Any]] = deque()  # (leased at, row): leased ahead or adopted, not started
        self._finished: list[Finished] = []
        self._wake = asyncio.Event()
        self._stopping = False
        self._failures = 0
        self._loop: asyncio.Task[None] | None = None

    # ---- what callers see -------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        return self._running + len(self._waiting)

    @property
    def free_slots(self) -> int:
        """Deliveries the runner may lease now (attempts in flight and leases waiting count)."""
        return max(self._capacity - self.in_flight, 0)

    def start(self) -> asyncio.Task[None]:
        """Run the loop as a task of the running event loop (once)."""
        if self._loop is None or self._loop.done():
            self._loop = asyncio.get_running_loop().create_task(self.run(), name="webhook-delivery-runner")
        return self._loop

    async def claim_now(self) -> int:
        """Claim due deliveries for the free slots now and start them (the scheduler's tick: there
        may be new ones); returns how many. Raises if the database cannot be reached."""
        want = 0 if self._stopping else max(self.free_slots - self._claiming, 0)
        if not want:
            return 0
        cfg = self._deps.settings
        self._claiming += want
        try:
            async with autocommit(self._deps.engine).connect() as conn:
                _, rows = await settle_and_claim(
                    conn, [], batch=want, max_in_flight=cfg.endpoint_max_in_flight, lease_s=cfg.lease_s,
                    owner=self._owner, ahead=AHEAD_PER_CAP * cfg.endpoint_max_in_flight,
                )
            self._begin(rows)
        finally:
            self._claiming -= want
        return len(rows)

    async def adopt(self, claims: Sequence[tuple[uuid.UUID, uuid.UUID]]) -> int:
        """Attempt deliveries leased elsewhere (``(delivery_id, lease_token)``); returns how many
        were still theirs to attempt."""
        async with autocommit(self._deps.engine).connect() as conn:
            rows = await load_adopted(conn, claims)
        self._begin(rows)
        return len(rows)

    async def stop(self, *, timeout_s: float) -> None:
        """Stop claiming, give back the leases of deliveries not started, let attempts in flight
        finish for up to ``timeout_s``, record them, end the loop. Attempts still running are
        dropped: their leases bring them back."""
        self._stopping = True
        await self._release_waiting()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_s)
        for task in self._tasks:
            task.cancel()
        self._wake.set()
        if self._loop is not None:
            try:
                await asyncio.wait_for(self._loop, timeout=max(timeout_s, 1.0))
            except (TimeoutError, asyncio.CancelledError):
                pass

    async def _release_waiting(self) -> None:
        """Give back the leases of deliveries not started (leased ahead): due again at once for
        whoever claims next. If that fails, their leases run out as they would have."""
        claims = [(row.id, row.lease_token) for _, row in self._waiting]
        self._waiting.clear()
        if not claims:
            return
        try:
            async with autocommit(self._deps.engine).connect() as conn:
                await release_leases(conn, claims)
        except Exception as exc:  # noqa: BLE001 - the leases run out instead
            log.warning("webhook runner: could not give back %d leases (%s); they run out", len(claims), type(exc).__name__)

    # ---- the loop ---------------------------------------------------------------------------

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._stopping and not self._finished and not self._cycles:
                if not self._tasks:
                    return
                continue
            if self._finished and len(self._finished) < self._running and not self._stopping:
                await asyncio.sleep(BATCH_WINDOW_S)
            if self._finished and len(self._cycles) < CONCURRENT_CYCLES:
                cycle = asyncio.get_running_loop().create_task(self._cycle())
                self._cycles.add(cycle)
                cycle.add_done_callback(self._cycle_ended)

    def _cycle_ended(self, cycle: asyncio.Task[None]) -> None:
        self._cycles.discard(cycle)
        self._wake.set()  # what finished meanwhile, or the stop, is looked at now

    async def _cycle(self) -> None:
        batch, self._finished = self._finished, []
        want = 0 if self._stopping else max(self.free_slots - self._claiming, 0)
        self._claiming += want
        try:
            await self._record_and_claim(batch, want)
        finally:
            self._claiming -= want

    async def _record_and_claim(self, batch: list[Finished], want: int) -> None:
        cfg, engine = self._deps.settings, self._deps.engine
        successes = [f for f in batch if f.result.succeeded]
        failures = [f for f in batch if not f.result.succeeded]
        outcomes: dict[uuid.UUID, Outcome] = {}
        try:
            if failures:  # each with its consequences, in a transaction
                async with engine.begin() as conn:
                    outcomes.update(await record_failures(conn, failures, settings=cfg, rng=self._deps.rng))
                failures = []
            rows: Sequence[Any] = []
            if successes or want:  # one statement, in autocommit: settle the successes, claim again
                async with autocommit(engine).connect() as conn:
                    settled, rows = await settle_and_claim(
                        conn, as_successes(successes), batch=want, max_in_flight=cfg.endpoint_max_in_flight,
                        lease_s=cfg.lease_s, owner=self._owner, ahead=AHEAD_PER_CAP * cfg.endpoint_max_in_flight,
                    )
                outcomes.update(success_outcomes(successes, settled))
        except Exception as exc:  # noqa: BLE001 - kept and tried again; the leases bound how long
            self._report([f for f in batch if f.delivery_id in outcomes], outcomes)
            self._keep_for_retry(failures + [f for f in successes if f.delivery_id not in outcomes], exc)
            return
        self._failures = 0
        self._report(batch, outcomes)
        self._begin(rows)

    def _report(self, batch: Sequence[Finished], outcomes: dict[uuid.UUID, Outcome]) -> None:
        if not batch or self._on_recorded is None:
            return
        try:
            self._on_recorded([(f, outcomes[f.delivery_id]) for f in batch])
        except Exception:  # noqa: BLE001 - metrics or logs must never undo a recorded batch
            log.exception("webhook runner: reporting a recorded batch failed")

    def _keep_for_retry(self, batch: list[Finished], exc: Exception) -> None:
        wait_s = RETRY_S[min(self._failures, len(RETRY_S) - 1)]
        self._failures += 1
        horizon = datetime.now(timezone.utc).timestamp() - self._deps.settings.lease_s
        kept = [f for f in batch if f.attempted_at.timestamp() > horizon]  # older: lease gone, claimed again
        self._finished[:0] = kept
        log.warning(
            "webhook runner: could not record %d attempts (%s: %s); trying again in %g s",
            len(batch), type(exc).__name__, str(exc)[:200], wait_s,
        )
        asyncio.get_running_loop().call_later(wait_s, self._retry)

    def _retry(self) -> None:
        if self._finished:
            self._wake.set()

    # ---- attempts ---------------------------------------------------------------------------

    def _begin(self, rows: Sequence[Any]) -> None:
        """Queue leased rows and start, in their order, those a free slot and their endpoint's cap allow."""
        now = time.monotonic()
        self._waiting.extend((now, row) for row in rows)
        if self._stopping:
            return
        cap, horizon = self._deps.settings.endpoint_max_in_flight, now - self._max_wait_s
        held: list[tuple[float, Any]] = []
        while self._waiting and self._running < self._slots:
            leased_at, row = entry = self._waiting.popleft()
            if leased_at < horizon:  # too late to be sure to end within the lease: it runs out, claimed again
                log.info("webhook delivery %s waited too long for a slot; left for its lease to run out", row.id)
                continue
            if self._per_endpoint[row.endpoint_id] >= cap:
                held.append(entry)
                continue
            self._running += 1
            self._per_endpoint[row.endpoint_id] += 1
            task = asyncio.get_running_loop().create_task(self._attempt(row))
            self._tasks.add(task)
            task.add_done_callback(self._ended)
        self._waiting.extendleft(reversed(held))

    def _release(self, endpoint_id: uuid.UUID) -> None:
        self._per_endpoint[endpoint_id] -= 1
        if self._per_endpoint[endpoint_id] <= 0:
            del self._per_endpoint[endpoint_id]

    def _ended(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            self._running -= 1
        if self._stopping:
            self._wake.set()

    async def _attempt(self, row: Any) -> None:
        attempted_at = datetime.now(timezone.utc)
        started = time.monotonic()
        try:
            result = await attempt(self._deps, row, attempted_at)
        except asyncio.CancelledError:
            self._release(row.endpoint_id)
            raise
        except Exception as exc:  # noqa: BLE001 - a bug in one attempt fails that attempt only
            log.exception("webhook delivery %s: attempt failed unexpectedly", row.id)
            result = AttemptResult(False, int((time.monotonic() - started) * 1000), error=f"internal error ({type(exc).__name__})")
        self._running -= 1
        self._release(row.endpoint_id)
        self._finished.append(Finished(row.id, row.endpoint_id, row.lease_token, attempted_at, result))
        self._wake.set()
        if self._waiting:
            self._begin(())
