"""Settings: defaults, and a clear error naming the variable for every bad value."""

from __future__ import annotations

import secrets

import pytest

from engine.settings_from_env import ANET_PRODUCTION_URL, ANET_SANDBOX_URL, SettingsError, load_settings

STRONG_KEY = secrets.token_urlsafe(32)  # a production-grade key, made per run


def test_defaults_use_the_local_emulator(tmp_path):
    settings = load_settings({"EASYPAY_DEV_SECRET_FILE": str(tmp_path / "key")})
    assert settings.processor.emulated
    assert settings.processor.endpoint_url == "http://127.0.0.1:8899/xml/v1/request.api"
    assert settings.redis.cache_url.endswith("/0") and settings.redis.broker_url.endswith("/1")
    assert settings.secret_key == (tmp_path / "key").read_text().strip().encode()  # the development key, made


def test_credentials_switch_to_the_real_sandbox_and_production():
    env = {"ANET_API_LOGIN_ID": "login", "ANET_TRANSACTION_KEY": "key"}
    assert load_settings(env).processor.endpoint_url == ANET_SANDBOX_URL
    assert load_settings({**env, "ANET_ENDPOINT": "production"}).processor.endpoint_url == ANET_PRODUCTION_URL
    assert not load_settings(env).processor.emulated


def test_the_read_replica_is_optional_and_its_url_not_in_the_repr():
    assert load_settings({}).database.read_url is None
    url = "postgresql+asyncpg://reader:hunter2-replica@replica:5432/easypay"
    database = load_settings({"DATABASE_READ_URL": url, "DATABASE_READ_MAX_LAG_S": "2.5"}).database
    assert (database.read_url, database.read_max_lag_s, database.read_lag_interval_s) == (url, 2.5, 1.0)
    assert "hunter2" not in repr(database)


def test_secrets_are_not_in_the_repr():
    settings = load_settings({"ANET_API_LOGIN_ID": "login", "ANET_TRANSACTION_KEY": "supersecretkey12", "EASYPAY_SECRET_KEY": STRONG_KEY})
    assert "supersecretkey12" not in repr(settings)
    assert STRONG_KEY not in repr(settings)


