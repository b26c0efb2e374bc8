"""A second copy of a pool (or scheduler) on a host where the first holds the metrics port exits
at once with one line, and never touches the first copy's metrics files."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

from tests.conftest import ROOT, free_port, start_worker, stop, wait_for_http


def test_a_second_pool_on_the_same_metrics_port_leaves_the_first_alone(test_env, database, redis_clean, log_dir):
    port = free_port()
    queue = f"copies-{uuid.uuid4().hex[:6]}"
    first = start_worker(test_env, log_dir / "worker-first-copy.log", cli_args=("--queues", queue), WORKER_METRICS_PORT=str(port))
    try:
        wait_for_http(f"http://127.0.0.1:{port}/metrics", timeout_s=30, proc=first)
        files_dir = Path(test_env["EASYPAY_METRICS_DIR"]) / f"payments-{port}"
        deadline = time.monotonic() + 30  # the endpoint is up before the worker processes have booted
        while not (files := sorted(p.name for p in files_dir.iterdir())) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert files, "the first copy writes its metric files"
        second = subprocess.run(
            [sys.executable, "-m", "easypay.cli", "worker", "--queues", queue],
            cwd=ROOT, env={**test_env, "WORKER_METRICS_PORT": str(port)}, capture_output=True, text=True, timeout=30,
        )
        assert second.returncode == 1, (second.returncode, second.stderr[-2000:])
        (line,) = second.stderr.strip().splitlines()
        assert line.startswith(f"cannot listen on 127.0.0.1:{port}: ") and "WORKER_METRICS_PORT" in line
        assert sorted(p.name for p in files_dir.iterdir()) == files, "the first copy's files are untouched"
        assert httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).status_code == 200
    finally:
        stop(first, timeout_s=15)


def test_a_scheduler_on_a_taken_metrics_port_says_so_and_exits(test_env, database, redis_clean):
    port = free_port()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        done = subprocess.run(
            [sys.executable, "-m", "easypay.cli", "scheduler"],
            cwd=ROOT, env={**test_env, "SCHEDULER_METRICS_PORT": str(port)}, capture_output=True, text=True, timeout=30,
        )
    assert done.returncode == 1, (done.returncode, done.stderr[-2000:])
    assert done.stderr.strip().splitlines() == [
        f"cannot listen on 127.0.0.1:{port}: Address already in use; another copy of this pool may be running here: "
        "set SCHEDULER_METRICS_PORT to a free port (0: no metrics)"
    ]
