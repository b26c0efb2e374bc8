"""Settings from the environment, validated once at start-up (``load_settings``)."""

from __future__ import annotations

import logging
import os
import re
import tempfile
from typing import Mapping
from urllib.parse import urlsplit

from engine.errors import EasyPayError
from engine.sealing import KEY_ID_RE
from engine.secret_key import dev_secret_path, load_or_create_dev_secret, previous_keys, production_key_problem
from engine.settings import (
    DEFAULT_PROCESSOR_CURRENCIES,
    DEFAULT_WEBHOOK_SCHEDULE_S,
    EMULATOR_LOGIN_ID,
    EMULATOR_TRANSACTION_KEY,
    AccessSettings,
    DatabaseSettings,
    LifecycleSettings,
    PoolSettings,
    ProcessorSettings,
    RedisSettings,
    Settings,
    WebhookSettings,
    WorkerSettings,
)

log = logging.getLogger(__name__)

ANET_SANDBOX_URL = "https://apitest.authorize.net/xml/v1/request.api"
ANET_PRODUCTION_URL = "https://api2.authorize.net/xml/v1/request.api"


class SettingsError(EasyPayError, ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


#: ``EASYPAY_OPS_TOKEN`` is a shared secret sent by every scraper and probe: long enough not to guess.
OPS_TOKEN_MIN_CHARS = 32


def _ops_token(env: Mapping[str, str]) -> str | None:
    token = env.get("EASYPAY_OPS_TOKEN", "").strip() or None
    if token is not None and len(token) < OPS_TOKEN_MIN_CHARS:
        raise SettingsError(f"EASYPAY_OPS_TOKEN must be at least {OPS_TOKEN_MIN_CHARS} characters")
    return token


def _card_keys(env: Mapping[str, str], environment: str) -> tuple[tuple[str, bytes], ...]:
    """``EASYPAY_CARD_KEYS=id:secret,id:secret`` (newest first): ids 1-16 of [a-z0-9], once each;
    secrets of 32+ characters (in production also not low-entropy or published)."""
    raw = env.get("EASYPAY_CARD_KEYS", "").strip()
    keys: list[tuple[str, bytes]] = []
    for entry in (e.strip() for e in raw.split(",") if e.strip()):
        key_id, colon, secret = entry.partition(":")
        if not colon or not KEY_ID_RE.fullmatch(key_id) or any(key_id == k for k, _ in keys):
            raise SettingsError("EASYPAY_CARD_KEYS must be id:secret,... with distinct ids of 1-16 lower-case letters or digits")
        if len(secret) < 32:
            raise SettingsError(f"EASYPAY_CARD_KEYS: the secret of {key_id!r} must be at least 32 characters")
        problem = production_key_problem(secret) if environment == "production" else None
        if problem:
            raise SettingsError(f"EASYPAY_CARD_KEYS: the secret of {key_id!r} {problem}")
        keys.append((key_id, secret.encode()))
    return tuple(keys)


#: name -> (env prefix, queues, processes, threads, metrics port). The payments pool keeps the
#: historical ``WORKER_*`` names; the scheduler's queue is whatever its jobs use (``SCHEDULER_QUEUES``).
POOLS: dict[str, tuple[str, tuple[str, ...], int, int, int]] = {
    "payments": ("WORKER", ("payments",), 2, 8, 9191),
    "webhooks": ("WEBHOOKS", ("webhooks",), 1, 32, 9192),
    # Reconciliation and the sweeps: single-flight runs, each mostly waiting on the processor.
    "recovery": ("RECOVERY", ("recovery",), 1, 4, 9194),
    "scheduler": ("SCHEDULER", ("scheduler",), 1, 2, 9193),
}
_QUEUE_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9._-]*$")


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


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env.get(name) or default
    if value not in choices:
        raise SettingsError(f"{name} must be {' or '.join(choices)}, got {value!r}")
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
        currencies=_currencies(env),
    )


def _currencies(env: Mapping[str, str]) -> frozenset[str]:
    from engine.money import CurrencyError, currency_exponent

    raw = env.get("ANET_CURRENCIES", "")
    if raw.strip() == "":
        return DEFAULT_PROCESSOR_CURRENCIES
    codes = frozenset(c.strip() for c in raw.split(",") if c.strip())
    for code in sorted(codes):
        try:
            exponent = currency_exponent(code)
        except CurrencyError:
            raise SettingsError(f"ANET_CURRENCIES: {code!r} is not an ISO 4217 currency code") from None
        if exponent > 2:
            raise SettingsError(f"ANET_CURRENCIES: {code} has {exponent} decimals; the processor carries at most 2")
    return codes


def _schedule(env: Mapping[str, str]) -> tuple[float, ...]:
    raw = env.get("WEBHOOK_RETRY_SCHEDULE_S", "")
    if raw == "":
        return DEFAULT_WEBHOOK_SCHEDULE_S
    try:
        values = tuple(float(part) for part in raw.split(","))
    except ValueError:
        raise SettingsError(f"WEBHOOK_RETRY_SCHEDULE_S must be comma-separated seconds, got {raw!r}") from None
    if not 1 <= len(values) <= 50 or any(not 0 <= v <= 7 * 86_400 for v in values):
        raise SettingsError("WEBHOOK_RETRY_SCHEDULE_S must list 1 to 50 delays of 0 to 604800 seconds")
    return values


