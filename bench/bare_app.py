"""The baselines the API is compared with: a bare Litestar app, served by its own uvicorn process
with the same flags as the API (1 process, uvloop, httptools, no access log).

- ``POST /bare/payments``: decodes and validates the same msgspec body as ``POST /v1/payments``
  (``api.schemas.PaymentCreate``), answers 202;
- ``GET /bare/payments/{id}``: answers a payment-sized object, the JSON a real
  ``GET /v1/payments/{id}`` answered in the same run (file named by ``BENCH_PAYMENT_SAMPLE``).
"""

from __future__ import annotations

import json
import os
from typing import Any

from litestar import Litestar, get, post

from api.schemas import PaymentCreate


def _sample() -> dict[str, Any]:
    path = os.environ.get("BENCH_PAYMENT_SAMPLE", "")
    return json.loads(open(path).read()) if path else {"id": "pay_bench", "status": "captured"}


def create_bare_app() -> Litestar:
    sample = _sample()

    @post("/bare/payments", status_code=202)
    async def accept(data: PaymentCreate) -> dict[str, str]:
        return {"status": "pending", "currency": data.currency}

    @get("/bare/payments/{payment_id:str}")
    async def read(payment_id: str) -> dict[str, Any]:
        return {**sample, "id": payment_id}

    @get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return Litestar([accept, read, health], openapi_config=None)
