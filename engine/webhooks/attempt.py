"""One HTTP attempt: POST the exact event bytes to a vetted address, classify the answer.

Only 2xx is success. Redirects are never followed (a 3xx is a failure naming its Location).
``410 Gone`` tells the caller to disable the endpoint. The whole attempt — connect, send, wait,
read — is bounded by ``total_timeout_s``; the response body is read up to ``body_bytes`` only.

What the merchant can read back is limited to what a public receiver would tell anyone: for a
target that is not globally routable (reached only because ``WEBHOOK_ALLOWED_NETWORKS`` allows
it) neither the body nor a redirect's ``Location`` is kept — the status code only — so an
endpoint URL cannot be used to read internal services. Error texts never carry the vetted IP.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx

from engine.webhooks.addresses import Target
from engine.webhooks.schedule import retry_after_s

#: A ``Retry-After`` longer than this is not honoured beyond it.
MAX_RETRY_AFTER_S = 24 * 3600.0


@dataclass(frozen=True)
class AttemptResult:
    succeeded: bool
    latency_ms: int
    status_code: int | None = None
    error: str | None = None
    response_body: str | None = None
    #: 410: the receiver asks never to be called again.
    gone: bool = False
    retry_after_s: float | None = None


def make_client(*, connect_timeout_s: float, total_timeout_s: float, max_connections: int) -> httpx.AsyncClient:
    """The per-process client: no redirects, no proxies from the environment, explicit timeouts."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(total_timeout_s, connect=connect_timeout_s),
        follow_redirects=False,
        trust_env=False,
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        headers={"user-agent": "EasyPay-Webhooks/1"},
    )


async def post_event(
    client: httpx.AsyncClient,
    target: Target,
    *,
    headers: dict[str, str],
    body: bytes,
    total_timeout_s: float,
    body_bytes: int,
) -> AttemptResult:
    started = time.monotonic()
    if not target.public:
        body_bytes = 0

    def elapsed_ms() -> int:
        return int((time.monotonic() - started) * 1000)

    extensions = {"sni_hostname": target.sni_hostname} if target.sni_hostname else None
    request = client.build_request(
        "POST", target.connect_url, content=body, headers={**headers, "host": target.host_header}, extensions=extensions
    )
    try:
        async with asyncio.timeout(total_timeout_s):
            response = await client.send(request, stream=True)
            try:
                prefix = bytearray()
                if body_bytes > 0:
                    async for chunk in response.aiter_raw():
                        prefix += chunk
                        if len(prefix) >= body_bytes:
                            break
            finally:
                await response.aclose()
    except TimeoutError:
        return AttemptResult(False, elapsed_ms(), error=f"timeout after {total_timeout_s:g} s")
    except httpx.TimeoutException as exc:
        return AttemptResult(False, elapsed_ms(), error=f"timeout ({type(exc).__name__})")
    except httpx.HTTPError as exc:
        detail = str(exc).replace(target.ip, "(address)")[:200]
        return AttemptResult(False, elapsed_ms(), error=f"{type(exc).__name__}: {detail}")
    status = response.status_code
    text = bytes(prefix[:body_bytes]).decode("utf-8", errors="replace") if body_bytes > 0 else None
    latency = elapsed_ms()
    if 200 <= status < 300:
        return AttemptResult(True, latency, status_code=status, response_body=text)
    error = f"HTTP {status}"
    if 300 <= status < 400:
        location = f" to {response.headers.get('location', '?')[:200]}" if target.public else ""
        error = f"redirect not followed (HTTP {status}{location})"
    return AttemptResult(
        False,
        latency,
        status_code=status,
        error=error,
        response_body=text,
        gone=status == 410,
        retry_after_s=retry_after_s(response.headers.get("retry-after"), cap_s=MAX_RETRY_AFTER_S)
        if status in (429, 503)
        else None,
    )
