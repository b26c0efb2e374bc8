"""Settings: defaults, and a clear error naming the variable for every bad value."""

from __future__ import annotations

import pytest

from engine.settings import ANET_PRODUCTION_URL, ANET_SANDBOX_URL, SettingsError, load_settings


def test_defaults_use_the_local_emulator():
    settings = load_settings({})
    assert settings.processor.emulated
    assert settings.processor.endpoint_url == "http://127.0.0.1:8899/xml/v1/request.api"
    assert settings.redis.cache_url.endswith("/0") and settings.redis.broker_url.endswith("/1")
    assert settings.secret_key_generated


def test_credentials_switch_to_the_real_sandbox_and_production():
    env = {"ANET_API_LOGIN_ID": "login", "ANET_TRANSACTION_KEY": "key"}
    assert load_settings(env).processor.endpoint_url == ANET_SANDBOX_URL
    assert load_settings({**env, "ANET_ENDPOINT": "production"}).processor.endpoint_url == ANET_PRODUCTION_URL
    assert not load_settings(env).processor.emulated


def test_secrets_are_not_in_the_repr():
    settings = load_settings({"ANET_API_LOGIN_ID": "login", "ANET_TRANSACTION_KEY": "supersecretkey12", "EASYPAY_SECRET_KEY": "s" * 40})
    assert "supersecretkey12" not in repr(settings)
    assert "s" * 40 not in repr(settings)


@pytest.mark.parametrize(
    "env,variable",
    [
        ({"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL"),
        ({"REDIS_URL": "http://x"}, "REDIS_URL"),
        ({"BROKER_URL": "nonsense"}, "BROKER_URL"),
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
    ],
)
def test_bad_values_name_the_variable(env, variable):
    with pytest.raises(SettingsError, match=variable):
        load_settings(env)
