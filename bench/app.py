"""The real API plus baseline endpoints, served by the same process for same-run ratios.

- ``POST /bench/bare``: answers 202 without reading the body (the framework's floor);
- ``POST /bench/parse``: authenticates, decodes and validates the same body, seals the card,
  answers 202 — everything ``POST /v1/payments`` does except PostgreSQL and the queue.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from litestar import Response, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from api.app import create_app
from api.schemas import PaymentCreate
from api.state import AppState
from api.validation import validate_payment
from engine.auth import Principal
from engine.method_secrets import seal_method


@post("/bench/bare", status_code=202)
async def bare() -> None:
    return None


@post("/bench/parse", status_code=202, opt={"permission": "payments:write"})
async def parse(easypay: NamedDependency[AppState], data: JSONBody[PaymentCreate], principal: NamedDependency[Principal]) -> Response[bytes]:
    validated = validate_payment(
        data, merchant_id=principal.merchant_id, today=dt.date.today(), currencies=easypay.settings.processor.currencies
    )
    assert not isinstance(validated, list)
    _, method = validated
    seal_method(easypay.sealer, uuid.uuid4(), method, ttl_s=60)
    return Response(b'{"status":"pending"}', status_code=202, media_type="application/json")


def create_bench_app() -> Any:
    app = create_app()
    app.register(bare)
    app.register(parse)
    return app
