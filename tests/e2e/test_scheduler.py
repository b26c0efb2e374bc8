"""Two real ``easypay scheduler`` processes: every job runs once per slot, never twice; and the
jobs only enqueue (a worker does the work)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections import Counter

import pytest
import redis

from tests.conftest import BROKER_DB, ROOT, stop

JOBS = {"settlement_sync", "expire_authorizations", "reconcile", "pending_sweep", "webhook_dispatch"}
#: actor -> (queue, job) of what each job enqueues.
ENQUEUES = {
    "sync_settlement": ("recovery", "settlement_sync"),
    "expire_authorizations": ("recovery", "expire_authorizations"),
    "reconcile_due": ("recovery", "reconcile"),
    "sweep_pending": ("recovery", "pending_sweep"),
    "dispatch_webhook_deliveries": ("webhooks", "webhook_dispatch"),
}
LINE = re.compile(r"scheduled job (\w+) ran for slot (\d+) on (\S+)")


def _scheduler(test_env, log_path, **env) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "easypay.cli", "scheduler"],
        cwd=ROOT,
        env={**test_env, "EASYPAY_LOG_LEVEL": "DEBUG", **env},
        stdout=open(log_path, "ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


@pytest.mark.redis_broker  # counts the messages in the Redis broker
def test_two_schedulers_never_run_a_job_twice_in_one_slot(test_env, database, redis_clean, log_dir):
    intervals = {
        "SETTLEMENT_SYNC_INTERVAL_S": "1",
        "EXPIRY_INTERVAL_S": "1",
        "RECONCILE_INTERVAL_S": "1",
        "PENDING_SWEEP_INTERVAL_S": "2",
    }
    broker = redis.Redis(host="127.0.0.1", port=6379, db=BROKER_DB)
    queued_before = Counter(_queued_actors(broker, "recovery") + _queued_actors(broker, "webhooks"))
    logs = [log_dir / "scheduler-a.log", log_dir / "scheduler-b.log"]
    for path in logs:
        path.write_bytes(b"")
    procs = [_scheduler(test_env, path, **intervals) for path in logs]
    try:
        time.sleep(6.5)
    finally:
        for proc in procs:
            stop(proc)
        assert [p.returncode for p in procs] == [0, 0], [path.read_text()[-2000:] for path in logs]

    runs = [m.groups() for path in logs for m in LINE.finditer(path.read_text())]
    per_slot = Counter((job, slot) for job, slot, _ in runs)
    assert per_slot and max(per_slot.values()) == 1, per_slot  # never twice in a slot
    assert {job for job, _ in per_slot} == JOBS
    assert sum(1 for job, _ in per_slot if job == "reconcile") >= 4  # ran slot after slot
    assert len({instance for _, _, instance in runs}) == 2, "both copies should have won some slots"

    # Each run enqueued exactly one message for its actor; nothing else was done by the scheduler.
    for queue in ("recovery", "webhooks"):
        queued = Counter(_queued_actors(broker, queue)) - queued_before
        for actor, (actor_queue, job) in ENQUEUES.items():
            if actor_queue == queue:
                assert queued[actor] == sum(1 for j, _ in per_slot if j == job), (actor, queued)
        _drop_messages(broker, queue, {a for a, (q, _) in ENQUEUES.items() if q == queue})


def _queued_actors(broker: redis.Redis, queue: str) -> list[str]:
    import json

    return [json.loads(body)["actor_name"] for body in broker.hvals(f"easypay:{queue}.msgs")]


def _drop_messages(broker: redis.Redis, queue: str, actors: set[str]) -> None:
    import json

    for key, body in broker.hgetall(f"easypay:{queue}.msgs").items():
        if json.loads(body)["actor_name"] in actors:
            broker.hdel(f"easypay:{queue}.msgs", key)
            broker.lrem(f"easypay:{queue}", 0, key)
