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


@main.group()
def keys() -> None:
    """API keys."""


@keys.command("create")
@click.option("--merchant", "merchant_id", required=True, help="Merchant id.")
@click.option("--role", type=click.Choice(["admin", "merchant", "developer", "viewer"]), default="merchant", show_default=True)
@click.option("--name", default=None)
@json_option
def keys_create(merchant_id: str, role: str, name: str | None, as_json: bool) -> None:
    """Create a key; the secret is printed once and cannot be shown again."""
    from engine.auth import derive_pepper
    from engine.db.accounts import create_api_key, get_merchant

    try:
        merchant_uuid = uuid.UUID(merchant_id)
    except ValueError:
        raise click.BadParameter("not a merchant id", param_hint="--merchant") from None

    async def create(conn: Any, settings: Settings) -> Any:
        if await get_merchant(conn, merchant_uuid) is None:
            raise click.ClickException(f"no merchant {merchant_id}")
        return await create_api_key(
            conn, merchant_id=merchant_uuid, role=role, pepper=derive_pepper(settings.secret_key), name=name
        )

    issued = _in_transaction(create)
    _emit(
        as_json,
        {"id": issued.key_id, "key": issued.token, "role": role, "merchant_id": merchant_id},
        issued.token,
    )


@keys.command("revoke")
@click.argument("key_id")
@json_option
def keys_revoke(key_id: str, as_json: bool) -> None:
    from engine.db.accounts import revoke_api_key

    key_id = key_id.removeprefix("ak_").split(":")[0]
    if not _in_transaction(lambda conn, settings: revoke_api_key(conn, key_id)):
        raise click.ClickException(f"no active key {key_id}")
    _emit(as_json, {"id": key_id, "revoked": True}, f"revoked {key_id}")


@main.command()
@click.option("--host", default=None, help="Default: $HOST or 127.0.0.1.")
@click.option("--port", type=int, default=None, help="Default: $PORT or 8000.")
@click.option("--workers", type=int, default=1, show_default=True, help="API processes.")
def web(host: str | None, port: int | None, workers: int) -> None:
    """Run the HTTP API."""
    import uvicorn

    settings = _settings()
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host or os.environ.get("HOST", "127.0.0.1"),
        port=port or settings.port,
        workers=workers,
        access_log=False,
        log_config=None,
        loop="uvloop",
        http="httptools",
    )


@main.command()
@click.option("--processes", type=int, default=None, help="Default: $WORKER_PROCESSES or 2.")
@click.option("--threads", type=int, default=None, help="Default: $WORKER_THREADS or 8.")
@click.option("--queues", default="payments", show_default=True)
def worker(processes: int | None, threads: int | None, queues: str) -> None:
    """Run a Dramatiq worker pool (replaces this process)."""
    settings = _settings()
    env = dict(os.environ)
    env["dramatiq_worker_timeout"] = str(settings.workers.poll_timeout_ms)
    if settings.workers.prefetch:
        env["dramatiq_queue_prefetch"] = str(settings.workers.prefetch)
    argv = [
        sys.executable,
        "-m",
        "dramatiq",
        "workers.main:setup",
        "--processes",
        str(processes or settings.workers.processes),
        "--threads",
        str(threads or settings.workers.threads),
        "--skip-logging",
        "--queues",
        *queues.split(","),
    ]
    os.execve(sys.executable, argv, env)


@main.command()
def scheduler() -> None:
    """Run the periodic jobs of schedules/ (safe to run several copies: one run per job and slot)."""
    import signal

    from engine.logconfig import configure_logging
    from schedules.runner import serve

    settings = _settings()
    configure_logging(settings.log_level, json_logs=settings.is_production)

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


if __name__ == "__main__":
    main()
