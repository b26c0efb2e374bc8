"""Every dashboard route in one router, and the template configuration (``api.app`` mounts both)."""

from __future__ import annotations

from pathlib import Path

from litestar import Router
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from api.dashboard.actions import capture, refund, void
from api.dashboard.developers import create_key, developers, resend, revoke
from api.dashboard.guard import EXCEPTION_HANDLERS
from api.dashboard.operators import operators, purge, replay
from api.dashboard.payments import payment_detail, payment_history_fragment, payment_list
from api.dashboard.signin import home, sign_in, sign_in_form, sign_out
from api.dashboard.webhooks import endpoint_detail, endpoint_list, recover, resend_delivery, rotate, switch

_HERE = Path(__file__).parent


def dashboard_router() -> Router:
    return Router(
        path="/dashboard",
        route_handlers=[
            home, sign_in_form, sign_in, sign_out, payment_list, payment_detail, payment_history_fragment, capture, void, refund,
            endpoint_list, endpoint_detail, switch, rotate, recover, resend_delivery, developers, create_key, revoke, resend, operators, replay, purge,
            create_static_files_router(path="/static", directories=[_HERE / "static"], name="dashboard_static"),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        include_in_schema=False,
    )


def dashboard_templates() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(directory=_HERE / "templates", engine=JinjaTemplateEngine)


__all__ = ["dashboard_router", "dashboard_templates"]