def _networks(env: Mapping[str, str]) -> tuple[str, ...]:
    """The explicit opt-in to non-public webhook targets; nothing is implied by the environment."""
    import ipaddress

    raw = env.get("WEBHOOK_ALLOWED_NETWORKS", "")
    networks = tuple(part.strip() for part in raw.split(",") if part.strip())
    for network in networks:
        try:
            ipaddress.ip_network(network)
        except ValueError:
            raise SettingsError(f"WEBHOOK_ALLOWED_NETWORKS must list CIDRs, got {network!r}") from None
    return networks


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def _webhooks(env: Mapping[str, str], environment: str) -> WebhookSettings:
    allow_http = _bool(env, "WEBHOOK_ALLOW_HTTP", environment != "production")
    if allow_http and environment == "production":
        raise SettingsError("WEBHOOK_ALLOW_HTTP cannot be enabled when EASYPAY_ENV=production")
    return WebhookSettings(
        retry_schedule_s=_schedule(env),
        retry_jitter=_float(env, "WEBHOOK_RETRY_JITTER", 0.2, lo=0, hi=0.9),
        disable_after_s=_float(env, "WEBHOOK_DISABLE_AFTER_S", 72 * 3600, lo=0, hi=60 * 86_400),
        connect_timeout_s=_float(env, "WEBHOOK_CONNECT_TIMEOUT_S", 5.0, lo=0.05, hi=60),
        total_timeout_s=_float(env, "WEBHOOK_TIMEOUT_S", 15.0, lo=0.1, hi=120),
        lease_s=_float(env, "WEBHOOK_LEASE_S", 75.0, lo=1, hi=3600),
        endpoint_max_in_flight=_int(env, "WEBHOOK_ENDPOINT_MAX_IN_FLIGHT", 8, lo=1, hi=1000),
        dispatch_batch=_int(env, "WEBHOOK_DISPATCH_BATCH", 500, lo=1, hi=10_000),
        rotation_grace_s=_int(env, "WEBHOOK_ROTATION_GRACE_S", 24 * 3600, lo=0, hi=7 * 86_400),
        allowed_networks=_networks(env),
        allow_http=allow_http,
        response_body_bytes=_int(env, "WEBHOOK_RESPONSE_BODY_BYTES", 1024, lo=0, hi=65_536),
    )


def _secret(env: Mapping[str, str], environment: str) -> tuple[bytes, bool]:
    raw = env.get("EASYPAY_SECRET_KEY", "")
    if raw:
        if len(raw) < 32:
            raise SettingsError("EASYPAY_SECRET_KEY must be at least 32 characters")
        problem = production_key_problem(raw) if environment == "production" else None
        if problem:
            raise SettingsError(f"EASYPAY_SECRET_KEY {problem}")
        return raw.encode(), False
    if environment == "production":
        raise SettingsError("EASYPAY_SECRET_KEY is required when EASYPAY_ENV=production")
    path = dev_secret_path(env)
    try:
        key, created = load_or_create_dev_secret(path)
    except (OSError, ValueError) as exc:
        raise SettingsError(f"EASYPAY_SECRET_KEY is not set and the development key file failed: {exc}") from exc
    if created:
        log.warning(
            "EASYPAY_SECRET_KEY is not set: generated a random development key in %s (readable by you only). "
            "Set EASYPAY_SECRET_KEY (32+ random characters) before handling real cards.", path,
        )
    return key, True


def _previous_secrets(env: Mapping[str, str], environment: str, current: bytes) -> tuple[bytes, ...]:
    try:
        return previous_keys(env.get("EASYPAY_PREVIOUS_SECRET_KEYS", ""), current=current, production=environment == "production")
    except ValueError as exc:
        raise SettingsError(f"EASYPAY_PREVIOUS_SECRET_KEYS: {exc}") from None


