"""Settings from the environment, validated once at start-up (``load_settings``).

Every variable, default and bound is declared on its field in ``engine.settings``; each section is
read by ``engine.settings_loader.section``. What is left here are the rules an annotation cannot
say: the root keys and keyrings, the processor endpoint and credentials, defaults that depend on
the environment, production requirements and checks across fields.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from dataclasses import replace
from typing import Mapping

from engine.sealing import KEY_ID_RE
from engine.secret_key import dev_secret_path, load_or_create_dev_secret, previous_keys, production_key_problem
from engine.settings import (
    POOLS,
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
from engine.settings_loader import SettingsError, check_url, raw, section, variable, variables

__all__ = ["ANET_PRODUCTION_URL", "ANET_SANDBOX_URL", "SettingsError", "all_variables", "load_settings"]

log = logging.getLogger(__name__)

ANET_SANDBOX_URL = "https://apitest.authorize.net/xml/v1/request.api"
ANET_PRODUCTION_URL = "https://api2.authorize.net/xml/v1/request.api"

#: Every section read from the environment (the pools are read once per entry of ``POOLS``).
SECTIONS: tuple[type, ...] = (
    Settings, DatabaseSettings, RedisSettings, ProcessorSettings, WorkerSettings, WebhookSettings, AccessSettings,
    LifecycleSettings,
)


def all_variables() -> set[str]:
    """Every variable the settings read."""
    names = {name for cls in SECTIONS for name in variables(cls).values()}
    return names | {name for pool in POOLS.values() for name in variables(PoolSettings, pool["env_prefix"]).values()}


def _card_keys(env: Mapping[str, str], production: bool) -> tuple[tuple[str, bytes], ...]:
    """``EASYPAY_CARD_KEYS=id:secret,id:secret`` (newest first): ids 1-16 of [a-z0-9], once each;
    secrets of 32+ characters (in production also not low-entropy or published)."""
    keys: list[tuple[str, bytes]] = []
    for entry in (e.strip() for e in raw(env, Settings, "card_keys").split(",") if e.strip()):
        key_id, colon, secret = entry.partition(":")
        if not colon or not KEY_ID_RE.fullmatch(key_id) or any(key_id == k for k, _ in keys):
            raise SettingsError("EASYPAY_CARD_KEYS must be id:secret,... with distinct ids of 1-16 lower-case letters or digits")
        if len(secret) < 32:
            raise SettingsError(f"EASYPAY_CARD_KEYS: the secret of {key_id!r} must be at least 32 characters")
        problem = production_key_problem(secret) if production else None
        if problem:
            raise SettingsError(f"EASYPAY_CARD_KEYS: the secret of {key_id!r} {problem}")
        keys.append((key_id, secret.encode()))
    return tuple(keys)


def _processor(env: Mapping[str, str], sandbox_port: int) -> ProcessorSettings:
    """Credentials both or neither (neither: the emulator's); the endpoint follows them."""
    processor = section(ProcessorSettings, env)
    has_login, has_key = bool(raw(env, ProcessorSettings, "login_id")), bool(raw(env, ProcessorSettings, "transaction_key"))
    if has_login != has_key:
        raise SettingsError("set both ANET_API_LOGIN_ID and ANET_TRANSACTION_KEY, or neither")
    endpoint = processor.endpoint_url
    if endpoint == "":
        endpoint = ANET_SANDBOX_URL if has_login else f"http://127.0.0.1:{sandbox_port}/xml/v1/request.api"
    elif endpoint == "sandbox":
        endpoint = ANET_SANDBOX_URL
    elif endpoint == "production":
        endpoint = ANET_PRODUCTION_URL
    else:
        check_url(variable(ProcessorSettings, "endpoint_url"), endpoint, ("http", "https"))
    _check_currencies(processor.currencies)
    return replace(processor, endpoint_url=endpoint, emulated=not has_login)


def _check_currencies(codes: frozenset[str]) -> None:
    from engine.money import CurrencyError, currency_exponent

    for code in sorted(codes):
        try:
            exponent = currency_exponent(code)
        except CurrencyError:
            raise SettingsError(f"ANET_CURRENCIES: {code!r} is not an ISO 4217 currency code") from None
        if exponent > 2:
            raise SettingsError(f"ANET_CURRENCIES: {code} has {exponent} decimals; the processor carries at most 2")


def _webhooks(env: Mapping[str, str], production: bool) -> WebhookSettings:
    """Plain http is allowed by default outside production and never in it; the non-public
    networks are an explicit opt-in, implied by no environment."""
    webhooks = section(WebhookSettings, env)
    if not raw(env, WebhookSettings, "allow_http"):
        webhooks = replace(webhooks, allow_http=not production)
    if webhooks.allow_http and production:
        raise SettingsError("WEBHOOK_ALLOW_HTTP cannot be enabled when EASYPAY_ENV=production")
    for network in webhooks.allowed_networks:
        try:
            ipaddress.ip_network(network)
        except ValueError:
            raise SettingsError(f"WEBHOOK_ALLOWED_NETWORKS must list CIDRs, got {network!r}") from None
    return webhooks


def _secret(env: Mapping[str, str], top: Settings) -> bytes:
    """``EASYPAY_SECRET_KEY``, required in production; elsewhere a development key is made once."""
    given = env.get(variable(Settings, "secret_key"), "")
    if given:
        if len(given) < 32:
            raise SettingsError("EASYPAY_SECRET_KEY must be at least 32 characters")
        problem = production_key_problem(given) if top.is_production else None
        if problem:
            raise SettingsError(f"EASYPAY_SECRET_KEY {problem}")
        return given.encode()
    if top.is_production:
        raise SettingsError("EASYPAY_SECRET_KEY is required when EASYPAY_ENV=production")
    path = dev_secret_path(top.dev_secret_file, env)
    try:
        key, created = load_or_create_dev_secret(path)
    except (OSError, ValueError) as exc:
        raise SettingsError(f"EASYPAY_SECRET_KEY is not set and the development key file failed: {exc}") from exc
    if created:
        log.warning(
            "EASYPAY_SECRET_KEY is not set: generated a random development key in %s (readable by you only). "
            "Set EASYPAY_SECRET_KEY (32+ random characters) before handling real cards.", path,
        )
    return key


def _previous_secrets(env: Mapping[str, str], production: bool, current: bytes) -> tuple[bytes, ...]:
    try:
        return previous_keys(env.get(variable(Settings, "previous_secret_keys"), ""), current=current, production=production)
    except ValueError as exc:
        raise SettingsError(f"EASYPAY_PREVIOUS_SECRET_KEYS: {exc}") from None


def _pools(env: Mapping[str, str]) -> dict[str, PoolSettings]:
    return {
        name: section(PoolSettings, env, prefix=defaults["env_prefix"], base={"name": name, **defaults})
        for name, defaults in POOLS.items()
    }


def _check_read_replica(database: DatabaseSettings) -> None:
    if database.read_lag_interval_s >= database.read_max_lag_s:
        # Between two samples the replica's staleness is unknown: sampling must be the finer of the two.
        raise SettingsError("DATABASE_READ_LAG_INTERVAL_S must be less than DATABASE_READ_MAX_LAG_S")


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build and validate settings; raises ``SettingsError`` naming the bad variable."""
    env = os.environ if env is None else env
    top = section(Settings, env)
    production = top.is_production
    secret = _secret(env, top)
    database = section(DatabaseSettings, env)
    _check_read_replica(database)
    return replace(
        top,
        database=database,
        redis=section(RedisSettings, env),
        processor=_processor(env, top.sandbox_port),
        workers=section(WorkerSettings, env),
        webhooks=_webhooks(env, production),
        access=section(AccessSettings, env),
        lifecycle=section(LifecycleSettings, env),
        secret_key=secret,
        previous_secret_keys=_previous_secrets(env, production, secret),
        card_keys=_card_keys(env, production),
        pools=_pools(env),
    )
