"""``api.audit._row``: the row of an audited request, from a cached per-shape head, is exactly the
row of the entry ``_entry`` builds (the values every audited request used to get one by one)."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

from api import audit
from engine.audit import row_of
from engine.auth import Principal

MERCHANT = uuid.uuid4()
KEY = Principal(actor_type="api_key", actor_id="0123456789abcdef", merchant_id=MERCHANT, role="merchant")
READ = SimpleNamespace(opt={"permission": "payments:read"}, handler_name="get_payment")
REVOKE = SimpleNamespace(opt={"permission": "keys:write", "audit_action": "revoke_api_key"}, handler_name="revoke")


def _scope(handler: Any = READ, template: str = "/v1/payments/{payment_id}", method: str = "GET",
           path_params: dict[str, str] | None = None, **state: Any) -> dict[str, Any]:
    return {
        "type": "http", "method": method, "path": "/v1/payments/x", "path_template": template,
        "path_params": {"payment_id": str(uuid.uuid4())} if path_params is None else path_params,
        "route_handler": handler, "client": ("10.0.0.7", 5123),
        "state": {"request_id": f"req_{uuid.uuid4().hex}", **state},
    }


def _same(scope: dict[str, Any], status: int, start: Any = None) -> None:
    entry = audit._entry(scope, status, start)  # type: ignore[arg-type]
    row, security = audit._row(scope, status, start)  # type: ignore[arg-type]
    assert row == row_of(entry)
    assert security == (entry.action in ("revoke_api_key",) or status in (401, 403, 429))


def test_a_read_row_is_the_entry_s_row_every_time() -> None:
    for _ in range(3):  # the first builds the shape, the others reuse it with their own id and request id
        _same(_scope(principal=KEY), 200)


def test_rows_of_other_shapes_are_their_entries_rows() -> None:
    created = {"type": "http.response.start", "status": 201, "headers": [(b"location", b"/v1/api-keys/ak_x")]}
    _same(_scope(REVOKE, "/v1/api-keys/{key_id}", "DELETE", principal=KEY), 200)  # a security action
    _same(_scope(REVOKE, "/v1/api-keys", "POST", path_params={}, principal=KEY), 201, created)
    _same(_scope(principal=KEY, audit_object_id="obj_1"), 200)
    _same(_scope(principal=KEY, audit_merchant_id=uuid.uuid4()), 200)  # noted merchant: no shape
    _same(_scope(principal=KEY), 429)
    _same(_scope(presented_actor=("api_key", "0123456789abcdef")), 401)  # no principal
    _same(_scope(), 401)
    other = Principal(actor_type="user", actor_id=str(uuid.uuid4()), merchant_id=None, role="admin")
    _same(_scope(principal=other), 200)
    _same(_scope(principal=KEY), 200)  # still its own shape
