"""``easypay worker``: a pool's worker processes live and die apart.

Dramatiq's own master stops every worker process of a pool when one of them dies (by design), so
one process killed by the OOM killer or a stray ``kill -9`` took the whole pool down. Here each
worker process is a Dramatiq of one process (``--processes 1``) started by this supervisor, which
restarts the one that dies — at once the first time, then after a pause that doubles while it
keeps dying young (up to ``MAX_RESTART_DELAY_S``) — while the others go on. What the dead process
held goes back to the queue as for any crash (the broker redelivers; charges are idempotent).

Signals: SIGTERM and SIGINT stop the pool; each is passed on to every child as SIGTERM. The
children share this process group, so a signal to the group (honcho, systemd, Ctrl-C) reaches
them directly as well: ``workers.shutdown`` counts the copies of one request once. A child
finishes or returns what it holds within its shutdown timeout; the supervisor waits that long
(plus ``STOP_GRACE_S``), kills what is left, and exits 0 when every child stopped cleanly.
SIGHUP is passed on (Dramatiq reloads). The pool's metrics endpoint is served by this process
from the multi-process directory the children write (``workers.pool_metrics``).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from types import FrameType

log = logging.getLogger("easypay.worker")

#: A child that lived less than this is dying young: its next restart waits longer.
HEALTHY_AFTER_S = 10.0
FIRST_RESTART_DELAY_S = 1.0
MAX_RESTART_DELAY_S = 30.0
#: How long past the children's shutdown timeout the supervisor waits before killing them.
STOP_GRACE_S = 10.0
_TICK_S = 0.2


@dataclass
class _Slot:
    index: int
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restart_at: float = 0.0
    delay_s: float = 0.0


def mark_dead_processes(metrics_dir: str | None) -> None:
    """Drop the live gauges of worker processes that are gone (a killed one cannot do it itself)."""
    if not metrics_dir or not os.path.isdir(metrics_dir):
        return
    from prometheus_client import multiprocess

    pids = set()
    for name in os.listdir(metrics_dir):
        stem = name.rsplit(".", 1)[0]
        pid_text = stem.rsplit("_", 1)[-1]
        if name.endswith(".db") and pid_text.isdigit():
            pids.add(int(pid_text))
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, metrics_dir)
        except PermissionError:
            continue


def supervise(argv: list[str], env: dict[str, str], *, processes: int, shutdown_timeout_s: float) -> int:
    """Run ``processes`` copies of ``argv`` (one Dramatiq worker process each) until told to stop."""
    slots = [_Slot(i) for i in range(processes)]
    stopping = False
    metrics_dir = env.get("PROMETHEUS_MULTIPROC_DIR")

    def start(slot: _Slot) -> None:
        slot.proc = subprocess.Popen(argv, env={**env, "EASYPAY_WORKER_SLOT": str(slot.index)})
        slot.started_at = time.monotonic()

    def forward(signum: int) -> None:
        for slot in slots:
            if slot.proc is not None and slot.proc.poll() is None:
                try:
                    slot.proc.send_signal(signum)
                except ProcessLookupError:
                    pass

    def on_stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        if not stopping:
            log.info("stopping the pool (%s): %d worker processes", signal.Signals(signum).name, processes)
        stopping = True
        forward(signal.SIGTERM)

    def on_hup(signum: int, frame: FrameType | None) -> None:
        forward(signal.SIGHUP)

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGHUP, on_hup)

    for slot in slots:
        start(slot)
    while not stopping:
        now = time.monotonic()
        for slot in slots:
            if slot.proc is None:
                if now >= slot.restart_at and not stopping:
                    start(slot)
                continue
            code = slot.proc.poll()
            if code is None or stopping:
                continue
            slot.proc = None
            lived_s = now - slot.started_at
            slot.delay_s = 0.0 if lived_s >= HEALTHY_AFTER_S else min(
                MAX_RESTART_DELAY_S, max(FIRST_RESTART_DELAY_S, slot.delay_s * 2)
            )
            slot.restart_at = now + slot.delay_s
            mark_dead_processes(metrics_dir)
            log.warning(
                "worker process %d exited with status %s after %.1f s; restarting it in %.0f s (the other %d go on)",
                slot.index, code, lived_s, slot.delay_s, processes - 1,
            )
        time.sleep(_TICK_S)

    deadline = time.monotonic() + shutdown_timeout_s + STOP_GRACE_S
    status = 0
    for slot in slots:
        if slot.proc is None:
            continue
        try:
            code = slot.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.error("worker process %d did not stop within %.0f s: killed", slot.index, shutdown_timeout_s + STOP_GRACE_S)
            slot.proc.kill()
            code = slot.proc.wait()
        if code != 0 and status == 0:
            status = code if code > 0 else 1  # negative: ended by a signal
    mark_dead_processes(metrics_dir)
    return status
