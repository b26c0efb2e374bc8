"""One worker process of a pool killed with SIGKILL: the others go on, the dead one is replaced,
payments keep being charged (exactly once), and the pool still stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

from sqlalchemy import text

from tests.conftest import free_port, start_worker, stop
from tests.helpers import card_payment, wait_final
from tests.ops.metrics_text import scrape_until, value

THREADS = 3


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def _worker_tree(pool_pid: int, *, want: int, timeout_s: float = 60.0) -> dict[int, int]:
    """``{dramatiq master pid: its worker process pid}`` once ``want`` workers are up."""
    deadline = time.monotonic() + timeout_s
    while True:
        tree = {master: kids[0] for master in _children(pool_pid) if (kids := _children(master))}
        if len(tree) == want:
            return tree
        assert time.monotonic() < deadline, tree
        time.sleep(0.2)


async def _charge(api, merchant, db, sandbox, n: int) -> None:  # type: ignore[no-untyped-def]
    ids = []
    for _ in range(n):
        accepted = await api.post("/v1/payments", json=card_payment("9.17"), headers=merchant.headers)
        assert accepted.status_code == 202, accepted.text
        ids.append(accepted.json()["id"])
    for pid in ids:
        final = await wait_final(api, merchant.headers, pid, timeout_s=90)
        assert final["status"] == "captured", final
        async with db.connect() as conn:
            invoice = (await conn.execute(text("SELECT invoice_number FROM payments WHERE id = :id"), {"id": uuid.UUID(pid)})).scalar_one()
        assert len(sandbox.ledger(invoice)) == 1, pid


async def test_a_killed_worker_process_is_replaced_and_the_pool_goes_on(api, merchant, db, sandbox, test_env, log_dir):
    metrics_port = free_port()
    log_path = log_dir / "worker-process-death.log"
    pool = start_worker(
        test_env, log_path, cli_args=("--queues", "payments,recovery"),
        WORKER_PROCESSES="2", WORKER_THREADS=str(THREADS), WORKER_METRICS_PORT=str(metrics_port), WORKER_SHUTDOWN_TIMEOUT_S="15",
    )
    try:
        before = _worker_tree(pool.pid, want=2)
        await _charge(api, merchant, db, sandbox, 4)

        # When: one worker process is killed outright
        victim_master, victim = next(iter(before.items()))
        survivor_master, survivor = [(m, w) for m, w in before.items() if m != victim_master][0]
        os.kill(victim, signal.SIGKILL)

        # Then: the pool is still running, the other process untouched, a new one in its place
        deadline = time.monotonic() + 60
        while True:
            after = {m: w for m, w in _worker_tree(pool.pid, want=2).items()}
            if victim_master not in after and len(after) == 2:
                break
            assert pool.poll() is None, "the pool stopped when one worker process died"
            assert time.monotonic() < deadline, after
            time.sleep(0.2)
        assert after[survivor_master] == survivor
        assert pool.poll() is None
        await _charge(api, merchant, db, sandbox, 6)
        logged = log_path.read_text(errors="replace")
        assert "exited with status" in logged and "restarting it" in logged, logged[-3000:]

        # The live thread gauge counts the processes that are alive, not the dead one too
        url = f"http://127.0.0.1:{metrics_port}/metrics"
        scraped = scrape_until(url, lambda t: value(t, "easypay_worker_threads", pool="payments") == 2 * THREADS)
        assert value(scraped, "easypay_worker_threads", pool="payments") == 2 * THREADS

        # And SIGTERM still stops the whole pool cleanly
        pool.send_signal(signal.SIGTERM)
        assert pool.wait(timeout=40) == 0
        for pid in (survivor_master, survivor, *after):
            assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower(), pid
    finally:
        if pool.poll() is None:
            stop(pool, timeout_s=20)