@pytest.mark.parametrize(
    "env,variable",
    [
        ({"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL"),
        ({"DATABASE_READ_URL": "postgresql://replica/easypay"}, "DATABASE_READ_URL"),
        ({"DATABASE_READ_MAX_LAG_S": "0"}, "DATABASE_READ_MAX_LAG_S"),
        ({"DATABASE_READ_LAG_INTERVAL_S": "often"}, "DATABASE_READ_LAG_INTERVAL_S"),
        ({"DATABASE_READ_MAX_LAG_S": "1", "DATABASE_READ_LAG_INTERVAL_S": "2"}, "DATABASE_READ_LAG_INTERVAL_S"),
        ({"REDIS_URL": "http://x"}, "REDIS_URL"),
        ({"BROKER_URL": "nonsense"}, "BROKER_URL"),
        ({"BROKER_URL": "kafka://x:9092"}, "BROKER_URL"),
        ({"BROKER_QUEUE_TYPE": "stream"}, "BROKER_QUEUE_TYPE"),
        ({"PORT": "eighty"}, "PORT"),
        ({"PORT": "70000"}, "PORT"),
        ({"SANDBOX_PORT": "-1"}, "SANDBOX_PORT"),
        ({"ANET_API_LOGIN_ID": "only-one"}, "ANET_TRANSACTION_KEY"),
        ({"ANET_ENDPOINT": "ftp://x"}, "ANET_ENDPOINT"),
        ({"ANET_READ_TIMEOUT_S": "0"}, "ANET_READ_TIMEOUT_S"),
        ({"EASYPAY_SECRET_KEY": "short"}, "EASYPAY_SECRET_KEY"),
        ({"EASYPAY_ENV": "production"}, "EASYPAY_SECRET_KEY"),
        ({"EASYPAY_ENV": "staging"}, "EASYPAY_ENV"),
        ({"WORKER_THREADS": "0"}, "WORKER_THREADS"),
        ({"EASYPAY_LOG_LEVEL": "LOUD"}, "EASYPAY_LOG_LEVEL"),
        ({"AUTH_EXPIRY_S": "10"}, "AUTH_EXPIRY_S"),
        ({"RECONCILE_GIVE_UP_S": "soon"}, "RECONCILE_GIVE_UP_S"),
        ({"RECONCILE_INTERVAL_S": "0"}, "RECONCILE_INTERVAL_S"),
        ({"PENDING_SWEEP_AFTER_S": "-5"}, "PENDING_SWEEP_AFTER_S"),
        ({"ANET_CURRENCIES": "USD,KWD"}, "ANET_CURRENCIES"),
        ({"ANET_CURRENCIES": "usd"}, "ANET_CURRENCIES"),
    ],
)
def test_bad_values_name_the_variable(env, variable):
    with pytest.raises(SettingsError, match=variable):
        load_settings(env)


def test_lifecycle_settings_have_documented_defaults_and_read_the_environment():
    defaults = load_settings({}).lifecycle
    assert defaults.auth_expiry_s == 30 * 86_400
    assert (defaults.pending_sweep_after_s, defaults.reconcile_min_age_s, defaults.reconcile_give_up_s) == (60, 120, 3 * 86_400)
    assert (
        defaults.settlement_sync_interval_s,
        defaults.expiry_interval_s,
        defaults.reconcile_interval_s,
        defaults.pending_sweep_interval_s,
    ) == (300, 3600, 30, 30)
    custom = load_settings({"RECONCILE_MIN_AGE_S": "5", "SETTLEMENT_SYNC_INTERVAL_S": "60", "LIFECYCLE_BATCH_SIZE": "10"}).lifecycle
    assert (custom.reconcile_min_age_s, custom.settlement_sync_interval_s, custom.batch_size) == (5, 60, 10)


def test_the_recovery_pool_is_sized_by_its_own_variables():
    default = load_settings({}).pools["recovery"]
    assert (default.env_prefix, default.queues, default.processes, default.threads) == ("RECOVERY", ("recovery",), 1, 4)
    sized = load_settings({"RECOVERY_PROCESSES": "2", "RECOVERY_THREADS": "6", "RECOVERY_METRICS_PORT": "0"}).pools["recovery"]
    assert (sized.processes, sized.threads, sized.metrics_port) == (2, 6, 0)
    assert load_settings({}).pools["payments"].queues == ("payments",)  # charges never share it


def test_processor_currencies_default_to_the_gateways_and_can_be_narrowed(tmp_path):
    env = {"EASYPAY_DEV_SECRET_FILE": str(tmp_path / "key")}
    assert {"USD", "EUR", "CAD", "GBP"} <= load_settings(env).processor.currencies
    assert "JPY" not in load_settings(env).processor.currencies
    assert load_settings({**env, "ANET_CURRENCIES": "EUR, GBP"}).processor.currencies == {"EUR", "GBP"}


def test_redis_auth_and_tls_urls_are_accepted_and_open_tls_connections(tmp_path):
    """Production Redis: ``rediss://`` (TLS, certificate verified) with a password, for both URLs."""
    from redis.asyncio.connection import SSLConnection

    from engine import redis_client

    url = "rediss://:s3cret-pass@redis.example:6380/0?ssl_cert_reqs=required"
    settings = load_settings({"REDIS_URL": url, "BROKER_URL": url.replace("/0", "/1"),
                              "EASYPAY_DEV_SECRET_FILE": str(tmp_path / "key")})
    assert "s3cret-pass" not in repr(settings)
    client = redis_client.connect(settings.redis.cache_url)
    pool = client.connection_pool
    assert pool.connection_class is SSLConnection
    assert pool.connection_kwargs["password"] == "s3cret-pass" and pool.connection_kwargs["ssl_cert_reqs"] == "required"


def test_rabbitmq_broker_urls_select_rabbitmq_and_keep_their_password_out_of_the_repr(tmp_path):
    base = {"EASYPAY_DEV_SECRET_FILE": str(tmp_path / "key")}
    assert not load_settings(base).redis.broker_is_rabbitmq
    for url in ("amqp://easypay:s3cret-pass@mq.internal:5672/%2F", "amqps://easypay:s3cret-pass@mq.internal:5671/prod"):
        settings = load_settings({**base, "BROKER_URL": url})
        assert settings.redis.broker_is_rabbitmq and settings.redis.broker_queue_type == "quorum"
        assert "s3cret-pass" not in repr(settings)
    classic = load_settings({**base, "BROKER_URL": "amqp://mq/", "BROKER_QUEUE_TYPE": "classic"})
    assert classic.redis.broker_queue_type == "classic"


def test_card_keys_are_parsed_newest_first_and_checked(tmp_path):
    import pytest

    from engine.settings_from_env import SettingsError, load_settings

    base = {"EASYPAY_DEV_SECRET_FILE": str(tmp_path / "key")}
    parsed = load_settings({**base, "EASYPAY_CARD_KEYS": f"knew:{'n' * 40}, kold:{'o' * 40}"}).card_keys
    assert parsed == (("knew", b"n" * 40), ("kold", b"o" * 40))
    assert load_settings(base).card_keys == ()
    for bad in ("knew", f"Knew:{'n' * 40}", f"k1:{'n' * 40},k1:{'o' * 40}", "k1:short"):
        with pytest.raises(SettingsError, match="EASYPAY_CARD_KEYS"):
            load_settings({**base, "EASYPAY_CARD_KEYS": bad})
    assert "n" * 40 not in repr(load_settings({**base, "EASYPAY_CARD_KEYS": f"knew:{'n' * 40}"}))
