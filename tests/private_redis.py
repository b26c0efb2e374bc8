"""A ``redis-server`` of a test's own (another port, no persistence), to stop and restart at will.

Tests that take Redis away use this, never the machine's shared server; a restart comes back
empty, as a production Redis without persistence does.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import redis

from tests.conftest import stop


class PrivateRedis:
    """A ``redis-server`` of this module's own, without persistence: a restart comes back empty."""

    def __init__(self, port: int, log_path: Path) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self._log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = open(self._log_path, "ab")
        self._proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline or self._proc.poll() is not None:
                    raise RuntimeError("private redis-server did not start") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self._proc is not None:
            stop(self._proc)
            self._proc = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def size(self) -> int:
        return int(redis.Redis(port=self.port).dbsize())

    def get(self, name: str) -> Any:
        raw = redis.Redis(port=self.port).get(name)
        return json.loads(raw) if raw is not None else None

    def raw(self, name: str) -> bytes | None:
        return redis.Redis(port=self.port).get(name)
