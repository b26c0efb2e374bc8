"""``easypay web``, ``worker``, ``scheduler`` and ``sandbox``: the long-running processes."""

from __future__ import annotations

import asyncio
import os
import sys

import click

from easypay.cli.common import settings_or_exit
from engine.settings_from_env import SettingsError


def fresh_metrics_dir(path: str) -> str:
    """An empty directory for multi-process metric files (stale files would resurrect old values)."""
    import shutil

    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path, exist_ok=True)
    return path


def exit_if_port_taken(host: str, port: int, *, hint: str = "") -> None:
    """Refuse at once, with one line, when an address this process must listen on is taken.

    uvicorn binds only after the application's startup has begun its background work, and on a bind
    error it then waits for that work forever; checking first makes a busy port a clean exit 1. A
    pool checks its metrics port before touching its metrics directory, so a second copy on the
    same port never empties the first copy's files.
    """
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            click.echo(f"cannot listen on {host}:{port}: {exc.strerror or exc}{hint and '; ' + hint}", err=True)
            sys.exit(1)


def _metrics_port_hint(env_prefix: str) -> str:
    return f"another copy of this pool may be running here: set {env_prefix}_METRICS_PORT to a free port (0: no metrics)"


@click.command()
@click.option("--host", default=None, help="Default: $HOST or 127.0.0.1.")
@click.option("--port", type=int, default=None, help="Default: $PORT or 8000.")
@click.option("--workers", type=int, default=None, help="API processes. Default: $WEB_PROCESSES or 1.")
def web(host: str | None, port: int | None, workers: int | None) -> None:
    """Run the HTTP API.

    With several processes, /metrics sums them through PROMETHEUS_MULTIPROC_DIR (created empty
    under $EASYPAY_METRICS_DIR unless already set).
    """
    import uvicorn

    from api.app import check_api_settings

    settings = settings_or_exit()
    try:
        check_api_settings(settings)
    except SettingsError as exc:
        raise click.ClickException(f"configuration error: {exc}") from None
    workers = workers or settings.web_processes
    port = port or settings.port
    host = host or settings.host
    exit_if_port_taken(host, port)
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = fresh_metrics_dir(os.path.join(settings.metrics_dir, f"web-{port}"))
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        log_config=None,
        loop="uvloop",
        http="httptools",
        server_header=False,  # no "Server: uvicorn": it names the software to a scanner
    )


@click.command()
@click.option("--pool", type=click.Choice(["payments", "webhooks", "recovery", "scheduler"]), default="payments", show_default=True,
              help="Which pool's settings (<PREFIX>_PROCESSES, _THREADS, _PREFETCH, _POLL_TIMEOUT_MS, _METRICS_PORT, _QUEUES).")
@click.option("--processes", type=int, default=None, help="Default: the pool's <PREFIX>_PROCESSES.")
@click.option("--threads", type=int, default=None, help="Default: the pool's <PREFIX>_THREADS.")
@click.option("--queues", default=None, help="Comma-separated; default: the pool's queues.")
def worker(pool: str, processes: int | None, threads: int | None, queues: str | None) -> None:
    """Run a Dramatiq worker pool: PROCESSES worker processes, one restarted if it dies.

    Its Prometheus endpoint (Dramatiq's metrics, queue depth/age/dead letters, live threads) is
    on the pool's metrics port; set <PREFIX>_METRICS_PORT=0 to disable it.
    """
    from workers.broker import worker_timeout_ms

    settings = settings_or_exit()
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
            "dramatiq_worker_timeout": str(worker_timeout_ms(cfg.poll_timeout_ms, rabbitmq=settings.redis.broker_is_rabbitmq)),
        }
    )
    if cfg.prefetch:
        env["dramatiq_queue_prefetch"] = str(cfg.prefetch)
    if cfg.metrics_port:
        exit_if_port_taken(settings.metrics_host, cfg.metrics_port, hint=_metrics_port_hint(cfg.env_prefix))
        metrics_dir = fresh_metrics_dir(os.path.join(settings.metrics_dir, f"{pool}-{cfg.metrics_port}"))
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
        "1",  # one Dramatiq per worker process: easypay.pool_supervisor restarts the one that dies
        "--threads",
        str(threads),
        "--skip-logging",
        "--worker-shutdown-timeout",
        str(cfg.shutdown_timeout_s * 1000),
        "--queues",
        *queue_list,
    ]
    from easypay.pool_supervisor import supervise
    from engine.logconfig import configure_logging
    from workers.pool_metrics import start_pool_metrics_server

    os.environ.clear()
    os.environ.update(env)
    configure_logging(settings.log_level, json_logs=settings.is_production)
    if cfg.metrics_port and not start_pool_metrics_server():
        raise SystemExit(1)
    raise SystemExit(supervise(argv, env, processes=processes, shutdown_timeout_s=cfg.shutdown_timeout_s))


@click.command()
def scheduler() -> None:
    """Run the periodic jobs of schedules/ (safe to run several copies: one run per job and slot)."""
    import signal

    from engine.logconfig import configure_logging
    from schedules.runner import serve
    from workers.observability import start_process_metrics_server

    settings = settings_or_exit()
    cfg = settings.pools["scheduler"]
    if cfg.metrics_port:
        exit_if_port_taken(settings.metrics_host, cfg.metrics_port, hint=_metrics_port_hint(cfg.env_prefix))
    configure_logging(settings.log_level, json_logs=settings.is_production)
    start_process_metrics_server("scheduler")  # on SCHEDULER_METRICS_PORT (0: none)

    async def go() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, stop)

    asyncio.run(go())


@click.command()
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
    from sandbox.server import run as run_sandbox

    if latency_ms < 0 or latency_jitter_ms < 0 or not 0 <= fail_rate <= 1:
        raise click.UsageError("latency must be >= 0 and --fail-rate in [0, 1]")
    settings = settings_or_exit()
    port = port or settings.sandbox_port
    try:
        run_sandbox(
            host,
            port,
            latency_ms=latency_ms,
            latency_jitter_ms=latency_jitter_ms,
            fail_rate=fail_rate,
            login_id=settings.processor.login_id,
            transaction_key=settings.processor.transaction_key,
            settle_interval_s=settle_interval_s or None,
        )
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc}") from None
