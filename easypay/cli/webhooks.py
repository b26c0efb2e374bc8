"""``easypay webhooks``: endpoints, deliveries, dead letters, replay and the dispatcher."""

from __future__ import annotations

import asyncio
from typing import Any

import click

from easypay.cli.common import emit, in_transaction, json_option, settings_or_exit, uuid_arg
from engine.settings import Settings


@click.group()
def webhooks() -> None:
    """Webhook endpoints, deliveries and the dispatcher."""


@webhooks.command("endpoints")
@click.option("--merchant", "merchant_id", default=None, help="Only this merchant's endpoints.")
@click.option("--limit", type=int, default=100, show_default=True)
@json_option
def webhooks_endpoints(merchant_id: str | None, limit: int, as_json: bool) -> None:
    """List endpoints (never their secrets)."""
    from engine.db import webhook_endpoints as repo
    from engine.webhooks.views import endpoint_view

    merchant = uuid_arg(merchant_id, "--merchant") if merchant_id else None

    async def work(conn: Any, settings: Settings) -> Any:
        page = await repo.list_endpoints(conn, merchant, limit=limit)
        return [(row.merchant_id, endpoint_view(row)) for row in page.items]

    rows = in_transaction(work)
    import msgspec

    documents = [{"merchant_id": str(m), **msgspec.to_builtins(v)} for m, v in rows]
    lines = [f"{d['id']}  {d['status']:<8}  {d['url']}  {','.join(d['events'])}" for d in documents]
    emit(as_json, {"data": documents}, "\n".join(lines) or "no endpoints")


@webhooks.command("deliveries")
@click.argument("endpoint_id")
@click.option("--status", type=click.Choice(["pending", "succeeded", "failed"]), default=None)
@click.option("--limit", type=int, default=20, show_default=True)
@json_option
def webhooks_deliveries(endpoint_id: str, status: str | None, limit: int, as_json: bool) -> None:
    """Deliveries to one endpoint, newest first, with their attempts."""
    import msgspec

    from engine.db import webhook_deliveries as repo
    from engine.webhooks.views import delivery_view

    eid = uuid_arg(endpoint_id, "ENDPOINT_ID")

    async def work(conn: Any, settings: Settings) -> Any:
        rows = (await repo.list_deliveries(conn, eid, limit=limit, status=status)).items
        attempts = await repo.attempts_of(conn, [r.id for r in rows], per_delivery=20)
        return [delivery_view(r, attempts.get(r.id, [])) for r in rows]

    views = [msgspec.to_builtins(v) for v in in_transaction(work)]
    lines = [
        f"{v['id']}  {v['event_type']:<26} {v['status']:<9} attempts={v['attempt_count']} "
        f"last={v['last_status_code'] or v['last_error'] or '-'}"
        for v in views
    ]
    emit(as_json, {"data": views}, "\n".join(lines) or "no deliveries")


@webhooks.command("dead")
@click.option("--merchant", "merchant_id", default=None)
@click.option("--limit", type=int, default=50, show_default=True)
@json_option
def webhooks_dead(merchant_id: str | None, limit: int, as_json: bool) -> None:
    """Dead letters: deliveries that failed for good (schedule spent, 410, or endpoint disabled)."""
    from engine.db import webhook_deliveries as repo

    merchant = uuid_arg(merchant_id, "--merchant") if merchant_id else None
    rows = in_transaction(lambda conn, settings: repo.list_dead(conn, merchant_id=merchant, limit=limit))
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
    emit(as_json, {"data": documents}, "\n".join(lines) or "no dead deliveries")


@webhooks.command("replay")
@click.argument("delivery_id")
@json_option
def webhooks_replay(delivery_id: str, as_json: bool) -> None:
    """Give one dead delivery a new round of attempts (its endpoint must be enabled)."""
    from engine.db import webhook_deliveries as repo

    did = uuid_arg(delivery_id, "DELIVERY_ID")
    if not in_transaction(lambda conn, settings: repo.replay_delivery(conn, did)):
        raise click.ClickException(f"no failed delivery {delivery_id} on an enabled endpoint")
    emit(as_json, {"id": delivery_id, "status": "pending"}, f"delivery {delivery_id} queued again")


@webhooks.command("dispatch")
@click.option("--loop", "loop_forever", is_flag=True, help="Keep dispatching every --interval-s (until SIGINT/SIGTERM).")
@click.option("--interval-s", type=float, default=1.0, show_default=True)
@json_option
def webhooks_dispatch(loop_forever: bool, interval_s: float, as_json: bool) -> None:
    """Enqueue due deliveries (once, or as a loop until the scheduler process runs this job)."""
    import signal

    from engine.db.session import make_engine
    from engine.logconfig import configure_logging
    from engine.webhooks.dispatch import dispatch_due_deliveries, run_forever
    from jobs.brokers import connect_sender

    async def go(settings: Settings) -> int:
        engine = make_engine(settings.database, application_name="easypay-webhook-dispatch")
        jobs = connect_sender(settings)
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

    settings = settings_or_exit()
    if loop_forever:
        configure_logging(settings.log_level, json_logs=settings.is_production)
    count = asyncio.run(go(settings))
    if not loop_forever:
        emit(as_json, {"dispatched": count}, f"dispatched {count} deliveries")
