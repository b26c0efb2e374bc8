"""One HTTP attempt: POST the exact event bytes to a vetted address, classify the answer.

Only 2xx is success. Redirects are never followed (a 3xx is a failure naming its Location).
``410 Gone`` tells the caller to disable the endpoint. The whole attempt — connect, send, wait,
read — is bounded by ``total_timeout_s``; at most ``body_bytes`` of the response are kept.

The client is one ``aiohttp.ClientSession`` per process (``make_client``): pooled keep-alive
connections, keyed by the vetted IP, port, TLS settings and SNI name, so a connection opened
for one host name is never reused for another. A response small enough is read to its end so
its connection goes back to the pool; a larger one is cut and its connection closed.

What the merchant can read back is limited to what a public receiver would tell anyone: for a
target that is not globally routable (reached only because ``WEBHOOK_ALLOWED_NETWORKS`` allows
it) neither the body nor a redirect's ``Location`` is kept — the status code only — so an
endpoint URL cannot be used to read internal services. Error texts never carry the vetted IP.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import aiohttp

from engine.webhooks.addresses import Target
from engine.webhooks.schedule import retry_after_s

#: A ``Retry-After`` longer than this is not honoured beyond it.
MAX_RETRY_AFTER_S = 24 * 3600.0
#: Responses with a declared length up to this are read whole (their connection is kept).
DRAIN_BYTES = 64 * 1024
USER_AGENT = "EasyPay-Webhooks/1"


@dataclass(frozen=True, slots=True)
class AttemptResult:
    succeeded: bool
    latency_ms: int
    status_code: int | None = None
    error: str | None = None
    response_body: str | None = None
    #: 410: the receiver asks never to be called again.
    gone: bool = False
    retry_after_s: float | None = None


def make_client(*, connect_timeout_s: float, total_timeout_s: float, max_connections: int) -> aiohttp.ClientSession:
    """The per-process client: no redirects, no proxies from the environment, explicit timeouts.

    Call it on the event loop that will use it; close it with ``await client.close()``.
    """
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=max_connections, limit_per_host=0, enable_cleanup_closed=True),
        timeout=aiohttp.ClientTimeout(total=total_timeout_s, connect=connect_timeout_s),
        headers={"User-Agent": USER_AGENT},
        skip_auto_headers=("Accept", "Accept-Encoding"),
        auto_decompress=False,
        trust_env=False,
    )


async def _prefix(response: aiohttp.ClientResponse, limit: int) -> bytes:
    prefix = bytearray()
    while len(prefix) < limit:
        chunk = await response.content.read(limit - len(prefix))
        if not chunk:
            break
        prefix += chunk
    return bytes(prefix)


async def post_event(
    client: aiohttp.ClientSession,
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

    headers["Host"] = target.host_header
    try:
        async with asyncio.timeout(total_timeout_s):
            async with client.post(
                target.connect_url, data=body, headers=headers, allow_redirects=False, server_hostname=target.sni_hostname
            ) as response:
                status = response.status
                location = response.headers.get("location")
                retry_after = response.headers.get("retry-after")
                length = response.content_length
                if length is not None and length <= DRAIN_BYTES:
                    prefix = await response.read()
                else:  # unknown or large: keep a prefix, then drop the connection
                    prefix = await _prefix(response, body_bytes)
                    response.close()
    except TimeoutError:
        return AttemptResult(False, elapsed_ms(), error=f"timeout after {total_timeout_s:g} s")
    except (aiohttp.ClientError, OSError) as exc:
        detail = str(exc).replace(target.ip, "(address)")[:200]
        return AttemptResult(False, elapsed_ms(), error=f"{type(exc).__name__}: {detail}")
    text = prefix[:body_bytes].decode("utf-8", errors="replace") if body_bytes > 0 else None
    latency = elapsed_ms()
    if 200 <= status < 300:
        return AttemptResult(True, latency, status_code=status, response_body=text)
    error = f"HTTP {status}"
    if 300 <= status < 400:
        where = f" to {(location or '?')[:200]}" if target.public else ""
        error = f"redirect not followed (HTTP {status}{where})"
    return AttemptResult(
        False,
        latency,
        status_code=status,
        error=error,
        response_body=text,
        gone=status == 410,
        retry_after_s=retry_after_s(retry_after, cap_s=MAX_RETRY_AFTER_S) if status in (429, 503) else None,
    )
