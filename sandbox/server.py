"""HTTP front end: the XML endpoint, the JSON control API, faults, the listener.

Built on aiohttp's low-level server (no router) with the listening socket
owned here, so that faults can reset a connection after committing a
transaction (SO_LINGER 0 + abort: the client sees ECONNRESET) and so that
``refuse_connections`` can close the listening socket (ECONNREFUSED) and
reopen it on the same port later.

Logging: one line per XML request (method, transaction type, amount,
result codes, transId). Never card numbers, card codes or keys.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import signal
import socket
import struct
import sys
from collections.abc import Sequence

from aiohttp import web

from sandbox import methods
from sandbox.config import DEFAULT_LOGIN_ID, DEFAULT_TRANSACTION_KEY, Config
from sandbox.faults import FaultBook, Rule
from sandbox.ledger import Ledger
from sandbox.transactions import iso
from sandbox.methods import Gateway
from sandbox.render import XML_DECL
from sandbox.wire import BOM

log = logging.getLogger("sandbox")

XML_PATH = "/xml/v1/request.api"
XML_HEADERS = {"Content-Type": "application/xml; charset=utf-8"}
_LINGER_RST = struct.pack("ii", 1, 0)


class Emulator:
    """One emulator: state, faults and the HTTP listener. Use :meth:`start` / :meth:`stop`."""

    def __init__(self, config: Config, host: str = "127.0.0.1", port: int = 8899) -> None:
        self.config = config
        self._initial = config.copy()
        self.host = host
        self.port = port
        self.ledger = Ledger(config)
        self.gateway = Gateway(self.ledger, config)
        self.faults = FaultBook()
        self.rng = random.Random()
        self._http = web.Server(self._dispatch, access_log=None, keepalive_timeout=75)
        self._listener: asyncio.Server | None = None
        self._relisten: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task] = set()
        self._busy: set[object] = set()  # protocols with a request in progress
        self._control = {
            ("GET", "/_sandbox/health"): self._health,
            ("GET", "/_sandbox/ledger"): self._ledger,
            ("POST", "/_sandbox/settle"): self._settle,
            ("GET", "/_sandbox/clock"): self._clock,
            ("POST", "/_sandbox/clock"): self._clock,
            ("POST", "/_sandbox/reset"): self._reset,
            ("GET", "/_sandbox/faults"): self._faults_list,
            ("POST", "/_sandbox/faults"): self._faults_add,
            ("DELETE", "/_sandbox/faults"): self._faults_clear,
            ("GET", "/_sandbox/config"): self._config,
            ("POST", "/_sandbox/config"): self._config,
        }

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Bind and listen; ``self.port`` is the real port afterwards (useful with port 0)."""
        await self._listen()
        assert self._listener is not None
        self.port = self._listener.sockets[0].getsockname()[1]
        if self.config.settle_interval_s:
            self._spawn(self._auto_settle(self.config.settle_interval_s))
        log.info("listening on http://%s:%d%s (login %s)", self.host, self.port, XML_PATH, self.config.login_id)

    async def stop(self) -> None:
        """Stop listening, close connections, cancel background tasks."""
        if self._relisten is not None:
            self._relisten.cancel()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        for task in list(self._tasks):
            task.cancel()
        await self._http.shutdown(1.0)

    async def _listen(self) -> None:
        loop = asyncio.get_running_loop()
        self._listener = await loop.create_server(self._http, self.host, self.port, reuse_address=True, backlog=1024)

    def _spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _auto_settle(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            result = self.ledger.settle()
            if result["settled"]:
                log.info("auto-settle: %d transaction(s) in batch %s", result["settled"], result["batch_id"])

    def refuse_connections(self, duration_ms: int) -> None:
        """Close the listening socket for ``duration_ms`` and drop keep-alive connections.

        New connections get ECONNREFUSED (nothing listens on the port). Connections
        busy with a request close right after their response.
        """
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        for conn in list(self._http.connections):
            if conn in self._busy:
                conn.close()  # finish the request in progress, then close
            else:
                conn.force_close()  # idle keep-alive: close now
        if self._relisten is not None:
            self._relisten.cancel()
        self._relisten = asyncio.get_running_loop().call_later(duration_ms / 1000, self._spawn_relisten)

    def _spawn_relisten(self) -> None:
        self._relisten = None
        self._spawn(self._reopen())

    async def _reopen(self) -> None:
        for attempt in range(50):
            try:
                await self._listen()
                log.info("accepting connections again on port %d", self.port)
                return
            except OSError:
                await asyncio.sleep(0.05 * (attempt + 1))
        log.error("could not listen on port %d again", self.port)

    # ------------------------------------------------------------------ HTTP

    async def _dispatch(self, request: web.BaseRequest) -> web.StreamResponse:
        protocol = request.protocol
        self._busy.add(protocol)
        try:
            return await self._route(request)
        finally:
            self._busy.discard(protocol)

    async def _route(self, request: web.BaseRequest) -> web.StreamResponse:
        path = request.path
        if path == XML_PATH:
            if request.method != "POST":
                return web.Response(status=405, headers={"Allow": "POST"})
            return await self._xml(request)
        handler = self._control.get((request.method, path))
        if handler is not None:
            return await handler(request)
        if path.startswith("/_sandbox/"):
            return _json({"error": f"no such control call: {request.method} {path}"}, 404)
        return web.Response(status=404, text="Not Found")

    @staticmethod
    def _reset_connection(request: web.BaseRequest) -> None:
        """Abort the connection with a TCP RST (SO_LINGER 0): no HTTP response at all."""
        transport = request.transport
        if transport is None:
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
            except OSError:
                pass
        transport.abort()

    @staticmethod
    def _gone(request: web.BaseRequest) -> bool:
        transport = request.transport
        return transport is None or transport.is_closing()

    async def _xml(self, request: web.BaseRequest) -> web.StreamResponse:
        body = await request.read()
        parsed = methods.parse(body, request.headers.get("Content-Type"))
        rule = self.faults.take({"method": parsed.method, "transaction_type": parsed.transaction_type,
                                 "invoice_number": parsed.invoice_number, "amount": parsed.amount})
        cfg = self.config
        delay_ms = cfg.latency_ms + (self.rng.uniform(0, cfg.latency_jitter_ms) if cfg.latency_jitter_ms else 0)
        kind = rule.fault if rule is not None else None
        if kind is None and cfg.fail_rate and self.rng.random() < cfg.fail_rate:
            kind = "http_503"
        if rule is not None and kind in ("latency", "hang"):
            delay_ms += rule.delay_ms
        if delay_ms:
            await asyncio.sleep(delay_ms / 1000)
        what = f"{parsed.method or '?'} {parsed.transaction_type or ''}".rstrip()

        if kind == "hang" and self._gone(request):
            log.info("%s -> client gone during hang, not processed", what)
            return web.Response(status=499)
        if kind in ("http_500", "http_503"):
            status = int(kind[5:])
            log.info("%s -> HTTP %d (fault, not processed)", what, status)
            reason = "Internal Server Error" if status == 500 else "Service Unavailable"
            return web.Response(status=status, content_type="text/html",
                                text=f"<html><body><h1>{status} {reason}</h1></body></html>")
        if kind == "malformed":
            log.info("%s -> malformed body (fault, not processed)", what)
            garbage = (BOM + XML_DECL.encode() + b'<createTransactionResponse xmlns="AnetApi/xml/v1/schema/'
                       b'AnetApiSchema.xsd"><messages><resultCode>Ok</resu')
            return web.Response(body=garbage, headers=XML_HEADERS)
        if kind == "reset_before_commit":
            log.info("%s -> connection reset (fault, not processed)", what)
            self._reset_connection(request)
            return web.Response(status=499)

        reply = self.gateway.handle(parsed)
        log.info("%s%s", reply.summary, f" [fault {kind}]" if kind else "")
        if kind == "drop_after_commit":
            self._reset_connection(request)
            return web.Response(status=499)
        if rule is not None and kind == "hang_after_commit":
            await asyncio.sleep(rule.delay_ms / 1000)
        out = reply.body[len(BOM):] if kind == "no_bom" else reply.body
        return web.Response(body=out, headers=XML_HEADERS)

    # ------------------------------------------------------------------ control API

    async def _health(self, request: web.BaseRequest) -> web.Response:
        return _json({"status": "ok"})

    async def _ledger(self, request: web.BaseRequest) -> web.Response:
        return _json({"transactions": self.ledger.rows(request.query.get("invoice_number"))})

    async def _settle(self, request: web.BaseRequest) -> web.Response:
        result = self.ledger.settle()
        log.info("settle: %d transaction(s) in batch %s", result["settled"], result["batch_id"])
        return _json(result)

    async def _clock(self, request: web.BaseRequest) -> web.Response:
        if request.method == "POST":
            data = await _body(request)
            step = data.get("advance_s") if isinstance(data, dict) else None
            if not isinstance(step, (int, float)) or isinstance(step, bool) or step < 0:
                return _json({"error": "advance_s must be a non-negative number"}, 400)
            self.ledger.clock.advance(step)
        clock = self.ledger.clock
        return _json({"now": iso(clock.now()), "offset_s": clock.offset_s})

    async def _reset(self, request: web.BaseRequest) -> web.Response:
        self.ledger.reset()
        self.ledger.clock.reset()
        self.faults.clear()
        for key in Config.MUTABLE:
            setattr(self.config, key, getattr(self._initial, key))
        log.info("reset: ledger, faults, clock and config cleared")
        return _json({"status": "ok"})

    async def _faults_list(self, request: web.BaseRequest) -> web.Response:
        return _json({"faults": self.faults.public()})

    async def _faults_add(self, request: web.BaseRequest) -> web.Response:
        try:
            rule = Rule.from_json(await _body(request))
        except ValueError as exc:
            return _json({"error": str(exc)}, 400)
        if rule.fault == "refuse_connections":
            self.refuse_connections(rule.duration_ms)
            log.info("refusing connections for %d ms", rule.duration_ms)
            return _json(rule.public(), 201, close=True)
        self.faults.add(rule)
        return _json(rule.public(), 201)

    async def _faults_clear(self, request: web.BaseRequest) -> web.Response:
        n = len(self.faults.rules)
        self.faults.clear()
        return _json({"cleared": n})

    async def _config(self, request: web.BaseRequest) -> web.Response:
        if request.method == "POST":
            data = await _body(request)
            try:
                if not isinstance(data, dict):
                    raise ValueError("body must be a JSON object")
                self.config.update(data)
            except ValueError as exc:
                return _json({"error": str(exc)}, 400)
        return _json(self.config.public())


async def _body(request: web.BaseRequest) -> object:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _json(data: object, status: int = 200, *, close: bool = False) -> web.Response:
    headers = {"Connection": "close"} if close else None
    return web.json_response(data, status=status, headers=headers)


# ---------------------------------------------------------------------- entry points


async def serve(config: Config, host: str = "127.0.0.1", port: int = 8899,
                stop: asyncio.Event | None = None) -> None:
    """Run an emulator until ``stop`` is set, or SIGTERM/SIGINT arrives."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread, or no signal support
    emulator = Emulator(config, host, port)
    await emulator.start()
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        await emulator.stop()
        for sig in installed:
            loop.remove_signal_handler(sig)


def _run_loop(coro) -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        asyncio.run(coro)
    else:
        uvloop.run(coro)


def _setup_logging(level: str | None = None) -> None:
    """A stderr handler on the ``sandbox`` logger (once); level INFO unless given or already set."""
    logger = logging.getLogger("sandbox")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    if level:
        logger.setLevel(level.upper())
    elif logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)


def run(host: str = "127.0.0.1", port: int = 8899, *, latency_ms: int = 0, latency_jitter_ms: int = 0,
        fail_rate: float = 0.0, login_id: str = DEFAULT_LOGIN_ID, transaction_key: str = DEFAULT_TRANSACTION_KEY,
        settle_interval_s: float | None = None) -> None:
    """Run the emulator in the foreground until SIGTERM/SIGINT (blocking)."""
    config = Config(login_id=login_id, transaction_key=transaction_key, latency_ms=latency_ms,
                    latency_jitter_ms=latency_jitter_ms, fail_rate=fail_rate, settle_interval_s=settle_interval_s)
    _setup_logging()
    _run_loop(serve(config, host, port))


def build_arg_parser() -> argparse.ArgumentParser:
    """The ``python -m sandbox`` command line."""
    p = argparse.ArgumentParser(prog="python -m sandbox", description="Local Authorize.net XML API emulator.")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8899, help="port to bind (default 8899; 0 = any free port)")
    p.add_argument("--latency-ms", type=int, default=0, help="delay added to every XML request")
    p.add_argument("--latency-jitter-ms", type=int, default=0, help="plus a uniform random delay up to this")
    p.add_argument("--fail-rate", type=float, default=0.0, help="fraction of XML requests answered 503")
    p.add_argument("--login", default=DEFAULT_LOGIN_ID, help="API login ID to accept")
    p.add_argument("--key", default=DEFAULT_TRANSACTION_KEY, help="transaction key to accept")
    p.add_argument("--settle-interval-s", type=float, default=None, help="settle automatically every N seconds")
    p.add_argument("--log-level", default="INFO", help="sandbox logger level (default INFO)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the process exit code."""
    args = build_arg_parser().parse_args(argv)
    if args.latency_ms < 0 or args.latency_jitter_ms < 0 or not 0 <= args.fail_rate <= 1:
        print("latency must be >= 0 and --fail-rate in [0, 1]", file=sys.stderr)
        return 2
    _setup_logging(args.log_level)
    try:
        run(args.host, args.port, latency_ms=args.latency_ms, latency_jitter_ms=args.latency_jitter_ms,
            fail_rate=args.fail_rate, login_id=args.login, transaction_key=args.key,
            settle_interval_s=args.settle_interval_s or None)
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", args.host, args.port, exc)
        return 1
    return 0
