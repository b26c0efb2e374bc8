"""Throughput check: ``python -m sandbox.bench [--url URL] [-n 20000] [-c 32] [--kind charge|auth]``.

Runs keep-alive aiohttp clients against a running emulator and prints requests/s
and latency percentiles. ``charge`` sends authCaptureTransaction requests with a
unique invoice number each (no duplicates); ``auth`` sends authenticateTestRequest.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time

import aiohttp

NS = "AnetApi/xml/v1/schema/AnetApiSchema.xsd"
_AUTH = ("<merchantAuthentication><name>{login}</name><transactionKey>{key}</transactionKey>"
         "</merchantAuthentication>")


def _body(kind: str, n: int, login: str, key: str) -> bytes:
    auth = _AUTH.format(login=login, key=key)
    if kind == "auth":
        return f'<authenticateTestRequest xmlns="{NS}">{auth}</authenticateTestRequest>'.encode()
    return (
        f'<?xml version="1.0" encoding="utf-8"?><createTransactionRequest xmlns="{NS}">{auth}<refId>b{n}</refId>'
        "<transactionRequest><transactionType>authCaptureTransaction</transactionType><amount>10.00</amount>"
        "<payment><creditCard><cardNumber>4111111111111111</cardNumber><expirationDate>2035-12</expirationDate>"
        f"<cardCode>123</cardCode></creditCard></payment><order><invoiceNumber>B{n}</invoiceNumber></order>"
        "<billTo><firstName>Bench</firstName><zip>10001</zip></billTo></transactionRequest>"
        "</createTransactionRequest>"
    ).encode()


async def _run(url: str, total: int, concurrency: int, kind: str, login: str, key: str) -> None:
    counter = itertools.count()
    latencies: list[float] = []
    errors = 0
    headers = {"Content-Type": "application/xml"}

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        while (n := next(counter)) < total:
            body = _body(kind, n, login, key)
            t0 = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as resp:
                data = await resp.read()
            latencies.append(time.perf_counter() - t0)
            if resp.status != 200 or b"<resultCode>Ok</resultCode>" not in data:
                errors += 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    pct = lambda p: latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000  # noqa: E731
    print(f"{kind}: {total} requests, concurrency {concurrency}, {elapsed:.2f} s -> {total / elapsed:.0f} req/s; "
          f"p50 {pct(0.5):.1f} ms, p99 {pct(0.99):.1f} ms; non-Ok answers {errors}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m sandbox.bench")
    p.add_argument("--url", default="http://127.0.0.1:8899/xml/v1/request.api")
    p.add_argument("-n", "--requests", type=int, default=20000)
    p.add_argument("-c", "--concurrency", type=int, default=32)
    p.add_argument("--kind", choices=("charge", "auth"), default="charge")
    p.add_argument("--login", default="easypay-emulator")
    p.add_argument("--key", default="EmulatorKey12345")
    a = p.parse_args(argv)
    coro = _run(a.url, a.requests, a.concurrency, a.kind, a.login, a.key)
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        asyncio.run(coro)
    else:
        uvloop.run(coro)


if __name__ == "__main__":
    main()
