"""``easypay``: the one command line of the engine.

Every subcommand prints human text, or with ``--json`` a single JSON document on stdout.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from typing import Any, Awaitable, Callable

import click

from engine.settings import Settings, SettingsError, load_settings


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        raise click.ClickException(f"configuration error: {exc}") from None


def _emit(as_json: bool, document: dict[str, Any], text: str) -> None:
    click.echo(json.dumps(document) if as_json else text)


def _run(coro_factory: Callable[[Settings], Awaitable[Any]]) -> Any:
    settings = _settings()
    return asyncio.run(coro_factory(settings))


def _in_transaction(work: Callable[[Any, Settings], Awaitable[Any]]) -> Any:
    """Run ``work(conn, settings)`` in one database transaction and return its result."""
    from engine.db.session import make_engine

    async def go(settings: Settings) -> Any:
        engine = make_engine(settings.database)
        try:
            async with engine.begin() as conn:
                return await work(conn, settings)
        finally:
            await engine.dispose()

    return _run(go)


json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")


@click.group()
def main() -> None:
    """EasyPay payment engine."""


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@json_option
def db_upgrade(revision: str, as_json: bool) -> None:
    """Create the database if needed and apply migrations."""
    from engine.db.migrate import upgrade

    settings = _settings()
    upgrade(settings.database.url, revision)
    _emit(as_json, {"upgraded_to": revision}, f"database upgraded to {revision}")


@main.group()
def merchants() -> None:
    """Merchants."""


@merchants.command("create")
@click.option("--name", required=True)
@json_option
def merchants_create(name: str, as_json: bool) -> None:
    from engine.db.accounts import create_merchant

    row = _in_transaction(lambda conn, settings: create_merchant(conn, name))
    _emit(as_json, {"id": str(row.id), "name": row.name}, str(row.id))


def _cli_audit(conn: Any, action: str, object_type: str, object_id: str, merchant_id: Any = None) -> Awaitable[None]:
    """Key and user changes made from the command line are audited too (actor ``cli``)."""
    import getpass

    from engine.audit import AuditEntry, write_entries

    entry = AuditEntry(
        actor_type="cli",
        actor_id=getpass.getuser(),
        action=action,
        outcome="success",
        object_type=object_type,
        object_id=object_id,
        merchant_id=merchant_id,
    )
    return write_entries(conn, [entry])


ROLE_CHOICE = click.Choice(["admin", "merchant", "developer", "viewer"])


def _merchant_uuid(merchant_id: str, param_hint: str = "--merchant") -> uuid.UUID:
    try:
        return uuid.UUID(merchant_id)
    except ValueError:
        raise click.BadParameter("not a merchant id", param_hint=param_hint) from None


@main.group()
def keys() -> None:
    """API keys: create, list, revoke."""


@keys.command("create")
@click.option("--merchant", "merchant_id", required=True, help="Merchant id.")
@click.option("--role", type=ROLE_CHOICE, default="merchant", show_default=True)
@click.option("--name", default=None)
@click.option("--expires-at", type=click.DateTime(["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d"]), default=None,
              help="Expiry (UTC if no offset).")
@click.option("--rate-limit", "rate_limits", multiple=True, metavar="WINDOW=N",
              help="Override a default rate limit, e.g. --rate-limit minute=500 (0: no limit). Repeatable.")
@json_option
def keys_create(
    merchant_id: str, role: str, name: str | None, expires_at: Any, rate_limits: tuple[str, ...], as_json: bool
) -> None:
    """Create a key; the secret is printed once and cannot be shown again."""
    import datetime as dt

    from engine.auth import derive_pepper
    from engine.db.accounts import create_api_key, get_merchant
    from engine.ratelimit import rate_limits_problem

    merchant_uuid = _merchant_uuid(merchant_id)
    overrides: dict[str, int] | None = None
    if rate_limits:
        try:
            overrides = {w: int(n) for w, n in (item.split("=", 1) for item in rate_limits)}
        except ValueError:
            raise click.BadParameter("use WINDOW=N, e.g. minute=500", param_hint="--rate-limit") from None
        if problem := rate_limits_problem(overrides):
            raise click.BadParameter(problem, param_hint="--rate-limit")
    if expires_at is not None and expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=dt.timezone.utc)

    async def create(conn: Any, settings: Settings) -> Any:
        if await get_merchant(conn, merchant_uuid) is None:
            raise click.ClickException(f"no merchant {merchant_id}")
        issued = await create_api_key(
            conn, merchant_id=merchant_uuid, role=role, pepper=derive_pepper(settings.secret_key), name=name,
            expires_at=expires_at, rate_limits=overrides,
        )
        await _cli_audit(conn, "create_api_key", "api_key", issued.key_id, merchant_uuid)
        return issued

    issued = _in_transaction(create)
    _emit(
        as_json,
        {"id": issued.key_id, "key": issued.token, "role": role, "merchant_id": merchant_id},
        issued.token,
    )


@keys.command("list")
@click.option("--merchant", "merchant_id", default=None, help="Only this merchant's keys.")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@json_option
def keys_list(merchant_id: str | None, limit: int, as_json: bool) -> None:
    """List keys (never their secrets), newest first."""
    from engine.db.accounts import list_api_keys

    merchant_uuid = _merchant_uuid(merchant_id) if merchant_id else None

    async def fetch(conn: Any, settings: Settings) -> Any:
        rows, _ = await list_api_keys(conn, scope=None, merchant_id=merchant_uuid, limit=limit)
        return rows

    rows = _in_transaction(fetch)

    def when(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    document = {
        "data": [
            {
                "id": r.id, "merchant_id": str(r.merchant_id), "role": r.role, "name": r.name,
                "created_at": when(r.created_at), "expires_at": when(r.expires_at),
                "revoked_at": when(r.revoked_at), "last_used_at": when(r.last_used_at),
                "rate_limits": r.rate_limits,
            }
            for r in rows
        ]
    }
    lines = [
        f"{r.id}  {r.role:9s} {r.merchant_id}  {'revoked' if r.revoked_at else 'active '}  "
        f"last used {when(r.last_used_at) or 'never'}  {r.name or ''}"
        for r in rows
    ]
    _emit(as_json, document, "\n".join(lines) or "no keys")


@keys.command("revoke")
@click.argument("key_id")
@json_option
def keys_revoke(key_id: str, as_json: bool) -> None:
    """Revoke a key: every API process refuses it within a second."""
    from redis.asyncio import Redis

    from engine.revocation import revoke_key

    key_id = key_id.removeprefix("ak_").split(":")[0]

    async def revoke(conn: Any, settings: Settings) -> Any:
        redis = Redis.from_url(settings.redis.cache_url)
        try:
            row = await revoke_key(conn, redis, prefix=settings.redis.key_prefix, key_id=key_id)
        finally:
            await redis.aclose()
        if row is not None:
            await _cli_audit(conn, "revoke_api_key", "api_key", key_id, row.merchant_id)
        return row

    if _in_transaction(revoke) is None:
        raise click.ClickException(f"no active key {key_id}")
    _emit(as_json, {"id": key_id, "revoked": True}, f"revoked {key_id}")


@main.group()
def users() -> None:
    """Users who sign in with a password (POST /v1/auth/token)."""


@users.command("create")
@click.option("--email", required=True)
@click.option("--role", type=ROLE_CHOICE, required=True)
@click.option("--merchant", "merchant_id", default=None, help="Merchant id (required unless --role admin).")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="Prompted for when omitted; or set EASYPAY_USER_PASSWORD.", envvar="EASYPAY_USER_PASSWORD")
@json_option
def users_create(email: str, role: str, merchant_id: str | None, password: str, as_json: bool) -> None:
    """Create a user (the password is stored only as an argon2id hash)."""
    from sqlalchemy.exc import IntegrityError

    from engine.db.accounts import create_user, get_merchant
    from engine.passwords import password_problem

    if problem := password_problem(password):
        raise click.BadParameter(problem, param_hint="--password")
    if merchant_id is None and role != "admin":
        raise click.BadParameter("required unless --role admin", param_hint="--merchant")
    merchant_uuid = _merchant_uuid(merchant_id) if merchant_id else None

    async def create(conn: Any, settings: Settings) -> Any:
        if merchant_uuid is not None and await get_merchant(conn, merchant_uuid) is None:
            raise click.ClickException(f"no merchant {merchant_id}")
        row = await create_user(conn, email=email, password=password, role=role, merchant_id=merchant_uuid)
        await _cli_audit(conn, "create_user", "user", str(row.id), merchant_uuid)
        return row

    try:
        row = _in_transaction(create)
    except IntegrityError:
        raise click.ClickException(f"a user with email {email} exists") from None
    _emit(
        as_json,
        {"id": str(row.id), "email": row.email, "role": row.role, "merchant_id": merchant_id},
        str(row.id),
    )


@users.command("list")
@click.option("--merchant", "merchant_id", default=None)
@json_option
def users_list(merchant_id: str | None, as_json: bool) -> None:
    """List users, newest first."""
    from engine.db.accounts import list_users

    merchant_uuid = _merchant_uuid(merchant_id) if merchant_id else None
    rows = _in_transaction(lambda conn, settings: list_users(conn, merchant_id=merchant_uuid, limit=1000))[0]
    document = {
        "data": [
            {"id": str(r.id), "email": r.email, "role": r.role,
             "merchant_id": str(r.merchant_id) if r.merchant_id else None, "disabled": r.disabled_at is not None}
            for r in rows
        ]
    }
    lines = [f"{r.id}  {r.email}  {r.role}  {'disabled' if r.disabled_at else ''}" for r in rows]
    _emit(as_json, document, "\n".join(lines) or "no users")


def _fresh_metrics_dir(path: str) -> str:
    """An empty directory for multi-process metric files (stale files would resurrect old values)."""
    import shutil

    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path, exist_ok=True)
    return path


@main.command()
@click.option("--host", default=None, help="Default: $HOST or 127.0.0.1.")
@click.option("--port", type=int, default=None, help="Default: $PORT or 8000.")
@click.option("--workers", type=int, default=None, help="API processes. Default: $WEB_PROCESSES or 1.")
def web(host: str | None, port: int | None, workers: int | None) -> None:
    """Run the HTTP API.

    With several processes, /metrics sums them through PROMETHEUS_MULTIPROC_DIR (created empty
    under $EASYPAY_METRICS_DIR unless already set).
    """
    import uvicorn

    settings = _settings()
    workers = workers or int(os.environ.get("WEB_PROCESSES", "1"))
    port = port or settings.port
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = _fresh_metrics_dir(os.path.join(settings.metrics_dir, f"web-{port}"))
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host or os.environ.get("HOST", "127.0.0.1"),
        port=port,
        workers=workers,
        access_log=False,
        log_config=None,
        loop="uvloop",
        http="httptools",
    )


@main.command()
@click.option("--pool", type=click.Choice(["payments", "webhooks", "recovery", "scheduler"]), default="payments", show_default=True,
              help="Which pool's settings (<PREFIX>_PROCESSES, _THREADS, _PREFETCH, _POLL_TIMEOUT_MS, _METRICS_PORT, _QUEUES).")
@click.option("--processes", type=int, default=None, help="Default: the pool's <PREFIX>_PROCESSES.")
@click.option("--threads", type=int, default=None, help="Default: the pool's <PREFIX>_THREADS.")
@click.option("--queues", default=None, help="Comma-separated; default: the pool's queues.")
def worker(pool: str, processes: int | None, threads: int | None, queues: str | None) -> None:
    """Run a Dramatiq worker pool (replaces this process).

    Its Prometheus endpoint (Dramatiq's metrics, queue depth/age/dead letters, live threads) is
    on the pool's metrics port; set <PREFIX>_METRICS_PORT=0 to disable it.
    """
    settings = _settings()
    cfg = settings.pools[pool]
    processes = processes or cfg.processes
    threads = threads or cfg.threads
    queue_list = [q for q in (queues.split(",") if queues else cfg.queues) if q]
    env = dict(os.environ)
    env.update(
        {
            "EASYPAY_POOL": pool,
            "EASYPAY_POOL_QUEUES": ",".join(queue_list),
            f"{cfg.env_prefix}_PROCESSES": str(processes),
            f"{cfg.env_prefix}_THREADS": str(threads),
            "dramatiq_worker_timeout": str(cfg.poll_timeout_ms),
        }
    )
    if cfg.prefetch:
        env["dramatiq_queue_prefetch"] = str(cfg.prefetch)
    if cfg.metrics_port:
        metrics_dir = _fresh_metrics_dir(os.path.join(settings.metrics_dir, f"{pool}-{cfg.metrics_port}"))
        env.update(
            {
                "PROMETHEUS_MULTIPROC_DIR": metrics_dir,
                "dramatiq_prom_db": metrics_dir,
                "dramatiq_prom_host": settings.metrics_host,
                "dramatiq_prom_port": str(cfg.metrics_port),
            }
        )
    else:
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    argv = [
        sys.executable,
        "-m",
        "dramatiq",
        "workers.main:setup",
        "--processes",
        str(processes),
        "--threads",
        str(threads),
        "--skip-logging",
        "--queues",
        *queue_list,
    ]
    os.execve(sys.executable, argv, env)


@main.command()
def scheduler() -> None:
    """Run the periodic jobs of schedules/ (safe to run several copies: one run per job and slot)."""
    import signal

    from engine.logconfig import configure_logging
    from schedules.runner import serve
    from workers.observability import start_process_metrics_server

    settings = _settings()
    configure_logging(settings.log_level, json_logs=settings.is_production)
    start_process_metrics_server("scheduler")  # on SCHEDULER_METRICS_PORT (0: none)

    async def go() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, stop)

    asyncio.run(go())


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=None, help="Default: $SANDBOX_PORT or 8899.")
@click.option("--latency-ms", type=int, default=0, show_default=True, help="Delay added to every XML request.")
@click.option("--latency-jitter-ms", type=int, default=0, show_default=True, help="Plus a random delay up to this.")
@click.option("--fail-rate", type=float, default=0.0, show_default=True, help="Fraction of requests answered 503.")
@click.option("--settle-interval-s", type=float, default=None, help="Settle captured transactions every N seconds.")
def sandbox(
    host: str,
    port: int | None,
    latency_ms: int,
    latency_jitter_ms: int,
    fail_rate: float,
    settle_interval_s: float | None,
) -> None:
    """Run the local Authorize.net emulator (XML API at /xml/v1/request.api, control API at /_sandbox/).

    It accepts the credentials the engine uses when ANET_API_LOGIN_ID is unset.
    """
    from sandbox.server import main as sandbox_main

    settings = _settings()
    argv = [
        "--host", host,
        "--port", str(port or settings.sandbox_port),
        "--latency-ms", str(latency_ms),
        "--latency-jitter-ms", str(latency_jitter_ms),
        "--fail-rate", str(fail_rate),
        "--login", settings.processor.login_id,
        "--key", settings.processor.transaction_key,
    ]
    if settle_interval_s:
        argv += ["--settle-interval-s", str(settle_interval_s)]
    sandbox_main(argv)


@main.group()
def webhooks() -> None:
    """Webhook endpoints, deliveries and the dispatcher."""


def _uuid_arg(value: str, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise click.BadParameter(f"not an id: {value}", param_hint=name) from None


@webhooks.command("endpoints")
@click.option("--merchant", "merchant_id", default=None, help="Only this merchant's endpoints.")
@click.option("--limit", type=int, default=100, show_default=True)
@json_option
def webhooks_endpoints(merchant_id: str | None, limit: int, as_json: bool) -> None:
    """List endpoints (never their secrets)."""
    from engine.db import webhooks as repo
    from engine.webhooks.views import endpoint_view

    merchant = _uuid_arg(merchant_id, "--merchant") if merchant_id else None

    async def work(conn: Any, settings: Settings) -> Any:
        rows, _ = await repo.list_endpoints(conn, merchant, limit=limit)
        return [(row.merchant_id, endpoint_view(row)) for row in rows]

    rows = _in_transaction(work)
    import msgspec

    documents = [{"merchant_id": str(m), **msgspec.to_builtins(v)} for m, v in rows]
    lines = [f"{d['id']}  {d['status']:<8}  {d['url']}  {','.join(d['events'])}" for d in documents]
    _emit(as_json, {"data": documents}, "\n".join(lines) or "no endpoints")


@webhooks.command("deliveries")
@click.argument("endpoint_id")
@click.option("--status", type=click.Choice(["pending", "succeeded", "failed"]), default=None)
@click.option("--limit", type=int, default=20, show_default=True)
@json_option
def webhooks_deliveries(endpoint_id: str, status: str | None, limit: int, as_json: bool) -> None:
    """Deliveries to one endpoint, newest first, with their attempts."""
    import msgspec

    from engine.db import webhooks as repo
    from engine.webhooks.views import delivery_view

    eid = _uuid_arg(endpoint_id, "ENDPOINT_ID")

    async def work(conn: Any, settings: Settings) -> Any:
        rows, _ = await repo.list_deliveries(conn, eid, limit=limit, status=status)
        attempts = await repo.attempts_of(conn, [r.id for r in rows], per_delivery=20)
        return [delivery_view(r, attempts.get(r.id, [])) for r in rows]

    views = [msgspec.to_builtins(v) for v in _in_transaction(work)]
    lines = [
        f"{v['id']}  {v['event_type']:<26} {v['status']:<9} attempts={v['attempt_count']} "
        f"last={v['last_status_code'] or v['last_error'] or '-'}"
        for v in views
    ]
    _emit(as_json, {"data": views}, "\n".join(lines) or "no deliveries")


@webhooks.command("dead")
@click.option("--merchant", "merchant_id", default=None)
@click.option("--limit", type=int, default=50, show_default=True)
@json_option
def webhooks_dead(merchant_id: str | None, limit: int, as_json: bool) -> None:
    """Dead letters: deliveries that failed for good (schedule spent, 410, or endpoint disabled)."""
    from engine.db import webhooks as repo

    merchant = _uuid_arg(merchant_id, "--merchant") if merchant_id else None
    rows = _in_transaction(lambda conn, settings: repo.list_dead(conn, merchant_id=merchant, limit=limit))
    documents = [
        {
            "id": str(r.id),
            "merchant_id": str(r.merchant_id),
            "endpoint_id": str(r.endpoint_id),
            "url": r.url,
            "event_id": str(r.event_id),
            "event_type": r.event_type,
            "attempts": r.attempts,
            "last_status_code": r.last_status_code,
            "last_error": r.last_error,
            "failed_at": r.updated_at.isoformat(),
        }
        for r in rows
    ]
    lines = [f"{d['id']}  {d['event_type']:<26} {d['url']}  {d['last_status_code'] or d['last_error']}" for d in documents]
    _emit(as_json, {"data": documents}, "\n".join(lines) or "no dead deliveries")


@webhooks.command("replay")
@click.argument("delivery_id")
@json_option
def webhooks_replay(delivery_id: str, as_json: bool) -> None:
    """Give one dead delivery a new round of attempts (its endpoint must be enabled)."""
    from engine.db import webhooks as repo

    did = _uuid_arg(delivery_id, "DELIVERY_ID")
    if not _in_transaction(lambda conn, settings: repo.replay_delivery(conn, did)):
        raise click.ClickException(f"no failed delivery {delivery_id} on an enabled endpoint")
    _emit(as_json, {"id": delivery_id, "status": "pending"}, f"delivery {delivery_id} queued again")


@webhooks.command("dispatch")
@click.option("--loop", "loop_forever", is_flag=True, help="Keep dispatching every --interval-s (until SIGINT/SIGTERM).")
@click.option("--interval-s", type=float, default=1.0, show_default=True)
@json_option
def webhooks_dispatch(loop_forever: bool, interval_s: float, as_json: bool) -> None:
    """Enqueue due deliveries (once, or as a loop until the scheduler process runs this job)."""
    import signal

    from engine.db.session import make_engine
    from engine.logconfig import configure_logging
    from schedules.webhooks import dispatch_due_deliveries, run_forever
    from workers.enqueue import JobSender

    async def go(settings: Settings) -> int:
        engine = make_engine(settings.database, application_name="easypay-webhook-dispatch")
        jobs = JobSender(settings.redis.broker_url)
        try:
            if not loop_forever:
                return await dispatch_due_deliveries(engine=engine, jobs=jobs, settings=settings.webhooks)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await run_forever(engine=engine, jobs=jobs, settings=settings.webhooks, interval_s=interval_s, stop=stop)
            return 0
        finally:
            await jobs.close()
            await engine.dispose()

    settings = _settings()
    if loop_forever:
        configure_logging(settings.log_level, json_logs=settings.is_production)
    count = asyncio.run(go(settings))
    if not loop_forever:
        _emit(as_json, {"dispatched": count}, f"dispatched {count} deliveries")


from easypay.operations import register as _register_operations  # noqa: E402

_register_operations(main)


if __name__ == "__main__":
    main()
