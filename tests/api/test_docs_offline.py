"""The documentation page loads with no internet: every asset it references is served by the API."""

from __future__ import annotations

import re
from importlib.metadata import version


async def test_schema_page_references_only_assets_the_api_serves(api):
    page = await api.get("/schema")
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    references = re.findall(r'(?:src|href)=["\']([^"\']+)["\']', page.text)
    assert references, "the page loads Swagger UI's script and stylesheet"
    for reference in references:
        assert reference.startswith("/") and not reference.startswith("//"), f"{reference} is not served by the API"
        asset = await api.get(reference)
        assert asset.status_code == 200 and len(asset.content) > 1000, reference
    csp = page.headers["Content-Security-Policy"]
    assert "http" not in csp, "the docs page needs no other host"


async def test_openapi_document_carries_the_package_version(api):
    document = (await api.get("/schema/openapi.json")).json()
    assert document["info"]["version"] == version("easypay")


async def test_every_documented_error_is_a_problem_document(api):
    document = (await api.get("/schema/openapi.json")).json()
    wrong = []
    for path, item in document["paths"].items():
        if not path.startswith("/v1"):
            continue
        for method, operation in item.items():
            for status, response in operation.get("responses", {}).items():
                if status.startswith("4") or status.startswith("5"):
                    if set(response.get("content", {})) != {"application/problem+json"}:
                        wrong.append((method.upper(), path, status, sorted(response.get("content", {}))))
    assert wrong == [], wrong


async def test_every_json_success_body_of_v1_is_a_described_object(api):
    document = (await api.get("/schema/openapi.json")).json()
    bare = [
        (method.upper(), path, status)
        for path, item in document["paths"].items() if path.startswith("/v1")
        for method, operation in item.items()
        for status, response in operation["responses"].items() if status.startswith("2")
        for media in response.get("content", {}).values() if "$ref" not in media.get("schema", {})
    ]
    assert bare == [], "documented as a bare string (or untyped) but the server sends an object"


async def test_statuses_are_enumerated_in_the_document(api):
    from engine.states import PaymentStatus, RefundStatus

    schemas = (await api.get("/schema/openapi.json")).json()["components"]["schemas"]

    def enum_of(name: str) -> set[str]:
        status = schemas[name]["properties"]["status"]
        target = schemas[status["$ref"].rsplit("/", 1)[-1]] if "$ref" in status else status
        return set(target["enum"])

    assert enum_of("PaymentView") == {s.value for s in PaymentStatus}
    assert enum_of("RefundView") == {s.value for s in RefundStatus}


async def test_roles_and_event_types_are_enumerated_in_the_document(api):
    from engine.events import PUBLIC_EVENT_TYPES
    from engine.permissions import ROLES

    schemas = (await api.get("/schema/openapi.json")).json()["components"]["schemas"]

    def enum_of(name: str, field: str) -> set[str]:
        prop = schemas[name]["properties"][field]
        target = schemas[prop["$ref"].rsplit("/", 1)[-1]] if "$ref" in prop else prop
        return set(target["enum"])

    assert enum_of("ApiKeyView", "role") == enum_of("UserView", "role") == set(ROLES)
    assert enum_of("EventView", "type") == set(PUBLIC_EVENT_TYPES)
