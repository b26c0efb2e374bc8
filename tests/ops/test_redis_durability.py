"""Compose runs Redis durably (README "Running Redis durably"): the append-only file, fsynced every
second, no eviction, ``/data`` on a named volume. A real ``redis-server`` started with compose's
own arguments keeps a stash copy (with its TTL) across a restart; one without persistence does not."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import redis
import yaml

from tests.conftest import ROOT, free_port, stop
from tests.private_redis import PrivateRedis

STASH_KEY = "easypay:sealed-method:00000000-0000-0000-0000-000000000001"


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _start(argv: list[str], log_path: Path) -> tuple[subprocess.Popen[bytes], redis.Redis]:
    proc = subprocess.Popen(argv, stdout=open(log_path, "ab"), stderr=subprocess.STDOUT, start_new_session=True)
    client = redis.Redis(port=int(argv[argv.index("--port") + 1]))
    deadline = time.monotonic() + 20
    while True:
        try:
            if client.ping() and client.info("persistence").get("loading") == 0:
                return proc, client
        except (redis.ConnectionError, redis.BusyLoadingError):
            pass
        assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()[-2000:]
        time.sleep(0.05)


def test_compose_runs_redis_with_the_append_only_file_on_a_named_volume():
    compose = _compose()
    service = compose["services"]["redis"]
    command = service["command"]
    assert command[0] == "redis-server"
    options = dict(zip(command[1::2], command[2::2]))
    assert options == {"--appendonly": "yes", "--appendfsync": "everysec", "--maxmemory-policy": "noeviction"}
    assert service["volumes"] == ["redisdata:/data"] and "redisdata" in compose["volumes"]


def test_a_redis_started_as_compose_starts_it_keeps_the_stash_across_a_restart(tmp_path, log_dir):
    command = _compose()["services"]["redis"]["command"]
    port = free_port()
    argv = [*command, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path), "--save", ""]
    proc, client = _start(argv, log_dir / "redis-durable.log")
    try:
        client.set(STASH_KEY, "v2.k1.sealed", ex=1800)
    finally:
        stop(proc)  # SIGTERM: Redis fsyncs the append-only file and exits
    proc, client = _start(argv, log_dir / "redis-durable.log")
    try:
        assert client.get(STASH_KEY) == b"v2.k1.sealed"
        assert 0 < client.ttl(STASH_KEY) <= 1800
    finally:
        stop(proc)


def test_a_redis_without_persistence_comes_back_empty(log_dir):
    """The contrast the README draws: what tests/e2e/test_redis_loss.py then shows end to end."""
    server = PrivateRedis(free_port(), log_dir / "redis-not-durable.log")
    server.start()
    try:
        redis.Redis(port=server.port).set(STASH_KEY, "v2.k1.sealed", ex=1800)
        server.stop()
        server.start()
        assert redis.Redis(port=server.port).get(STASH_KEY) is None
    finally:
        server.stop()
