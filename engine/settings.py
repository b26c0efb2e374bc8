"""What can be configured: one frozen dataclass per concern, grouped in ``Settings``.

Each setting is declared once, here: its field, its default, and in its annotation the
environment variable that sets it and the bounds it must keep, e.g.
``pool_size: Annotated[int, from_env("DATABASE_POOL_SIZE", ge=1, le=200)] = 10``.
``engine.settings_loader`` reads those annotations and converts with msgspec; the few rules no
annotation can say (defaults that depend on other settings, production requirements, cross-field
checks) are small functions in ``engine.settings_from_env``. A field without ``from_env`` is not
configurable.

Nothing reads the environment at import time: processes call
``engine.settings_from_env.load_settings()`` and pass the result into factories (``create_app``,
``build_broker``, ``ProcessorClient``...).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import msgspec


def from_env(variable: str, *, rule: bool = False, schemes: tuple[str, ...] = (), **bounds: Any) -> msgspec.Meta:
    """The annotation of a configurable field: its ``variable`` and msgspec bounds (``ge``, ``le``,
    ``min_length``, ``max_length``, ``pattern``, ``description``).

    ``rule=True``: a function of ``engine.settings_from_env`` reads the variable (secrets, keyrings);
    ``schemes``: the value is a URL with one of them and a host. ``{prefix}`` in ``variable`` is a
    worker pool's prefix (``WORKER``, ``WEBHOOKS``...). Lists are comma-separated in the variable.
    """
    extra: dict[str, Any] = {"env": variable}
    if rule:
        extra["rule"] = True
    if schemes:
        extra["schemes"] = schemes
    return msgspec.Meta(extra=extra, **bounds)


#: Credentials the local emulator accepts; used when no real credentials are set.
EMULATOR_LOGIN_ID = "easypay-emulator"
EMULATOR_TRANSACTION_KEY = "EmulatorKey12345"

#: What Authorize.net processes; an account is set up for one of them (``ANET_CURRENCIES`` narrows).
DEFAULT_PROCESSOR_CURRENCIES = frozenset({"AUD", "CAD", "CHF", "DKK", "EUR", "GBP", "NOK", "NZD", "PLN", "SEK", "USD"})
_POSTGRES = ("postgresql+asyncpg",)
_REDIS = ("redis", "rediss", "unix")
_DAY_S = 86_400
_UNLIMITED = 10**9


@dataclass(frozen=True)
class DatabaseSettings:
    #: Not in the repr: it may carry a password.
    url: Annotated[str, from_env("DATABASE_URL", schemes=_POSTGRES)] = field(
        default="postgresql+asyncpg://postgres@127.0.0.1:5432/easypay", repr=False
    )
    #: Connections kept open per process.
    pool_size: Annotated[int, from_env("DATABASE_POOL_SIZE", ge=1, le=200)] = 10
    max_overflow: Annotated[int, from_env("DATABASE_MAX_OVERFLOW", ge=0, le=200)] = 10
    #: A streaming replica for reads that may be a little behind (see ``engine.db.read_routing``);
    #: None: every read goes to ``url``. Not in the repr.
    read_url: Annotated[str | None, from_env("DATABASE_READ_URL", schemes=_POSTGRES)] = field(default=None, repr=False)
    #: Reads go to the replica only while it is at most this far behind the primary; a client's
    #: reads go to the primary for this long after each of its writes (read-your-writes).
    read_max_lag_s: Annotated[float, from_env("DATABASE_READ_MAX_LAG_S", ge=0.1, le=3600)] = 5.0
    #: How often each API process measures the replica's lag (WAL positions of both servers).
    read_lag_interval_s: Annotated[float, from_env("DATABASE_READ_LAG_INTERVAL_S", ge=0.05, le=60)] = 1.0


def is_rabbitmq_url(url: str) -> bool:
    """True for a RabbitMQ broker URL (``amqp://``/``amqps://``); Redis otherwise."""
    return url.startswith(("amqp://", "amqps://"))


@dataclass(frozen=True)
class RedisSettings:
    #: Cache, locks, rate limits. ``rediss://`` for TLS; not in the repr (it may carry a password).
    cache_url: Annotated[str, from_env("REDIS_URL", schemes=_REDIS)] = field(default="redis://127.0.0.1:6379/0", repr=False)
    #: Dramatiq broker: a separate Redis database from the cache, or RabbitMQ (``amqp://``,
    #: ``amqps://``; see ``jobs.rabbitmq``).
    broker_url: Annotated[str, from_env("BROKER_URL", schemes=(*_REDIS, "amqp", "amqps"))] = field(
        default="redis://127.0.0.1:6379/1", repr=False
    )
    #: RabbitMQ only: ``quorum`` (default) or ``classic`` queues.
    broker_queue_type: Annotated[Literal["quorum", "classic"], from_env("BROKER_QUEUE_TYPE")] = "quorum"
    #: Key prefix for everything the engine writes to the cache database.
    key_prefix: Annotated[str, from_env("EASYPAY_REDIS_PREFIX")] = "easypay"
    #: How long a payment snapshot stays in the cache.
    payment_cache_ttl_s: int = 86_400

    @property
    def broker_is_rabbitmq(self) -> bool:
        return is_rabbitmq_url(self.broker_url)


@dataclass(frozen=True)
class ProcessorSettings:
    #: ``sandbox``, ``production`` or a URL; empty: the real sandbox with credentials, else the
    #: local emulator (``engine.settings_from_env`` resolves it to a URL).
    endpoint_url: Annotated[str, from_env("ANET_ENDPOINT")] = ""
    #: Unset (both, never one): the emulator's credentials, and ``emulated``.
    login_id: Annotated[str, from_env("ANET_API_LOGIN_ID", max_length=25)] = EMULATOR_LOGIN_ID
    transaction_key: Annotated[str, from_env("ANET_TRANSACTION_KEY", max_length=16)] = field(
        default=EMULATOR_TRANSACTION_KEY, repr=False
    )
    #: True when talking to the local emulator (no credentials configured).
    emulated: bool = True
    connect_timeout_s: Annotated[float, from_env("ANET_CONNECT_TIMEOUT_S", ge=0.05, le=60)] = 3.0
    read_timeout_s: Annotated[float, from_env("ANET_READ_TIMEOUT_S", ge=0.05, le=120)] = 20.0
    #: Authorize.net duplicateWindow sent with every charge (max 28800).
    duplicate_window_s: Annotated[int, from_env("ANET_DUPLICATE_WINDOW_S", ge=1, le=28_800)] = 28_800
    #: Attempts for failures that certainly did not reach the processor.
    connect_attempts: int = 4
    #: Currencies the gateway account takes (Authorize.net: one per account, at most 2 decimals).
    currencies: Annotated[frozenset[str], from_env("ANET_CURRENCIES", min_length=1)] = DEFAULT_PROCESSOR_CURRENCIES


@dataclass(frozen=True)
class WorkerSettings:
    #: Resends of a charge whose outcome is unknown (same invoice number, inside the
    #: duplicate window) before it is left for reconciliation.
    unknown_outcome_resends: Annotated[int, from_env("WORKER_UNKNOWN_OUTCOME_RESENDS", ge=0, le=20)] = 3
    #: A worker silent this long is presumed dead and its unacknowledged messages are handed to
    #: another worker (Dramatiq's default is 60 s).
    heartbeat_timeout_ms: Annotated[int, from_env("WORKER_HEARTBEAT_TIMEOUT_MS", ge=1_000, le=600_000)] = 30_000


#: Standard Webhooks-style schedule: delays (s) before each attempt, the first one immediate;
#: 13 attempts over about 3.2 days (0, 5 s, 5 min, 30 min, 2 h, 5 h, then 10 h seven times).
DEFAULT_WEBHOOK_SCHEDULE_S: tuple[float, ...] = (0, 5, 300, 1800, 7200, 18000) + (36000,) * 7


@dataclass(frozen=True)
class WebhookSettings:
    #: Delay before each attempt, in seconds, from the previous attempt (first: from the event).
    retry_schedule_s: Annotated[
        tuple[Annotated[float, msgspec.Meta(ge=0, le=7 * _DAY_S)], ...],
        from_env("WEBHOOK_RETRY_SCHEDULE_S", min_length=1, max_length=50),
    ] = DEFAULT_WEBHOOK_SCHEDULE_S
    #: Each delay is multiplied by a random factor in [1 - jitter, 1 + jitter].
    retry_jitter: Annotated[float, from_env("WEBHOOK_RETRY_JITTER", ge=0, le=0.9)] = 0.2
    #: An endpoint whose deliveries have all failed for this long is disabled (checked at each failure).
    disable_after_s: Annotated[float, from_env("WEBHOOK_DISABLE_AFTER_S", ge=0, le=60 * _DAY_S)] = 72 * 3600
    connect_timeout_s: Annotated[float, from_env("WEBHOOK_CONNECT_TIMEOUT_S", ge=0.05, le=60)] = 5.0
    #: Whole request: connect, send, wait and read (Standard Webhooks recommends 15-30 s).
    total_timeout_s: Annotated[float, from_env("WEBHOOK_TIMEOUT_S", ge=0.1, le=120)] = 15.0
    #: A claimed delivery not recorded within this time is claimed again (its worker is presumed dead).
    #: Must exceed the total timeout plus the queue wait.
    lease_s: Annotated[float, from_env("WEBHOOK_LEASE_S", ge=1, le=3600)] = 75.0
    #: Deliveries in flight at once per endpoint: a slow endpoint holds at most this many workers.
    endpoint_max_in_flight: Annotated[int, from_env("WEBHOOK_ENDPOINT_MAX_IN_FLIGHT", ge=1, le=1000)] = 8
    #: Deliveries claimed per dispatcher pass.
    dispatch_batch: Annotated[int, from_env("WEBHOOK_DISPATCH_BATCH", ge=1, le=10_000)] = 500
    #: How long the previous secret keeps signing after a rotation.
    rotation_grace_s: Annotated[int, from_env("WEBHOOK_ROTATION_GRACE_S", ge=0, le=7 * _DAY_S)] = 24 * 3600
    #: Networks deliveries may reach although not public (CIDRs). Empty unless set, in every
    #: environment: a development box's loopback holds the emulator's control endpoints and more.
    allowed_networks: Annotated[tuple[str, ...], from_env("WEBHOOK_ALLOWED_NETWORKS")] = ()
    #: Plain http endpoints (development only); https is always required in production. Unset:
    #: true outside production (``engine.settings_from_env``).
    allow_http: Annotated[bool, from_env("WEBHOOK_ALLOW_HTTP")] = False
    #: Response bytes kept per attempt for merchants to debug with.
    response_body_bytes: Annotated[int, from_env("WEBHOOK_RESPONSE_BODY_BYTES", ge=0, le=65_536)] = 1024


@dataclass(frozen=True)
class PoolSettings:
    """A worker pool, sized by ``<env_prefix>_*`` variables; each pool's own defaults are in ``POOLS``."""

    name: str
    #: Prefix of this pool's variables: ``WORKER`` (payments), ``WEBHOOKS``, ``RECOVERY``, ``SCHEDULER``.
    env_prefix: str
    queues: Annotated[
        tuple[Annotated[str, msgspec.Meta(pattern=r"^[a-zA-Z_][a-zA-Z0-9._-]*$")], ...],
        from_env("{prefix}_QUEUES", min_length=1, description="a comma-separated list of queue names"),
    ]
    processes: Annotated[int, from_env("{prefix}_PROCESSES", ge=1, le=64)]
    threads: Annotated[int, from_env("{prefix}_THREADS", ge=1, le=256)]
    #: Port of the pool's Prometheus endpoint (one per machine and pool copy); 0 disables it.
    metrics_port: Annotated[int, from_env("{prefix}_METRICS_PORT", ge=0, le=65535)]
    #: Messages fetched ahead per process; 0 keeps Dramatiq's default (threads × 2).
    prefetch: Annotated[int, from_env("{prefix}_PREFETCH", ge=0, le=10_000)] = 0
    #: Idle poll interval of the Redis consumer (Dramatiq's default is 1000 ms).
    poll_timeout_ms: Annotated[int, from_env("{prefix}_POLL_TIMEOUT_MS", ge=10, le=10_000)] = 50
    #: How long a stopping pool lets messages in hand finish before leaving them to the broker.
    shutdown_timeout_s: Annotated[int, from_env("{prefix}_SHUTDOWN_TIMEOUT_S", ge=1, le=3600)] = 30


#: Each pool's own defaults (the others are ``PoolSettings``'). The payments pool keeps the
#: historical ``WORKER_*`` names; the scheduler's queue is whatever its jobs use (``SCHEDULER_QUEUES``).
POOLS: dict[str, dict[str, Any]] = {
    "payments": {"env_prefix": "WORKER", "queues": ("payments",), "processes": 2, "threads": 8, "metrics_port": 9191},
    "webhooks": {"env_prefix": "WEBHOOKS", "queues": ("webhooks",), "processes": 1, "threads": 32, "metrics_port": 9192},
    # Reconciliation and the sweeps: single-flight runs, each mostly waiting on the processor.
    "recovery": {"env_prefix": "RECOVERY", "queues": ("recovery",), "processes": 1, "threads": 4, "metrics_port": 9194},
    "scheduler": {"env_prefix": "SCHEDULER", "queues": ("scheduler",), "processes": 1, "threads": 2, "metrics_port": 9193},
}


@dataclass(frozen=True)
class AccessSettings:
    """Authentication, rate limits and HTTP hardening."""

    #: Default per-key limits (requests per window); 0 disables a window. The seed's Kong values.
    rate_limit_per_minute: Annotated[int, from_env("RATE_LIMIT_PER_MINUTE", ge=0, le=_UNLIMITED)] = 100
    rate_limit_per_hour: Annotated[int, from_env("RATE_LIMIT_PER_HOUR", ge=0, le=_UNLIMITED)] = 1000
    rate_limit_per_day: Annotated[int, from_env("RATE_LIMIT_PER_DAY", ge=0, le=_UNLIMITED)] = 10_000
    #: Lifetime of a user access token (JWT).
    jwt_ttl_s: Annotated[int, from_env("EASYPAY_JWT_TTL_S", ge=30, le=_DAY_S)] = 900
    #: Lifetime of a dashboard session from its sign-in (absolute: use does not extend it); the
    #: cookie's Max-Age and the Redis record's TTL.
    dashboard_session_ttl_s: Annotated[int, from_env("EASYPAY_DASHBOARD_SESSION_TTL_S", ge=60, le=30 * _DAY_S)] = 8 * 3600
    #: Origins allowed by CORS; empty disables CORS (no Access-Control-* headers).
    cors_origins: Annotated[tuple[str, ...], from_env("EASYPAY_CORS_ORIGINS")] = ()
    #: ``api_keys.last_used_at`` is written at most this often per key (batched, off the request path).
    key_last_used_interval_s: Annotated[int, from_env("EASYPAY_KEY_LAST_USED_INTERVAL_S", ge=1, le=_DAY_S)] = 60
    #: Audit rows are written in batches at least this often.
    audit_flush_interval_ms: Annotated[int, from_env("EASYPAY_AUDIT_FLUSH_INTERVAL_MS", ge=10, le=60_000)] = 200
    #: Ordinary audit entries buffered while PostgreSQL is away (beyond: oldest dropped); security
    #: events are never dropped, a request bringing that many of them waits for a write.
    audit_buffer_max: Annotated[int, from_env("EASYPAY_AUDIT_BUFFER_MAX", ge=1, le=10_000_000)] = 50_000
    #: JSON bodies: deepest nesting of objects/arrays and longest string accepted.
    json_max_depth: Annotated[int, from_env("EASYPAY_JSON_MAX_DEPTH", ge=2, le=256)] = 16
    json_max_string_length: Annotated[int, from_env("EASYPAY_JSON_MAX_STRING_LENGTH", ge=64, le=1_048_576)] = 8192
    #: Failed API-key checks accepted per client address per minute; then 429 (0 = no limit).
    key_failures_per_minute: Annotated[int, from_env("EASYPAY_KEY_FAILURES_PER_MINUTE", ge=0, le=_UNLIMITED)] = 20
    #: ``POST /v1/auth/token`` attempts per minute for one e-mail, and for all of them together
    #: (shared by every API process; 0 = no limit). Each attempt costs a password hash.
    login_per_minute_per_email: Annotated[int, from_env("EASYPAY_LOGIN_PER_MINUTE_PER_EMAIL", ge=0, le=_UNLIMITED)] = 10
    login_per_minute: Annotated[int, from_env("EASYPAY_LOGIN_PER_MINUTE", ge=0, le=_UNLIMITED)] = 300
    #: Password hashes computed at once per API process (~1 s of CPU each), and how long a login
    #: waits for a free slot before ``503`` with ``Retry-After``.
    password_hash_concurrency: Annotated[int, from_env("EASYPAY_PASSWORD_HASH_CONCURRENCY", ge=1, le=256)] = 2
    password_hash_wait_ms: Annotated[int, from_env("EASYPAY_PASSWORD_HASH_WAIT_MS", ge=0, le=60_000)] = 2000
    #: Concurrent ``?wait=`` long-polls per API key or user, per API process; more are answered at once.
    long_poll_max_per_key: Annotated[int, from_env("EASYPAY_LONG_POLL_MAX_PER_KEY", ge=1, le=10_000)] = 20
    #: When set, the API's ``/metrics`` and ``/health/ready`` need it as a Bearer token (the API
    #: requires one in production): a shared secret every scraper and probe sends, long enough not
    #: to guess. None: both are open.
    ops_token: Annotated[str, from_env("EASYPAY_OPS_TOKEN", min_length=32)] | None = field(default=None, repr=False)

    @property
    def default_rate_limits(self) -> dict[str, int]:
        return {"minute": self.rate_limit_per_minute, "hour": self.rate_limit_per_hour, "day": self.rate_limit_per_day}


@dataclass(frozen=True)
class LifecycleSettings:
    """Schedules, reconciliation and expiry (see README "Payment lifecycle")."""

    #: Authorizations not captured this long after they were granted move to ``expired``.
    auth_expiry_s: Annotated[int, from_env("AUTH_EXPIRY_S", ge=60, le=365 * _DAY_S)] = 30 * _DAY_S
    #: A payment in ``pending`` this long is presumed to have lost its queue message.
    pending_sweep_after_s: Annotated[int, from_env("PENDING_SWEEP_AFTER_S", ge=1, le=_DAY_S)] = 60
    #: The reconciler leaves in-flight work alone this long (longer than a worker's resends).
    reconcile_min_age_s: Annotated[int, from_env("RECONCILE_MIN_AGE_S", ge=1, le=_DAY_S)] = 120
    #: After this long without an answer an unknown outcome is given up: ``failed`` / ``outcome_unknown``.
    reconcile_give_up_s: Annotated[int, from_env("RECONCILE_GIVE_UP_S", ge=60, le=90 * _DAY_S)] = 3 * _DAY_S
    #: Rows handled per run of a batch job.
    batch_size: Annotated[int, from_env("LIFECYCLE_BATCH_SIZE", ge=1, le=10_000)] = 200
    #: Job intervals of the scheduler.
    settlement_sync_interval_s: Annotated[int, from_env("SETTLEMENT_SYNC_INTERVAL_S", ge=1, le=_DAY_S)] = 300
    expiry_interval_s: Annotated[int, from_env("EXPIRY_INTERVAL_S", ge=1, le=_DAY_S)] = 3600
    reconcile_interval_s: Annotated[int, from_env("RECONCILE_INTERVAL_S", ge=1, le=_DAY_S)] = 30
    pending_sweep_interval_s: Annotated[int, from_env("PENDING_SWEEP_INTERVAL_S", ge=1, le=_DAY_S)] = 30


def _default_metrics_dir() -> str:
    return os.path.join(tempfile.gettempdir(), "easypay-metrics")


@dataclass(frozen=True)
class Settings:
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    redis: RedisSettings = field(default_factory=RedisSettings)
    processor: ProcessorSettings = field(default_factory=ProcessorSettings)
    workers: WorkerSettings = field(default_factory=WorkerSettings)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)
    access: AccessSettings = field(default_factory=AccessSettings)
    lifecycle: LifecycleSettings = field(default_factory=LifecycleSettings)
    #: Raw secret: HKDF input for card-message encryption, key-hash pepper, JWT signing. Unset
    #: outside production: a random development key kept in ``dev_secret_file``.
    secret_key: Annotated[bytes, from_env("EASYPAY_SECRET_KEY", rule=True)] = field(default=b"", repr=False)
    #: Earlier root keys during a rotation; what they signed, sealed or hashed still verifies and
    #: opens, and nothing new is made with them.
    previous_secret_keys: Annotated[tuple[bytes, ...], from_env("EASYPAY_PREVIOUS_SECRET_KEYS", rule=True)] = field(
        default=(), repr=False
    )
    #: (key id, secret) newest first; the newest seals card data in queue messages, every one
    #: opens what it sealed (``engine.sealing``). Empty: ``secret_key`` seals.
    card_keys: Annotated[tuple[tuple[str, bytes], ...], from_env("EASYPAY_CARD_KEYS", rule=True)] = field(
        default=(), repr=False
    )
    #: Where the development key is kept; empty: ``$XDG_STATE_HOME/easypay/dev-secret-key``.
    dev_secret_file: Annotated[str, from_env("EASYPAY_DEV_SECRET_FILE")] = ""
    environment: Annotated[Literal["development", "test", "production"], from_env("EASYPAY_ENV")] = "development"
    #: Where ``easypay web`` listens, and how many API processes it runs.
    host: Annotated[str, from_env("HOST")] = "127.0.0.1"
    port: Annotated[int, from_env("PORT", ge=1, le=65535)] = 8000
    web_processes: Annotated[int, from_env("WEB_PROCESSES", ge=1, le=64)] = 1
    sandbox_port: Annotated[int, from_env("SANDBOX_PORT", ge=1, le=65535)] = 8899
    #: How long an encrypted card in a queue message stays decryptable.
    card_message_ttl_s: Annotated[int, from_env("CARD_MESSAGE_TTL_S", ge=10, le=_DAY_S)] = 1800
    log_level: Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR"], from_env("EASYPAY_LOG_LEVEL")] = "INFO"
    pools: dict[str, PoolSettings] = field(default_factory=dict)
    #: Parent directory of the per-process metric files (multi-process Prometheus).
    metrics_dir: Annotated[str, from_env("EASYPAY_METRICS_DIR")] = field(default_factory=_default_metrics_dir)
    #: Address the worker pools' metrics endpoints bind to.
    metrics_host: Annotated[str, from_env("METRICS_HOST")] = "127.0.0.1"

    @property
    def is_production(self) -> bool:
        return self.environment == "production"
