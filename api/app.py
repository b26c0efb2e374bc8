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
from api.dashboard.routes import dashboard_router, dashboard_templates
from api.auth import access_check, provide_principal
from api.docs import api_version, docs_assets, docs_page
from api.hardening import add_security_headers, cors_config
from api.health import live, ready
from api.metrics import metrics
from api.keys import ApiKeyController
from api.lifecycle import PaymentOperationsController, RefundController
from api.middleware import api_middleware
from api.openapi_strict import ClosedStructSchemaPlugin
from api.payments import PaymentController
from api.problems import handle_exception
from api.state import build_app_state, provide_app_state
from api.events import EventController
from api.webhook_endpoints import WebhookEndpointController
from api.users import UserController, issue_token
from engine.heap import raise_young_threshold, settle_heap
from engine.logconfig import configure_logging
from engine.settings import Settings
from engine.settings_from_env import SettingsError, load_settings

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
        resources = build_app_state(settings)
        app.state.easypay = resources
        await resources.start()
        settle_heap()
        raise_young_threshold()
        try:
            yield
        finally:
            await resources.close()

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
            "principal": Provide(provide_principal, sync_to_thread=False),
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
