"""Per-process resources of the API, built in the app's lifespan from settings."""

from __future__ import annotations

from dataclasses import dataclass

from litestar.datastructures import State
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from api.notifier import ChangeNotifier
from engine.accept_batch import PaymentAcceptor
from engine.auth import KeyRecords
from engine.cache import PaymentCache
from engine.concurrency_cap import ConcurrencyCap
from engine.db.read_routing import ReadRouter
from engine.method_stash import MethodStash
from engine.sealing import Sealer
from engine.settings import Settings
from jobs.sender import JobSender


@dataclass
class AppState:
    settings: Settings
    engine: AsyncEngine
    redis: Redis
    cache: PaymentCache
    notifier: ChangeNotifier
    jobs: JobSender
    sealer: Sealer
    #: Keyed-hash pepper (API key hashes, idempotency fingerprints).
    pepper: bytes
    #: Sealed payment methods kept for the pending sweep (``engine.method_stash``).
    stash: MethodStash
    #: Records and queues payments in groups (``engine.accept_batch``).
    acceptor: PaymentAcceptor
    #: ``engine`` in autocommit, for reads of one statement: no BEGIN/ROLLBACK round trips.
    reads: AsyncEngine
    #: Reads that may come from the replica (``DATABASE_READ_URL``): lists, object GETs that
    #: miss the cache, events, audit, gauges. Without a replica, ``reads`` by another name.
    read_router: ReadRouter
    #: Concurrent ``?wait=`` long-polls per credential (``EASYPAY_LONG_POLL_MAX_PER_KEY``).
    long_polls: ConcurrencyCap
    #: The signed shared API-key records in Redis (``engine.auth.KeyRecords``).
    key_records: KeyRecords
    #: Peppers of the previous root keys (``EASYPAY_PREVIOUS_SECRET_KEYS``): what they hashed still matches.
    previous_peppers: tuple[bytes, ...] = ()

    @property
    def peppers(self) -> tuple[bytes, ...]:
        """The current pepper, then the previous ones."""
        return (self.pepper, *self.previous_peppers)


def provide_app_state(state: State) -> AppState:
    """Dependency ``easypay``: a handler declares ``easypay: AppState`` and gets the process's
    resources (registered with ``use_cache``: resolved once, then a lookup)."""
    app_state: AppState = state.easypay
    return app_state
