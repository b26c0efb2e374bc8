"""The API's documentation page (Swagger UI at ``/schema``), every asset served from the installed
``swagger-ui-bundle`` package: it works without internet, and the version is pinned by the package.
"""

from __future__ import annotations

from importlib.metadata import version

from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.router import Router
from litestar.static_files import create_static_files_router
from swagger_ui_bundle import swagger_ui_path

ASSETS_PATH = "/schema/assets"


def docs_page() -> SwaggerRenderPlugin:
    return SwaggerRenderPlugin(
        path=["/", "/swagger"],
        js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        css_url=f"{ASSETS_PATH}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
        favicon="",
    )


def docs_assets() -> Router:
    return create_static_files_router(
        path=ASSETS_PATH, directories=[swagger_ui_path], opt={"permission": None}, include_in_schema=False
    )


def api_version() -> str:
    """``info.version`` of the OpenAPI document: the installed package's version."""
    return version("easypay")
