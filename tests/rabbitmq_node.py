"""A private RabbitMQ node for tests that stop and restart the broker (never the shared one).

The node has its own name, AMQP and distribution ports and data directory; stopping and starting
it again keeps that directory, so durable queues and persistent messages survive as they would
in production. ``rabbitmq-server`` run as root drops to the ``rabbitmq`` user, which therefore
owns the directory.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.conftest import TEST_SLOT, free_port

START_TIMEOUT_S = 60.0


class RabbitmqNode:
    """Its data directory is made under the system temporary directory, not pytest's: the
    ``rabbitmq`` user cannot enter root's private pytest directories. ``remove()`` deletes it."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix=f"easypay-test{TEST_SLOT}-rabbitmq-"))
        self.port = free_port()
        self.dist_port = free_port()
        self.name = f"easypay-test{TEST_SLOT}-{os.getpid()}-{self.port}@localhost"
        self._proc: subprocess.Popen[bytes] | None = None
        for sub in ("mnesia", "log"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        (self.dir / "enabled_plugins").write_text("[].\n")
        if os.geteuid() == 0:
            shutil.chown(self.dir, "rabbitmq", "rabbitmq")
            for path in self.dir.rglob("*"):
                shutil.chown(path, "rabbitmq", "rabbitmq")

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.dir / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
            "RABBITMQ_FEATURE_FLAGS_FILE": str(self.dir / "feature_flags"),
            "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq"),
            "RABBITMQ_PID_FILE": str(self.dir / "pid"),
        }

    def start(self) -> None:
        log = open(self.dir / "server.out", "ab")
        self._proc = subprocess.Popen(
            ["rabbitmq-server"], env=self._env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"rabbitmq-server exited: {(self.dir / 'server.out').read_text()[-2000:]}")
            if self._answers():
                # The port opens before the node is fully booted: wait for the broker itself.
                result = subprocess.run(
                    ["rabbitmqctl", "-q", "-n", self.name, "await_startup"], capture_output=True, timeout=60
                )
                if result.returncode == 0:
                    return
            time.sleep(0.3)
        raise RuntimeError(f"private RabbitMQ did not start within {START_TIMEOUT_S} s")

    def stop(self) -> None:
        subprocess.run(["rabbitmqctl", "-q", "-n", self.name, "stop"], capture_output=True, timeout=60)
        if self._proc is not None:
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False
