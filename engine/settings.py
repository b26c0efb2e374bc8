"""What can be configured, with the defaults: one frozen dataclass per concern, grouped in ``Settings``.

Nothing reads the environment at import time: processes call
``engine.settings_from_env.load_settings()`` and pass the result into factories (``create_app``,
``build_broker``, ``ProcessorClient``...).
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Credentials the local emulator accepts; used when no real credentials are set.
EMULATOR_LOGIN_ID = "easypay-emulator"
EMULATOR_TRANSACTION_KEY = "EmulatorKey12345"

#: What Authorize.net processes; an account is set up for one of them (``ANET_CURRENCIES`` narrows).
DEFAULT_PROCESSOR_CURRENCIES = frozenset({"AUD", "CAD", "CHF", "DKK", "EUR", "GBP", "NOK", "NZD", "PLN", "SEK", "USD"})


@dataclass(frozen=True)
class DatabaseSettings:
    #: Not in the repr: it may carry a password.
    url: str = field(default="postgresql+asyncpg://postgres@127.0.0.1:5432/easypay", repr=False)
    #: Connections kept open per process.
    pool_size: int = 10
    max_overflow: int = 10
    #: ``DATABASE_READ_URL``: a streaming replica for reads that may be a little behind (see
    #: ``engine.db.read_routing``); None: every read goes to ``url``. Not in the repr.
    read_url: str | None = field(default=None, repr=False)
    #: Reads go to the replica only while it is at most this far behind the primary; a client's
    #: reads go to the primary for this long after each of its writes (read-your-writes).
    read_max_lag_s: float = 5.0
    #: How often each API process measures the replica's lag (WAL positions of both servers).
    read_lag_interval_s: float = 1.0


def is_rabbitmq_url(url: str) -> bool:
    """True for a RabbitMQ broker URL (``amqp://``/``amqps://``); Redis otherwise."""
    return url.startswith(("amqp://", "amqps://"))


@dataclass(frozen=True)
class RedisSettings:
    #: Cache, locks, rate limits. ``rediss://`` for TLS; not in the repr (it may carry a password).
    cache_url: str = field(default="redis://127.0.0.1:6379/0", repr=False)
    #: Dramatiq broker: a separate Redis database from the cache, or RabbitMQ (``amqp://``,
    #: ``amqps://``; see ``jobs.rabbitmq``).
    broker_url: str = field(default="redis://127.0.0.1:6379/1", repr=False)
    #: RabbitMQ only: ``quorum`` (default) or ``classic`` queues (``BROKER_QUEUE_TYPE``).
    broker_queue_type: str = "quorum"
    #: Key prefix for everything the engine writes to the cache database.
    key_prefix: str = "easypay"
    #: How long a payment snapshot stays in the cache.
    payment_cache_ttl_s: int = 86_400

    @property
    def broker_is_rabbitmq(self) -> bool:
        return is_rabbitmq_url(self.broker_url)


@dataclass(frozen=True)
class ProcessorSettings:
    endpoint_url: str = ""
    login_id: str = EMULATOR_LOGIN_ID
    transaction_key: str = field(default=EMULATOR_TRANSACTION_KEY, repr=False)
    #: True when talking to the local emulator (no credentials configured).
    emulated: bool = True
    connect_timeout_s: float = 3.0
    read_timeout_s: float = 20.0
    #: Authorize.net duplicateWindow sent with every charge (max 28800).
    duplicate_window_s: int = 28_800
    #: Attempts for failures that certainly did not reach the processor.
    connect_attempts: int = 4
    #: Currencies the gateway account takes (Authorize.net: one per account, at most 2 decimals).
    currencies: frozenset[str] = DEFAULT_PROCESSOR_CURRENCIES


@dataclass(frozen=True)
class WorkerSettings:
    #: Resends of a charge whose outcome is unknown (same invoice number, inside the
    #: duplicate window) before it is left for reconciliation.
    unknown_outcome_resends: int = 3
    #: A worker silent this long is presumed dead and its unacknowledged messages are handed to
    #: another worker (Dramatiq's default is 60 s).
    heartbeat_timeout_ms: int = 30_000


#: Standard Webhooks-style schedule: delays (s) before each attempt, the first one immediate;
#: 13 attempts over about 3.2 days (0, 5 s, 5 min, 30 min, 2 h, 5 h, then 10 h seven times).
DEFAULT_WEBHOOK_SCHEDULE_S: tuple[float, ...] = (0, 5, 300, 1800, 7200, 18000) + (36000,) * 7


@dataclass(frozen=True)
class WebhookSettings:
    #: Delay before each attempt, in seconds, from the previous attempt (first: from the event).
    retry_schedule_s: tuple[float, ...] = DEFAULT_WEBHOOK_SCHEDULE_S
    #: Each delay is multiplied by a random factor in [1 - jitter, 1 + jitter].
    retry_jitter: float = 0.2
    #: An endpoint whose deliveries have all failed for this long is disabled (checked at each failure).
    disable_after_s: float = 72 * 3600
    connect_timeout_s: float = 5.0
    #: Whole request: connect, send, wait and read (Standard Webhooks recommends 15-30 s).
    total_timeout_s: float = 15.0
    #: A claimed delivery not recorded within this time is claimed again (its worker is presumed dead).
    #: Must exceed the total timeout plus the queue wait.
    lease_s: float = 75.0
    #: Deliveries in flight at once per endpoint: a slow endpoint holds at most this many workers.
    endpoint_max_in_flight: int = 8
    #: Deliveries claimed per dispatcher pass.
    dispatch_batch: int = 500
    #: How long the previous secret keeps signing after a rotation.
    rotation_grace_s: int = 24 * 3600
    #: Networks deliveries may reach although not public (CIDRs). Empty unless set, in every
    #: environment: a development box's loopback holds the emulator's control endpoints and more.
    allowed_networks: tuple[str, ...] = ()
    #: Plain http endpoints (development only); https is always required in production.
    allow_http: bool = False
    #: Response bytes kept per attempt for merchants to debug with.
    response_body_bytes: int = 1024


@dataclass(frozen=True)
class PoolSettings:
    """A worker pool, sized by ``<env_prefix>_*`` variables (see ``POOLS``)."""

    name: str
    #: Prefix of this pool's variables: ``WORKER`` (payments), ``WEBHOOKS``, ``RECOVERY``, ``SCHEDULER``.
    env_prefix: str
    queues: tuple[str, ...]
    processes: int
    threads: int
    #: Messages fetched ahead per process; 0 keeps Dramatiq's default (threads × 2).
    prefetch: int
    #: Idle poll interval of the Redis consumer (Dramatiq's default is 1000 ms).
    poll_timeout_ms: int
    #: Port of the pool's Prometheus endpoint (one per machine and pool copy); 0 disables it.
    metrics_port: int
    #: How long a stopping pool lets messages in hand finish before leaving them to the broker.
    shutdown_timeout_s: int = 30




@dataclass(frozen=True)
class AccessSettings:
    """Authentication, rate limits and HTTP hardening."""

    #: Default per-key limits (requests per window); 0 disables a window. The seed's Kong values.
    rate_limit_per_minute: int = 100
    rate_limit_per_hour: int = 1000
    rate_limit_per_day: int = 10_000
    #: Lifetime of a user access token (JWT).
    jwt_ttl_s: int = 900
    #: Origins allowed by CORS; empty disables CORS (no Access-Control-* headers).
    cors_origins: tuple[str, ...] = ()
    #: ``api_keys.last_used_at`` is written at most this often per key (batched, off the request path).
    key_last_used_interval_s: int = 60
    #: Audit rows are written in batches at least this often.
    audit_flush_interval_ms: int = 200
    #: Ordinary audit entries buffered while PostgreSQL is away (beyond: oldest dropped); security
    #: events are never dropped, a request bringing that many of them waits for a write.
    audit_buffer_max: int = 50_000
    #: JSON bodies: deepest nesting of objects/arrays and longest string accepted.
    json_max_depth: int = 16
    json_max_string_length: int = 8192
    #: Failed API-key checks accepted per client address per minute; then 429 (0 = no limit).
    key_failures_per_minute: int = 20
    #: ``POST /v1/auth/token`` attempts per minute for one e-mail, and for all of them together
    #: (shared by every API process; 0 = no limit). Each attempt costs a password hash.
    login_per_minute_per_email: int = 10
    login_per_minute: int = 300
    #: Password hashes computed at once per API process (~1 s of CPU each), and how long a login
    #: waits for a free slot before ``503`` with ``Retry-After``.
    password_hash_concurrency: int = 2
    password_hash_wait_ms: int = 2000
    #: Concurrent ``?wait=`` long-polls per API key or user, per API process; more are answered at once.
    long_poll_max_per_key: int = 20
    #: ``EASYPAY_OPS_TOKEN``: when set, the API's ``/metrics`` and ``/health/ready`` need it as a
    #: Bearer token (the API requires one in production). None: both are open.
    ops_token: str | None = field(default=None, repr=False)

    @property
    def default_rate_limits(self) -> dict[str, int]:
        return {"minute": self.rate_limit_per_minute, "hour": self.rate_limit_per_hour, "day": self.rate_limit_per_day}


@dataclass(frozen=True)
class LifecycleSettings:
    """Schedules, reconciliation and expiry (see README "Payment lifecycle")."""

    #: Authorizations not captured this long after they were granted move to ``expired``.
    auth_expiry_s: int = 30 * 86_400
    #: A payment in ``pending`` this long is presumed to have lost its queue message.
    pending_sweep_after_s: int = 60
    #: The reconciler leaves in-flight work alone this long (longer than a worker's resends).
    reconcile_min_age_s: int = 120
    #: After this long without an answer an unknown outcome is given up: ``failed`` / ``outcome_unknown``.
    reconcile_give_up_s: int = 3 * 86_400
    #: Rows handled per run of a batch job.
    batch_size: int = 200
    #: Job intervals of the scheduler.
    settlement_sync_interval_s: int = 300
    expiry_interval_s: int = 3600
    reconcile_interval_s: int = 30
    pending_sweep_interval_s: int = 30


@dataclass(frozen=True)
class Settings:
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    redis: RedisSettings = field(default_factory=RedisSettings)
    processor: ProcessorSettings = field(default_factory=ProcessorSettings)
    workers: WorkerSettings = field(default_factory=WorkerSettings)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)
    access: AccessSettings = field(default_factory=AccessSettings)
    lifecycle: LifecycleSettings = field(default_factory=LifecycleSettings)
    #: Raw secret: HKDF input for card-message encryption, key-hash pepper, JWT signing.
    secret_key: bytes = field(default=b"", repr=False)
    #: ``EASYPAY_PREVIOUS_SECRET_KEYS``: earlier root keys during a rotation; what they signed,
    #: sealed or hashed still verifies and opens, and nothing new is made with them.
    previous_secret_keys: tuple[bytes, ...] = field(default=(), repr=False)
    #: ``EASYPAY_CARD_KEYS``: (key id, secret) newest first; the newest seals card data in queue
    #: messages, every one opens what it sealed (``engine.sealing``). Empty: ``secret_key`` seals.
    card_keys: tuple[tuple[str, bytes], ...] = field(default=(), repr=False)
    secret_key_generated: bool = False
    environment: str = "development"
    port: int = 8000
    sandbox_port: int = 8899
    #: How long an encrypted card in a queue message stays decryptable.
    card_message_ttl_s: int = 1800
    log_level: str = "INFO"
    pools: dict[str, PoolSettings] = field(default_factory=dict)
    #: Parent directory of the per-process metric files (multi-process Prometheus).
    metrics_dir: str = ""
    #: Address the worker pools' metrics endpoints bind to.
    metrics_host: str = "127.0.0.1"

    @property
    def is_production(self) -> bool:
        return self.environment == "production"
