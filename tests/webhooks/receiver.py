"""A webhook receiver on loopback: scripted answers per path, every request verified with the
independent ``standardwebhooks`` package against the secrets the test registered for that path."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError


#: Digits become letters: a long hex run of digits can pass the Luhn check, and the API refuses
#: text that looks like a card number anywhere but the card field (a URL included).
_NO_DIGITS = str.maketrans("0123456789", "ghijklmnop")


def unique_path(kind: str = "hook") -> str:
    """A fresh receiver path, ``/<kind>/<32 letters>``."""
    return f"/{kind}/{uuid.uuid4().hex.translate(_NO_DIGITS)}"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    #: Which registered secrets verified this request.
    verified_with: list[str]
    status: int = 0
    completed: bool = False


@dataclass
class Behaviour:
    #: Answers for the first requests, in order; then ``default``.
    statuses: list[int] = field(default_factory=list)
    default: int = 200
    #: Requests wait on this before answering (a hanging endpoint); None answers at once.
    hold: threading.Event | None = None
    location: str | None = None
    secrets: list[str] = field(default_factory=list)
    open_now: int = 0
    max_open: int = 0


class Receiver:
    def __init__(self) -> None:
        self.behaviours: dict[str, Behaviour] = {}
        self.received: list[Received] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                receiver._handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def behave(self, path: str, **options: Any) -> Behaviour:
        with self.lock:
            behaviour = self.behaviours.setdefault(path, Behaviour())
            for key, value in options.items():
                setattr(behaviour, key, value)
            return behaviour

    def requests(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("content-length", "0"))
        body = handler.rfile.read(length)
        headers = {k.lower(): v for k, v in handler.headers.items()}
        with self.lock:
            behaviour = self.behaviours.setdefault(handler.path, Behaviour())
            verified = []
            for secret in behaviour.secrets:
                try:
                    Webhook(secret).verify(body, headers)
                    verified.append(secret)
                except WebhookVerificationError:
                    pass
            record = Received(handler.path, headers, body, verified)
            self.received.append(record)
            status = behaviour.statuses.pop(0) if behaviour.statuses else behaviour.default
            behaviour.open_now += 1
            behaviour.max_open = max(behaviour.max_open, behaviour.open_now)
            hold = behaviour.hold
        try:
            if hold is not None:
                hold.wait(timeout=60)
            record.status = status
            handler.send_response(status)
            if 300 <= status < 400 and behaviour.location:
                handler.send_header("Location", behaviour.location)
            reply = f'{{"received": true, "status": {status}}}'.encode()
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(reply)))
            handler.end_headers()
            handler.wfile.write(reply)
            record.completed = True
        except OSError:
            pass
        finally:
            with self.lock:
                behaviour.open_now -= 1

    def close(self) -> None:
        for behaviour in self.behaviours.values():
            if behaviour.hold is not None:
                behaviour.hold.set()
        self.server.shutdown()
        self.server.server_close()


async def wait_until(predicate: Any, *, timeout_s: float = 30.0, what: str = "condition") -> None:
    """Poll ``predicate`` (sync or async) until true; a liveness deadline, not a speed assertion."""
    import asyncio
    import inspect

    deadline = time.monotonic() + timeout_s
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
