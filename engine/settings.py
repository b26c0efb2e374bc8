"""Settings from the environment, validated once at start-up.

Nothing reads the environment at import time: processes call ``load_settings()`` and pass the
result into factories (``create_app``, ``build_broker``, ``ProcessorClient``...).
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from typing import Mapping
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

#: Credentials the local emulator accepts; used when no real credentials are set.
EMULATOR_LOGIN_ID = "easypay-emulator"
EMULATOR_TRANSACTION_KEY = "EmulatorKey12345"

ANET_SANDBOX_URL = "https://apitest.authorize.net/xml/v1/request.api"
ANET_PRODUCTION_URL = "https://api2.authorize.net/xml/v1/request.api"


class SettingsError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/easypay"
    #: Connections kept open per process.
    pool_size: int = 10
    max_overflow: int = 10


@dataclass(frozen=True)
class RedisSettings:
    #: Cache, locks, rate limits.
    cache_url: str = "redis://127.0.0.1:6379/0"
    #: Dramatiq broker: a separate Redis database from the cache.
    broker_url: str = "redis://127.0.0.1:6379/1"
    #: Key prefix for everything the engine writes to the cache database.
    key_prefix: str = "easypay"
    #: How long a payment snapshot stays in the cache.
    payment_cache_ttl_s: int = 86_400


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


@dataclass(frozen=True)
class WorkerSettings:
    processes: int = 2
    threads: int = 8
    #: Idle poll interval of Dramatiq's Redis consumer (its default is 1000 ms).
    poll_timeout_ms: int = 50
    #: Messages fetched ahead per process; 0 keeps Dramatiq's default (threads × 2).
    prefetch: int = 0
    #: Resends of a charge whose outcome is unknown (same invoice number, inside the
    #: duplicate window) before it is left for reconciliation.
    unknown_outcome_resends: int = 3
    #: A worker silent this long is presumed dead and its unacknowledged messages are handed to
    #: another worker (Dramatiq's default is 60 s).
    heartbeat_timeout_ms: int = 30_000


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
    lifecycle: LifecycleSettings = field(default_factory=LifecycleSettings)
    #: Raw secret: HKDF input for card-message encryption, key-hash pepper, JWT signing.
    secret_key: bytes = field(default=b"", repr=False)
    secret_key_generated: bool = False
    environment: str = "development"
    port: int = 8000
    sandbox_port: int = 8899
    #: How long an encrypted card in a queue message stays decryptable.
    card_message_ttl_s: int = 1800
    log_level: str = "INFO"

    @property
    def is_production(self) -> bool:
        return self.environment == "production"


def _int(env: Mapping[str, str], name: str, default: int, *, lo: int, hi: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if not lo <= value <= hi:
        raise SettingsError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, *, lo: float, hi: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if not lo <= value <= hi:
        raise SettingsError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def _url(env: Mapping[str, str], name: str, default: str, schemes: tuple[str, ...]) -> str:
    value = env.get(name) or default
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.hostname:
        raise SettingsError(f"{name} must be a URL with scheme {' or '.join(schemes)}, got {value!r}")
    return value


def _processor(env: Mapping[str, str], sandbox_port: int) -> ProcessorSettings:
    login = env.get("ANET_API_LOGIN_ID", "")
    key = env.get("ANET_TRANSACTION_KEY", "")
    if bool(login) != bool(key):
        raise SettingsError("set both ANET_API_LOGIN_ID and ANET_TRANSACTION_KEY, or neither")
    if len(login) > 25 or len(key) > 16:
        raise SettingsError("ANET_API_LOGIN_ID is at most 25 and ANET_TRANSACTION_KEY at most 16 characters")
    emulator_url = f"http://127.0.0.1:{sandbox_port}/xml/v1/request.api"
    endpoint = env.get("ANET_ENDPOINT", "")
    if endpoint == "":
        endpoint = ANET_SANDBOX_URL if login else emulator_url
    elif endpoint == "sandbox":
        endpoint = ANET_SANDBOX_URL
    elif endpoint == "production":
        endpoint = ANET_PRODUCTION_URL
    else:
        endpoint = _url(env, "ANET_ENDPOINT", "", ("http", "https"))
    emulated = not login
    return ProcessorSettings(
        endpoint_url=endpoint,
        login_id=login or EMULATOR_LOGIN_ID,
        transaction_key=key or EMULATOR_TRANSACTION_KEY,
        emulated=emulated,
        connect_timeout_s=_float(env, "ANET_CONNECT_TIMEOUT_S", 3.0, lo=0.05, hi=60),
        read_timeout_s=_float(env, "ANET_READ_TIMEOUT_S", 20.0, lo=0.05, hi=120),
        duplicate_window_s=_int(env, "ANET_DUPLICATE_WINDOW_S", 28_800, lo=1, hi=28_800),
    )


def _secret(env: Mapping[str, str], environment: str) -> tuple[bytes, bool]:
    raw = env.get("EASYPAY_SECRET_KEY", "")
    if raw:
        if len(raw) < 32:
            raise SettingsError("EASYPAY_SECRET_KEY must be at least 32 characters")
        return raw.encode(), False
    if environment == "production":
        raise SettingsError("EASYPAY_SECRET_KEY is required when EASYPAY_ENV=production")
    # Development only: stable per machine user so the API and workers agree, never in production.
    seed = f"easypay-dev-secret:{os.getuid()}:{os.uname().nodename}".encode()
    return hashlib.sha256(seed).hexdigest().encode(), True


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build and validate settings; raises ``SettingsError`` naming the bad variable."""
    env = os.environ if env is None else env
    environment = env.get("EASYPAY_ENV", "development")
    if environment not in ("development", "test", "production"):
        raise SettingsError(f"EASYPAY_ENV must be development, test or production, got {environment!r}")
    sandbox_port = _int(env, "SANDBOX_PORT", 8899, lo=1, hi=65535)
    secret, generated = _secret(env, environment)
    log_level = env.get("EASYPAY_LOG_LEVEL", "INFO").upper()
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise SettingsError(f"EASYPAY_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {log_level!r}")
    settings = Settings(
        database=DatabaseSettings(
            url=_url(env, "DATABASE_URL", DatabaseSettings.url, ("postgresql+asyncpg",)),
            pool_size=_int(env, "DATABASE_POOL_SIZE", 10, lo=1, hi=200),
            max_overflow=_int(env, "DATABASE_MAX_OVERFLOW", 10, lo=0, hi=200),
        ),
        redis=RedisSettings(
            cache_url=_url(env, "REDIS_URL", RedisSettings.cache_url, ("redis", "rediss", "unix")),
            broker_url=_url(env, "BROKER_URL", RedisSettings.broker_url, ("redis", "rediss", "unix")),
            key_prefix=env.get("EASYPAY_REDIS_PREFIX", "easypay"),
        ),
        processor=_processor(env, sandbox_port),
        workers=WorkerSettings(
            processes=_int(env, "WORKER_PROCESSES", 2, lo=1, hi=64),
            threads=_int(env, "WORKER_THREADS", 8, lo=1, hi=256),
            poll_timeout_ms=_int(env, "WORKER_POLL_TIMEOUT_MS", 50, lo=10, hi=10_000),
            prefetch=_int(env, "WORKER_PREFETCH", 0, lo=0, hi=10_000),
            unknown_outcome_resends=_int(env, "WORKER_UNKNOWN_OUTCOME_RESENDS", 3, lo=0, hi=20),
            heartbeat_timeout_ms=_int(env, "WORKER_HEARTBEAT_TIMEOUT_MS", 30_000, lo=1_000, hi=600_000),
        ),
        lifecycle=LifecycleSettings(
            auth_expiry_s=_int(env, "AUTH_EXPIRY_S", 30 * 86_400, lo=60, hi=365 * 86_400),
            pending_sweep_after_s=_int(env, "PENDING_SWEEP_AFTER_S", 60, lo=1, hi=86_400),
            reconcile_min_age_s=_int(env, "RECONCILE_MIN_AGE_S", 120, lo=1, hi=86_400),
            reconcile_give_up_s=_int(env, "RECONCILE_GIVE_UP_S", 3 * 86_400, lo=60, hi=90 * 86_400),
            batch_size=_int(env, "LIFECYCLE_BATCH_SIZE", 200, lo=1, hi=10_000),
            settlement_sync_interval_s=_int(env, "SETTLEMENT_SYNC_INTERVAL_S", 300, lo=1, hi=86_400),
            expiry_interval_s=_int(env, "EXPIRY_INTERVAL_S", 3600, lo=1, hi=86_400),
            reconcile_interval_s=_int(env, "RECONCILE_INTERVAL_S", 30, lo=1, hi=86_400),
            pending_sweep_interval_s=_int(env, "PENDING_SWEEP_INTERVAL_S", 30, lo=1, hi=86_400),
        ),
        secret_key=secret,
        secret_key_generated=generated,
        environment=environment,
        port=_int(env, "PORT", 8000, lo=1, hi=65535),
        sandbox_port=sandbox_port,
        card_message_ttl_s=_int(env, "CARD_MESSAGE_TTL_S", 1800, lo=10, hi=86_400),
        log_level=log_level,
    )
    if generated:
        log.warning(
            "EASYPAY_SECRET_KEY is not set: using a generated development key. "
            "Set EASYPAY_SECRET_KEY (32+ random characters) before handling real cards."
        )
    return settings

