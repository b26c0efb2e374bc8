"""Per-process resources of the API, built once in the app's lifespan from settings.

Every resource a handler or a layer needs lives in one ``AppState``; handlers declare
``easypay: AppState`` (a Litestar dependency resolved once, see ``provide_app_state``), and code
below the handlers (ASGI middleware, guards, the ``before_request`` hook) uses ``app_state(app)``,
as does ``GET /v1/payments/{id}``, the most frequent request, which resolves no dependency.
Nothing else reads ``app.state``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar.datastructures import State
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from api.dashboard.sessions import SessionStore
from api.notifier import ChangeNotifier
from engine import redis_client
from engine.accept_batch import PaymentAcceptor
from engine.audit import AuditWriter
from engine.auth import ApiKeyAuthenticator, KeyRecords, derive_pepper, derive_record_key
from engine.cache import PaymentCache
from engine.concurrency_cap import ConcurrencyCap
from engine.db.read_routing import ReadRouter
from engine.db.session import autocommit, make_engine
from engine.idempotency import LOCK_TIMEOUT_MS
from engine.key_failures import KeyFailureCounter
from engine.key_usage import KeyUsageRecorder
from engine.method_stash import MethodStash
from engine.passwords import PasswordHashing
from engine.ratelimit import RateLimiter
from engine.redis_commands import RedisCommands
from engine.sealing import Sealer
from engine.settings import Settings
from engine.token_versions import TokenVersions
from engine.tokens import TokenService, derive_jwt_key
from jobs.brokers import connect_sender
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
    #: API keys: who presents them (``engine.auth``); touches ``key_usage``, counts wrong secrets.
    authenticator: ApiKeyAuthenticator
    key_failures: KeyFailureCounter
    key_usage: KeyUsageRecorder
    #: Per-credential request limits (``EASYPAY_RATE_LIMIT_*``).
    limiter: RateLimiter
    #: Limits on what anonymous callers can make us do (failed key checks, logins): every
    #: window is given per hit, so this limiter has no defaults of its own.
    abuse_limiter: RateLimiter
    password_hashing: PasswordHashing
    #: User JWTs, and the per-user version that revokes them.
    tokens: TokenService
    token_versions: TokenVersions
    audit: AuditWriter
    dashboard_sessions: SessionStore
    #: The Redis commands of one event-loop step in one round trip (cache reads, rate limits).
    commands: RedisCommands | None = None
    #: Peppers of the previous root keys (``EASYPAY_PREVIOUS_SECRET_KEYS``): what they hashed still matches.
    previous_peppers: tuple[bytes, ...] = ()

    @property
    def peppers(self) -> tuple[bytes, ...]:
        """The current pepper, then the previous ones."""
        return (self.pepper, *self.previous_peppers)

    async def start(self) -> None:
        self.key_usage.start()
        self.audit.start()
        self.read_router.start()
        await self.notifier.start()

    async def close(self) -> None:
        await self.notifier.stop()
        await self.acceptor.close()
        await self.audit.stop()
        await self.key_usage.stop()
        await self.jobs.close()
        await self.read_router.close()
        await self.redis.aclose()
        await self.engine.dispose()


def build_app_state(settings: Settings) -> AppState:
    """Every resource of one API process, connected lazily (nothing is awaited here)."""
    engine = make_engine(settings.database, application_name="easypay-api", lock_timeout_ms=LOCK_TIMEOUT_MS)
    redis = redis_client.connect(settings.redis.cache_url)
    # One batch of commands for the cache reads and the rate limits: a poll's two are one round trip.
    commands = RedisCommands(redis)
    prefix = settings.redis.key_prefix
    cache = PaymentCache(redis, prefix=prefix, ttl_s=settings.redis.payment_cache_ttl_s, commands=commands)
    jobs = connect_sender(settings)
    previous_keys = settings.previous_secret_keys
    pepper = derive_pepper(settings.secret_key)
    previous_peppers = tuple(derive_pepper(key) for key in previous_keys)
    key_records = KeyRecords(
        redis,
        prefix=prefix,
        mac_key=derive_record_key(settings.secret_key),
        previous_mac_keys=[derive_record_key(key) for key in previous_keys],
    )
    access = settings.access
    key_usage = KeyUsageRecorder(engine, interval_s=access.key_last_used_interval_s)
    key_failures = KeyFailureCounter(redis, prefix=prefix)
    return AppState(
        settings=settings,
        engine=engine,
        redis=redis,
        cache=cache,
        notifier=ChangeNotifier(redis, cache.channel),
        jobs=jobs,
        sealer=Sealer(settings.secret_key, card_keys=settings.card_keys, previous_secret_keys=previous_keys),
        pepper=pepper,
        stash=MethodStash(jobs.redis, prefix=prefix),
        acceptor=PaymentAcceptor(engine, jobs, cache),
        reads=autocommit(engine),
        read_router=ReadRouter.from_settings(
            settings.database, engine, redis, key_prefix=prefix, application_name="easypay-api-reads"
        ),
        long_polls=ConcurrencyCap(access.long_poll_max_per_key),
        key_records=key_records,
        authenticator=ApiKeyAuthenticator(
            engine,
            pepper,
            previous_peppers=previous_peppers,
            records=key_records,
            on_success=key_usage.touch,
            on_wrong_secret=key_failures.record,
        ),
        key_failures=key_failures,
        key_usage=key_usage,
        limiter=RateLimiter(redis, prefix=prefix, defaults=access.default_rate_limits, commands=commands),
        abuse_limiter=RateLimiter(redis, prefix=prefix, defaults={}, commands=commands),
        password_hashing=PasswordHashing(
            concurrency=access.password_hash_concurrency, wait_s=access.password_hash_wait_ms / 1000
        ),
        tokens=TokenService(
            derive_jwt_key(settings.secret_key),
            ttl_s=access.jwt_ttl_s,
            previous_keys=[derive_jwt_key(key) for key in previous_keys],
        ),
        token_versions=TokenVersions(engine),
        audit=AuditWriter(
            engine, flush_interval_s=access.audit_flush_interval_ms / 1000, max_buffered=access.audit_buffer_max
        ),
        dashboard_sessions=SessionStore(redis, prefix=prefix, ttl_s=access.dashboard_session_ttl_s),
        commands=commands,
        previous_peppers=previous_peppers,
    )


def app_state(app: Any) -> AppState:
    """The process's resources, for code below the handlers (middleware, guards, hooks)."""
    resources: AppState = app.state.easypay
    return resources


def provide_app_state(state: State) -> AppState:
    """Dependency ``easypay``: a handler declares ``easypay: AppState`` and gets the process's
    resources (registered with ``use_cache``: resolved once, then a lookup)."""
    resources: AppState = state.easypay
    return resources