def _pools(env: Mapping[str, str]) -> dict[str, PoolSettings]:
    pools = {}
    for name, (prefix, queues, processes, threads, port) in POOLS.items():
        raw_queues = env.get(f"{prefix}_QUEUES", "")
        if raw_queues:
            queues = tuple(q.strip() for q in raw_queues.split(",") if q.strip())
            if not queues or not all(_QUEUE_NAME.match(q) for q in queues):
                raise SettingsError(f"{prefix}_QUEUES must be a comma-separated list of queue names, got {raw_queues!r}")
        pools[name] = PoolSettings(
            name=name,
            env_prefix=prefix,
            queues=queues,
            processes=_int(env, f"{prefix}_PROCESSES", processes, lo=1, hi=64),
            threads=_int(env, f"{prefix}_THREADS", threads, lo=1, hi=256),
            prefetch=_int(env, f"{prefix}_PREFETCH", 0, lo=0, hi=10_000),
            poll_timeout_ms=_int(env, f"{prefix}_POLL_TIMEOUT_MS", 50, lo=10, hi=10_000),
            metrics_port=_int(env, f"{prefix}_METRICS_PORT", port, lo=0, hi=65535),
            shutdown_timeout_s=_int(env, f"{prefix}_SHUTDOWN_TIMEOUT_S", 30, lo=1, hi=3600),
        )
    return pools


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
            read_url=_url(env, "DATABASE_READ_URL", "", ("postgresql+asyncpg",)) if env.get("DATABASE_READ_URL") else None,
            read_max_lag_s=_float(env, "DATABASE_READ_MAX_LAG_S", 5.0, lo=0.1, hi=3600),
            read_lag_interval_s=_float(env, "DATABASE_READ_LAG_INTERVAL_S", 1.0, lo=0.05, hi=60),
        ),
        redis=RedisSettings(
            cache_url=_url(env, "REDIS_URL", RedisSettings.cache_url, ("redis", "rediss", "unix")),
            broker_url=_url(env, "BROKER_URL", RedisSettings.broker_url, ("redis", "rediss", "unix", "amqp", "amqps")),
            broker_queue_type=_choice(env, "BROKER_QUEUE_TYPE", "quorum", ("quorum", "classic")),
            key_prefix=env.get("EASYPAY_REDIS_PREFIX", "easypay"),
        ),
        processor=_processor(env, sandbox_port),
        workers=WorkerSettings(
            unknown_outcome_resends=_int(env, "WORKER_UNKNOWN_OUTCOME_RESENDS", 3, lo=0, hi=20),
            heartbeat_timeout_ms=_int(env, "WORKER_HEARTBEAT_TIMEOUT_MS", 30_000, lo=1_000, hi=600_000),
        ),
        webhooks=_webhooks(env, environment),
        access=AccessSettings(
            rate_limit_per_minute=_int(env, "RATE_LIMIT_PER_MINUTE", 100, lo=0, hi=10**9),
            rate_limit_per_hour=_int(env, "RATE_LIMIT_PER_HOUR", 1000, lo=0, hi=10**9),
            rate_limit_per_day=_int(env, "RATE_LIMIT_PER_DAY", 10_000, lo=0, hi=10**9),
            jwt_ttl_s=_int(env, "EASYPAY_JWT_TTL_S", 900, lo=30, hi=86_400),
            cors_origins=tuple(o.strip() for o in env.get("EASYPAY_CORS_ORIGINS", "").split(",") if o.strip()),
            key_last_used_interval_s=_int(env, "EASYPAY_KEY_LAST_USED_INTERVAL_S", 60, lo=1, hi=86_400),
            audit_flush_interval_ms=_int(env, "EASYPAY_AUDIT_FLUSH_INTERVAL_MS", 200, lo=10, hi=60_000),
            audit_buffer_max=_int(env, "EASYPAY_AUDIT_BUFFER_MAX", 50_000, lo=1, hi=10_000_000),
            json_max_depth=_int(env, "EASYPAY_JSON_MAX_DEPTH", 16, lo=2, hi=256),
            json_max_string_length=_int(env, "EASYPAY_JSON_MAX_STRING_LENGTH", 8192, lo=64, hi=1_048_576),
            key_failures_per_minute=_int(env, "EASYPAY_KEY_FAILURES_PER_MINUTE", 20, lo=0, hi=10**9),
            login_per_minute_per_email=_int(env, "EASYPAY_LOGIN_PER_MINUTE_PER_EMAIL", 10, lo=0, hi=10**9),
            login_per_minute=_int(env, "EASYPAY_LOGIN_PER_MINUTE", 300, lo=0, hi=10**9),
            password_hash_concurrency=_int(env, "EASYPAY_PASSWORD_HASH_CONCURRENCY", 2, lo=1, hi=256),
            password_hash_wait_ms=_int(env, "EASYPAY_PASSWORD_HASH_WAIT_MS", 2000, lo=0, hi=60_000),
            long_poll_max_per_key=_int(env, "EASYPAY_LONG_POLL_MAX_PER_KEY", 20, lo=1, hi=10_000),
            ops_token=_ops_token(env),
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
        previous_secret_keys=_previous_secrets(env, environment, secret),
        secret_key_generated=generated,
        environment=environment,
        port=_int(env, "PORT", 8000, lo=1, hi=65535),
        sandbox_port=sandbox_port,
        card_message_ttl_s=_int(env, "CARD_MESSAGE_TTL_S", 1800, lo=10, hi=86_400),
        card_keys=_card_keys(env, environment),
        log_level=log_level,
        pools=_pools(env),
        metrics_dir=env.get("EASYPAY_METRICS_DIR") or os.path.join(tempfile.gettempdir(), "easypay-metrics"),
        metrics_host=env.get("METRICS_HOST", "127.0.0.1"),
    )
    if settings.database.read_lag_interval_s >= settings.database.read_max_lag_s:
        # Between two samples the replica's staleness is unknown: sampling must be the finer of the two.
        raise SettingsError("DATABASE_READ_LAG_INTERVAL_S must be less than DATABASE_READ_MAX_LAG_S")
    return settings
