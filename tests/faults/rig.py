"""The fault suite's rig: a whole EasyPay on resources of its own, a client stream, and the tally.

Each fault gets a fresh rig: a private PostgreSQL cluster (``tests.private_postgres``), a private
``redis-server`` (cache, and the broker unless the suite runs on RabbitMQ, where a virtual host of
the rig's own is used), a private emulator, and real ``easypay web``, ``worker`` (payments and
recovery queues) and ``scheduler`` processes with every recovery job running each second. Nothing
of the machine's shared PostgreSQL or Redis is stopped or flushed.

The client stream behaves as the README tells a merchant to: every payment has its own
``Idempotency-Key``, and a ``503`` (after ``Retry-After``) or a connection error is retried with
the same key until a ``202``. The tally then reads the truth from two sides — the payments in
PostgreSQL and the emulator's ledger — and prints one line per fault.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx

from tests.conftest import RABBITMQ_VHOST, ROOT, TEST_BROKER, SandboxControl, free_port, reset_rabbitmq_vhost
from tests.conftest import start_web, start_worker, stop, wait_for_http
from tests.helpers import FAST_RECOVERY, FINAL, card_payment
from tests.private_postgres import PrivatePostgres
from tests.private_redis import PrivateRedis

#: How long the drain may take to resume once a fault has ended.
RESUME_WITHIN_S = 30.0
#: How long every accepted payment may take to reach its outcome once a fault has ended.
SETTLE_WITHIN_S = 240.0
#: A client gives a payment this long to be accepted (retrying 503s and connection errors).
ACCEPT_WITHIN_S = 180.0


@dataclass
class Trial:
    """One payment a client wants made: its key, amount, and what the API answered."""

    key: str
    amount: str
    payment_id: str | None = None
    answers: list[int] = field(default_factory=list)


class Rig:
    def __init__(self, test_env: dict[str, str], workdir: Path) -> None:
        self.workdir = workdir
        self.pg = PrivatePostgres()
        self.pg.start()
        asyncio.run(self._create_database())
        self.redis = PrivateRedis(free_port(), workdir / "redis.log")
        self.redis.start()
        sandbox_port = free_port()
        self._sandbox = subprocess.Popen(
            [sys.executable, "-m", "sandbox", "--port", str(sandbox_port)],
            cwd=ROOT, env=test_env, stdout=open(workdir / "sandbox.log", "ab"), stderr=subprocess.STDOUT,
        )
        wait_for_http(f"http://127.0.0.1:{sandbox_port}/_sandbox/health", proc=self._sandbox)
        self.sandbox = SandboxControl(f"http://127.0.0.1:{sandbox_port}")
        if TEST_BROKER == "rabbitmq":
            vhost = f"{RABBITMQ_VHOST}-faults"
            reset_rabbitmq_vhost(vhost)
            broker_url = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
        else:
            broker_url = f"redis://127.0.0.1:{self.redis.port}/1"
        self.env = {
            **test_env,
            "DATABASE_URL": self.pg.url("easypay"),
            "REDIS_URL": f"redis://127.0.0.1:{self.redis.port}/0",
            "BROKER_URL": broker_url,
            "SANDBOX_PORT": str(sandbox_port),
            "EASYPAY_REDIS_PREFIX": f"faults-{uuid.uuid4().hex[:8]}",
            "EASYPAY_METRICS_DIR": str(workdir / "metrics"),
            "WORKER_METRICS_PORT": "0",
            "WORKER_SHUTDOWN_TIMEOUT_S": "20",
            **FAST_RECOVERY,
            # A payment whose answer was lost is looked up after 5 s, not the production 120 s
            # (the emulator reports a transaction at once; a real processor's report can lag).
            "RECONCILE_MIN_AGE_S": "5",
        }
        (workdir / "metrics").mkdir(exist_ok=True)
        self._cli("db", "upgrade")
        merchant = json.loads(self._cli("merchants", "create", "--name", "Fault shop", "--json"))
        key = json.loads(self._cli("keys", "create", "--merchant", merchant["id"], "--json"))["key"]
        self.headers = {"Authorization": f"Bearer {key}"}
        self.api_port = free_port()
        self.api: subprocess.Popen[bytes] | None = None
        self.pool: subprocess.Popen[bytes] | None = None
        self.scheduler: subprocess.Popen[bytes] | None = None
        self._starts = Counter[str]()

    async def _create_database(self) -> None:
        conn = await asyncpg.connect(self.pg.dsn())
        try:
            await conn.execute('CREATE DATABASE "easypay"')
        finally:
            await conn.close()

    def _cli(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "easypay.cli", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, (args, done.stderr[-2000:])
        return done.stdout

    def _log(self, what: str) -> Path:
        self._starts[what] += 1
        return self.workdir / f"{what}-{self._starts[what]}.log"

    # ------------------------------------------------------------------ processes

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def start_api(self) -> None:
        _, self.api = start_web(self.env, self._log("web"), port=self.api_port, timeout_s=60)

    def start_pool(self) -> None:
        self.pool = start_worker(self.env, self._log("worker"), cli_args=("--queues", "payments,recovery"))

    def start_scheduler(self) -> None:
        self.scheduler = subprocess.Popen(
            [sys.executable, "-m", "easypay.cli", "scheduler"],
            cwd=ROOT, env=self.env, stdout=open(self._log("scheduler"), "ab"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start_all(self) -> None:
        self.start_api()
        self.start_pool()
        self.start_scheduler()

    @staticmethod
    def kill(proc: subprocess.Popen[bytes] | None, sig: signal.Signals = signal.SIGKILL) -> None:
        """``sig`` to the whole process group (as a supervisor or Ctrl-C sends it)."""
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, sig)
            if sig == signal.SIGKILL:
                proc.wait(timeout=30)

    def close(self) -> None:
        for proc in (self.scheduler, self.pool, self.api):
            if proc is not None:
                stop(proc, timeout_s=20)
        stop(self._sandbox)
        self.redis.stop()
        self.pg.remove()

    # ------------------------------------------------------------------ the client stream

    async def submit(self, trial: Trial, client: httpx.AsyncClient) -> None:
        """Post one payment until it is accepted, as a well-behaved client retries."""
        deadline = time.monotonic() + ACCEPT_WITHIN_S
        body = card_payment(trial.amount)
        while time.monotonic() < deadline:
            try:
                answer = await client.post(
                    f"{self.base_url}/v1/payments", json=body, headers={**self.headers, "Idempotency-Key": trial.key}
                )
            except httpx.TransportError:
                trial.answers.append(0)  # no answer: the API is away; retry with the same key
                await asyncio.sleep(0.25)
                continue
            trial.answers.append(answer.status_code)
            if answer.status_code == 202:
                trial.payment_id = answer.json()["id"]
                return
            if answer.status_code in (409, 503):  # key in use by the first try, or a dependency away
                await asyncio.sleep(min(2.0, float(answer.headers.get("Retry-After", "1"))))
                continue
            return  # anything else is an answer the tally reports (and the test fails on)

    async def stream(self, count: int, *, rate_per_s: float, prefix: str) -> list[Trial]:
        """``count`` payments at about ``rate_per_s``, each submitted on its own."""
        trials = [Trial(key=f"{prefix}-{n}", amount=f"{10 + n % 90}.{n % 100:02d}") for n in range(count)]
        async with httpx.AsyncClient(timeout=30) as client:
            tasks = []
            for trial in trials:
                tasks.append(asyncio.create_task(self.submit(trial, client)))
                await asyncio.sleep(1 / rate_per_s)
            await asyncio.gather(*tasks)
        return trials

    # ------------------------------------------------------------------ the truth

    async def final_count(self, payment_ids: list[str]) -> int:
        rows = await self._payments(payment_ids)
        return sum(1 for row in rows if row["status"] in FINAL)

    async def _payments(self, payment_ids: list[str]) -> list[asyncpg.Record]:
        for _ in range(600):
            try:
                conn = await asyncpg.connect(self.pg.dsn("easypay"), timeout=5)
                break
            except (OSError, asyncpg.PostgresError):
                await asyncio.sleep(0.5)  # the test may have PostgreSQL away right now
        else:
            raise AssertionError("PostgreSQL did not come back")
        try:
            return list(
                await conn.fetch(
                    "SELECT id::text, status, invoice_number, processor_transaction_id FROM payments WHERE id = ANY($1::uuid[])",
                    payment_ids,
                )
            )
        finally:
            await conn.close()

    async def tally(self, name: str, trials: list[Trial], *, fault_ended_at: float) -> "Tally":
        """Wait for every accepted payment's outcome; read the ledger; one line for the fault."""
        ids = [t.payment_id for t in trials if t.payment_id]
        resumed_at: float | None = None
        before = await self.final_count(ids)
        deadline = fault_ended_at + SETTLE_WITHIN_S
        while True:
            final = await self.final_count(ids)
            if resumed_at is None and (final > before or final == len(ids)):
                resumed_at = time.monotonic()
            if final == len(ids) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        rows = await self._payments(ids)
        charges = Counter(
            entry["invoice_number"]
            for entry in self.sandbox.ledger()
            if entry["type"] == "authCaptureTransaction" and entry["response_code"] == 1
        )
        charged_rows = {row["invoice_number"] for row in rows}
        doubled = sum(1 for row in rows if charges[row["invoice_number"]] > 1)
        # Money without a payment to show for it, or a payment that says charged without money.
        wrong = sum(
            1 for row in rows
            if (row["status"] == "captured") != (charges[row["invoice_number"]] >= 1)
        ) + sum(count for invoice, count in charges.items() if invoice not in charged_rows)
        answers = Counter(code for t in trials for code in t.answers)
        tally = Tally(
            name=name,
            trials=len(trials),
            accepted=len(ids),
            final=sum(1 for row in rows if row["status"] in FINAL),
            doubled=doubled,
            wrong=wrong,
            in_db=len(rows),
            recover_s=resumed_at - fault_ended_at if resumed_at is not None else float("inf"),
            answers=dict(sorted(answers.items())),
            outcomes=dict(sorted(Counter(row["status"] for row in rows).items())),
        )
        return tally


