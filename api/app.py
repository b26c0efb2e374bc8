"""The Litestar application factory: ``create_app(settings)``; ``app`` for ``uvicorn api.app:app``
(run it with ``--no-server-header``, as ``easypay web`` does)."""

from __future__ import annotations

import contextlib
from typing import Any, AsyncIterator

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from api.audit import AuditLogController
from api.dashboard import dashboard_router, dashboard_templates
from api.dashboard.sessions import SessionStore
from api.auth import access_check, provide_principal
from api.docs import api_version, docs_assets, docs_page
from api.hardening import add_security_headers, cors_config
from api.health import live, ready
from api.metrics import metrics
from api.keys import ApiKeyController
from api.lifecycle import PaymentOperationsController, RefundController
from api.middleware import api_middleware
from api.notifier import ChangeNotifier
from api.openapi_strict import ClosedStructSchemaPlugin
from api.payments import PaymentController
from api.problems import handle_exception
from api.state import AppState, provide_app_state
from api.events import EventController
from api.webhook_endpoints import WebhookEndpointController
from api.users import UserController, issue_token
from engine import redis_client
from engine.accept_batch import PaymentAcceptor
from engine.audit import AuditWriter
from engine.auth import ApiKeyAuthenticator, KeyRecords, derive_pepper, derive_record_key
from engine.key_failures import KeyFailureCounter
from engine.key_usage import KeyUsageRecorder
from engine.passwords import PasswordHashing
from engine.ratelimit import RateLimiter
from engine.token_versions import TokenVersions
from engine.tokens import TokenService, derive_jwt_key
from engine.cache import PaymentCache
from engine.concurrency_cap import ConcurrencyCap
from engine.db.read_routing import ReadRouter
from engine.db.session import autocommit, make_engine
from engine.idempotency import LOCK_TIMEOUT_MS
from engine.logconfig import configure_logging
from engine.method_stash import MethodStash
from engine.sealing import Sealer
from engine.settings import Settings
from engine.settings_from_env import SettingsError, load_settings
from jobs.brokers import connect_sender

#: Largest request body accepted (413 beyond).
MAX_BODY_BYTES = 64 * 1024


def check_api_settings(settings: Settings) -> None:
    """What the API needs beyond the shared settings; ``SettingsError`` naming the variable."""
    if settings.is_production and settings.access.ops_token is None:
        # /metrics (business volumes, failure counts) and /health/ready are not for the internet.
        raise SettingsError("EASYPAY_OPS_TOKEN is required when EASYPAY_ENV=production (it protects /metrics and /health/ready)")


