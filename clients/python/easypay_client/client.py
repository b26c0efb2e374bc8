"""``Client`` (sync) and ``AsyncClient``: the same resources and policy, two transports.

Both drive the generators of ``easypay_client._core``; the only code that differs is the
transport call (``httpx.Client.send`` / ``await httpx.AsyncClient.send``) and the sleep.
"""

from __future__ import annotations

import abc
import asyncio
import time
from typing import Any, AsyncIterator, Iterator

import httpx

from easypay_client import _resources as r
from easypay_client._config import Config, resolve
from easypay_client._core import Call, Core, Pager, Plan, RetryPolicy, Sleep
from easypay_client.models import Payment


class _Base(abc.ABC):
    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout_s: float = 30.0,
        max_retries: int = 4,
        retry: RetryPolicy | None = None,
        config: Config | None = None,
    ) -> None:
        self.config = config or resolve(base_url, api_key, timeout_s=timeout_s, max_retries=max_retries)
        self._core = Core(self.config, retry)
        self.payments = r.Payments(self)
        self.refunds = r.Refunds(self)
        self.events = r.Events(self)
        self.webhook_endpoints = r.WebhookEndpoints(self)
        self.api_keys = r.ApiKeys(self)
        self.users = r.Users(self)
        self.tokens = r.Tokens(self)
        self.audit_logs = r.AuditLogs(self)

    def wait_for(self, payment_id: str, timeout_s: float = 30.0, *, status: str | None = None) -> Any:
        """The payment once it has its outcome, long-polling ``?wait=``; ``WaitTimeout`` after ``timeout_s``.

        With ``status`` (the status you already have, e.g. ``captured`` after asking for a
        refund), waits until the payment has another status with nothing in flight.
        """
        return self._run(self._core.wait_for(payment_id, timeout_s, status))

    def _request(self, call: Call) -> Any:
        return self._run(self._core.exchange(call))

    @abc.abstractmethod
    def _run(self, plan: Plan[Any]) -> Any:
        """Drive ``plan`` with this client's transport and sleep."""

    @abc.abstractmethod
    def _paginate(self, pager: Pager[Any]) -> Any:
        """Iterate every item of ``pager``'s pages."""


class Client(_Base):
    """The synchronous client. ``Client()`` reads ``EASYPAY_BASE_URL`` and ``EASYPAY_API_KEY``."""

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *, http: httpx.Client | None = None, **options: Any) -> None:
        super().__init__(base_url, api_key, **options)
        self._http = http or httpx.Client(timeout=self.config.timeout_s)

    def _run(self, plan: Plan[Any]) -> Any:
        try:
            step = next(plan)
            while True:
                if isinstance(step, Sleep):
                    time.sleep(step.seconds)
                    step = plan.send(None)
                    continue
                try:
                    outcome: Any = self._http.send(step)
                except httpx.TransportError as exc:
                    outcome = exc
                step = plan.send(outcome)
        except StopIteration as done:
            return done.value

    def _paginate(self, pager: Pager[Any]) -> Iterator[Any]:
        while (call := pager.next_call()) is not None:
            yield from pager.take(self._request(call))

    def wait_for(self, payment_id: str, timeout_s: float = 30.0, *, status: str | None = None) -> Payment:
        return super().wait_for(payment_id, timeout_s, status=status)  # type: ignore[no-any-return]

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient(_Base):
    """The asyncio client: every method of ``Client``, awaited; ``*_all`` are async iterators."""

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *, http: httpx.AsyncClient | None = None, **options: Any) -> None:
        super().__init__(base_url, api_key, **options)
        self._http = http or httpx.AsyncClient(timeout=self.config.timeout_s)

    async def _run(self, plan: Plan[Any]) -> Any:  # type: ignore[override]
        try:
            step = next(plan)
            while True:
                if isinstance(step, Sleep):
                    await asyncio.sleep(step.seconds)
                    step = plan.send(None)
                    continue
                try:
                    outcome: Any = await self._http.send(step)
                except httpx.TransportError as exc:
                    outcome = exc
                step = plan.send(outcome)
        except StopIteration as done:
            return done.value

    async def _paginate(self, pager: Pager[Any]) -> AsyncIterator[Any]:  # type: ignore[override]
        while (call := pager.next_call()) is not None:
            for item in pager.take(await self._request(call)):
                yield item

    async def wait_for(self, payment_id: str, timeout_s: float = 30.0, *, status: str | None = None) -> Payment:  # type: ignore[override]
        return await super().wait_for(payment_id, timeout_s, status=status)  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