@dataclass(frozen=True)
class Tally:
    name: str
    trials: int
    accepted: int
    final: int
    doubled: int
    #: Captured without a charge, charged without being captured, or a charge of no payment.
    wrong: int
    in_db: int
    recover_s: float
    answers: dict[int, int]
    outcomes: dict[str, int]

    @property
    def lost(self) -> int:
        """Accepted payments without an outcome (or not in PostgreSQL at all), and money gone astray."""
        return (self.accepted - self.final) + (self.accepted - self.in_db) + self.wrong

    def line(self) -> str:
        seen = " ".join(f"{code or 'no-answer'}×{n}" for code, n in self.answers.items())
        ended = " ".join(f"{status}×{n}" for status, n in self.outcomes.items())
        return (
            f"fault {self.name}: trials={self.trials} accepted={self.accepted} final={self.final} "
            f"lost={self.lost} doubled={self.doubled} recover_s={self.recover_s:.1f} (answers: {seen}; outcomes: {ended})"
        )

    def check(self) -> None:
        """Nothing lost, nothing doubled, every trial accepted, no 5xx but 503, the drain resumed."""
        assert self.lost == 0, self.line()
        assert self.doubled == 0, self.line()
        assert self.accepted == self.trials, self.line()
        assert not [code for code in self.answers if code >= 500 and code != 503], self.line()
        assert self.recover_s <= RESUME_WITHIN_S, self.line()


__all__ = ["Rig", "Tally", "Trial"]
