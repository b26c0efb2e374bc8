"""Scheduled jobs wait out a PostgreSQL outage and never land in the dead-letter queue for it."""

from __future__ import annotations

import time
import uuid

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker

from jobs.names import (
    DISPATCH_WEBHOOKS,
    EXPIRE_AUTHORIZATIONS,
    NAMESPACE,
    RECONCILE_DUE,
    RECOVERY_QUEUE,
    SWEEP_PENDING,
    SYNC_SETTLEMENT,
    WEBHOOKS_QUEUE,
)
from jobs.queues import queue_stats
from jobs.redis_dead_letters import dead_letters
from tests.conftest import free_port, start_worker, stop

JOBS = [(RECOVERY_QUEUE, a) for a in (RECONCILE_DUE, SYNC_SETTLEMENT, EXPIRE_AUTHORIZATIONS, SWEEP_PENDING)] + [
    (WEBHOOKS_QUEUE, DISPATCH_WEBHOOKS)
]


def test_batch_jobs_with_postgres_away_are_logged_not_dead_lettered(test_env, settings, redis_clean, log_dir):
    client = redis.Redis.from_url(settings.redis.broker_url)
    before = {q: len(dead_letters(client, NAMESPACE, q, limit=10_000)) for q in (RECOVERY_QUEUE, WEBHOOKS_QUEUE)}
    broker = RedisBroker(url=settings.redis.broker_url, namespace=NAMESPACE, middleware=[])
    try:
        for queue, actor in JOBS:
            message = dramatiq.Message(queue_name=queue, actor_name=actor, args=(), kwargs={},
                                       options={"redis_message_id": str(uuid.uuid4())})
            broker.do_enqueue(queue, message.options["redis_message_id"], message.encode())
    finally:
        broker.close()
    log_path = log_dir / f"worker-outage-{uuid.uuid4().hex[:6]}.log"
    down = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/easypay"
    proc = start_worker(test_env, log_path, cli_args=("--queues", f"{RECOVERY_QUEUE},{WEBHOOKS_QUEUE}"),
                        DATABASE_URL=down, WORKER_METRICS_PORT="0")
    try:
        deadline = time.monotonic() + 60
        while True:
            stats = {s.queue: s for s in queue_stats(client, NAMESPACE, [RECOVERY_QUEUE, WEBHOOKS_QUEUE])}
            log_text = log_path.read_text(errors="replace")
            gave_up = sum(f"{actor}: PostgreSQL unavailable after" in log_text for _, actor in JOBS)
            if gave_up == len(JOBS) and all(s.depth == 0 and s.in_progress == 0 for s in stats.values()):
                break
            assert time.monotonic() < deadline, (gave_up, stats, log_text[-3000:])
            time.sleep(0.5)
    finally:
        stop(proc, timeout_s=15)
    after = {q: len(dead_letters(client, NAMESPACE, q, limit=10_000)) for q in (RECOVERY_QUEUE, WEBHOOKS_QUEUE)}
    assert after == before, "an outage is not a reason to dead-letter a scheduled job"
    assert "Traceback" not in log_text