def create_app(settings: Settings | None = None, *, configure_logs: bool = True) -> Litestar:
    settings = settings or load_settings()
    check_api_settings(settings)
    if configure_logs:
        configure_logging(settings.log_level, json_logs=settings.is_production)

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        engine = make_engine(
            settings.database, application_name="easypay-api", lock_timeout_ms=LOCK_TIMEOUT_MS
        )
        redis = redis_client.connect(settings.redis.cache_url)
        cache = PaymentCache(redis, prefix=settings.redis.key_prefix, ttl_s=settings.redis.payment_cache_ttl_s)
        notifier = ChangeNotifier(redis, cache.channel)
        jobs = connect_sender(settings)
        read_router = ReadRouter.from_settings(
            settings.database, engine, redis, key_prefix=settings.redis.key_prefix, application_name="easypay-api-reads"
        )
        pepper = derive_pepper(settings.secret_key)
        previous_keys = settings.previous_secret_keys
        previous_peppers = tuple(derive_pepper(key) for key in previous_keys)
        key_records = KeyRecords(
            redis,
            prefix=settings.redis.key_prefix,
            mac_key=derive_record_key(settings.secret_key),
            previous_mac_keys=[derive_record_key(key) for key in previous_keys],
        )
        app.state.easypay = AppState(
            settings=settings,
            engine=engine,
            redis=redis,
            cache=cache,
            notifier=notifier,
            jobs=jobs,
            sealer=Sealer(settings.secret_key, card_keys=settings.card_keys, previous_secret_keys=previous_keys),
            pepper=pepper,
            stash=MethodStash(jobs.redis, prefix=settings.redis.key_prefix),
            acceptor=PaymentAcceptor(engine, jobs, cache),
            reads=autocommit(engine),
            read_router=read_router,
            long_polls=ConcurrencyCap(settings.access.long_poll_max_per_key),
            key_records=key_records,
            previous_peppers=previous_peppers,
        )
        access = settings.access
        key_usage = KeyUsageRecorder(engine, interval_s=access.key_last_used_interval_s)
        audit = AuditWriter(
            engine, flush_interval_s=access.audit_flush_interval_ms / 1000, max_buffered=access.audit_buffer_max
        )
        prefix = settings.redis.key_prefix
        key_failures = KeyFailureCounter(redis, prefix=prefix)
        app.state.authenticator = ApiKeyAuthenticator(
            engine,
            pepper,
            previous_peppers=previous_peppers,
            records=key_records,
            on_success=key_usage.touch,
            on_wrong_secret=key_failures.record,
        )
        app.state.key_failures = key_failures
        # Limits on what anonymous callers can make us do (failed key checks, logins): every
        # window is given per hit, so this limiter has no defaults of its own.
        app.state.abuse_limiter = RateLimiter(redis, prefix=prefix, defaults={})
        app.state.password_hashing = PasswordHashing(
            concurrency=access.password_hash_concurrency, wait_s=access.password_hash_wait_ms / 1000
        )
        app.state.tokens = TokenService(
            derive_jwt_key(settings.secret_key),
            ttl_s=access.jwt_ttl_s,
            previous_keys=[derive_jwt_key(key) for key in previous_keys],
        )
        app.state.token_versions = TokenVersions(engine)
        app.state.limiter = RateLimiter(redis, prefix=prefix, defaults=access.default_rate_limits)
        app.state.audit = audit
        app.state.dashboard_sessions = SessionStore(redis, prefix=prefix, ttl_s=access.dashboard_session_ttl_s)
        app.state.key_usage = key_usage
        key_usage.start()
        audit.start()
        read_router.start()
        await notifier.start()
        try:
            yield
        finally:
            await notifier.stop()
            await app.state.easypay.acceptor.close()
            await audit.stop()
            await key_usage.stop()
            await jobs.close()
            await read_router.close()
            await redis.aclose()
            await engine.dispose()

    return Litestar(
        route_handlers=[
            PaymentController,
            PaymentOperationsController,
            RefundController,
            EventController,
            WebhookEndpointController,
            ApiKeyController,
            UserController,
            AuditLogController,
            issue_token,
            live,
            ready,
            metrics,
            docs_assets(),
            dashboard_router(),
        ],
        dependencies={
            "principal": Provide(provide_principal),
            "easypay": Provide(provide_app_state, use_cache=True, sync_to_thread=False),
        },
        # Every route: authentication, rate limit, permission (opt["permission"]), body limits.
        before_request=access_check,
        middleware=[api_middleware],  # request id, HTTP metrics, audit and read-your-writes in one layer
        before_send=[add_security_headers],
        cors_config=cors_config(settings.access),
        exception_handlers={Exception: handle_exception},
        lifespan=[lifespan],
        state=State({}),
        request_max_body_size=MAX_BODY_BYTES,
        openapi_config=OpenAPIConfig(
            title="EasyPay",
            version=api_version(),
            description="Asynchronous payments on Authorize.net: POST answers 202, workers charge, clients poll.",
            path="/schema",
            render_plugins=[docs_page()],
            components=Components(
                security_schemes={
                    "bearer": SecurityScheme(
                        type="http", scheme="bearer", description="An API key `ak_<id>:sk_<secret>` or a user JWT."
                    ),
                    "apiKey": SecurityScheme(type="apiKey", name="X-API-Key", security_scheme_in="header"),
                }
            ),
            security=[{"bearer": []}, {"apiKey": []}],
        ),
        template_config=dashboard_templates(),
        plugins=[ClosedStructSchemaPlugin()],
        debug=False,
    )


def __getattr__(name: str) -> Any:
    """``api.app:app`` builds the app on first access (settings are read then, not at import)."""
    if name == "app":
        return create_app()
    raise AttributeError(name)


__all__ = ["create_app"]
