from __future__ import annotations

from dataclasses import dataclass, field, replace
from types import SimpleNamespace
from typing import Callable, Mapping

import aiohttp
import httpx
from engine.processor import Billing, Card, ChargeRequest, OpaqueData, ProcessorClient
from engine.settings import ProcessorSettings

URL = "https://anet.test/xml/v1/request.api"
LOGIN = "easypay-login"
KEY = "SecretTxKey98765"
PAN = "4111111111111111"
CVC = "937"
NONCE = "eyJub25jZSI6InNlY3JldC1ub25jZS12YWx1ZSJ9"

SETTINGS = ProcessorSettings(
    endpoint_url=URL,
    login_id=LOGIN,
    transaction_key=KEY,
    emulated=False,
    connect_timeout_s=1.5,
    read_timeout_s=7.0,
    duplicate_window_s=600,
    connect_attempts=4,
)

Handler = Callable[[httpx.Request], httpx.Response]


def connect_refused(host: str = "anet.test") -> aiohttp.ClientConnectorError:
    """What aiohttp raises when the connection is refused (nothing was sent)."""
    key = SimpleNamespace(host=host, port=443, ssl=True)
    return aiohttp.ClientConnectorError(key, ConnectionRefusedError(111, "Connection refused"))  # type: ignore[arg-type]


@dataclass
class Recorder:
    """A fake HTTP layer (the client's ``transport``) that records every request and plays
    scripted steps: response bodies, ``httpx.Response`` objects (status and body; httpx only as a
    data type here), handlers of an ``httpx.Request``, or the transport's exceptions (an
    instance, or an exception class raised with a message)."""

    steps: list = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)

    async def __call__(self, url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
        request = httpx.Request("POST", url, content=body, headers=dict(headers))
        self.requests.append(request)
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        if isinstance(step, BaseException):
            raise step
        if isinstance(step, type) and issubclass(step, BaseException):
            raise step("simulated")
        if callable(step):
            step = step(request)
            if hasattr(step, "__await__"):
                step = await step
        if isinstance(step, httpx.Response):
            return step.status_code, step.content
        return 200, step

    @property
    def bodies(self) -> list[bytes]:
        return [r.content for r in self.requests]


def make_client(recorder: Recorder, **overrides) -> ProcessorClient:
    settings = replace(SETTINGS, **overrides)
    return ProcessorClient(
        settings,
        transport=recorder,
        connect_backoff_initial_s=0,
        connect_backoff_max_s=0,
        connect_backoff_jitter_s=0,
    )


def card_request(**overrides) -> ChargeRequest:
    values = dict(
        capture=True,
        amount_minor=1250,
        currency="USD",
        exponent=2,
        invoice_number="INV-0001",
        payment=Card(PAN, 12, 2035, CVC),
        billing=Billing(first_name="Ada", last_name="Lovelace", line1="1 Main St", city="Indianapolis", state="IN", postal_code="46201", country="US"),
        customer_id="cust-42",
        description="Order 42",
        ref_id="ref-42",
    )
    values.update(overrides)
    return ChargeRequest(**values)


def nonce_request(**overrides) -> ChargeRequest:
    return card_request(payment=OpaqueData("COMMON.ACCEPT.INAPP.PAYMENT", NONCE), **overrides)
