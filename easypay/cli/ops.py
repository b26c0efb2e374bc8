"""Operator commands: ``easypay db upgrade``, ``queues``, ``payments show|stuck``, ``dlq list|retry|purge``.

What an on-call operator reaches for first: is work piling up (queues), what happened to this
payment (show), which payments are not progressing (stuck), and what died (dlq).
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any, Awaitable, Callable, TypeVar, cast

import click

from easypay.cli.common import emit, in_transaction, json_option, run_async, settings_or_exit
from engine.settings import Settings

if TYPE_CHECKING:
    from jobs.dead_letters import DeadLetters

T = TypeVar("T")


def _on_dead_letters(work: Callable[[DeadLetters], Awaitable[T]]) -> T:
    """``work(dead_letters)`` on the broker ``BROKER_URL`` names (``jobs.brokers.open_dead_letters``:
    the same interface the dashboard uses, on Redis or RabbitMQ)."""
    from jobs.brokers import connect_sender, open_dead_letters

    # aiormq logs a refused connection before raising it; the command says it once, in one line.
    logging.getLogger("aiormq.connection").setLevel(logging.CRITICAL)

    async def go(settings: Settings) -> T:
        sender = connect_sender(settings)
        try:
            return await work(open_dead_letters(settings, sender))
        finally:
            await sender.close()

    return cast(T, run_async(go))


def _known_queues(settings: Settings) -> list[str]:
    queues: list[str] = []
    for pool in settings.pools.values():
        queues.extend(q for q in pool.queues if q not in queues)
    return queues


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [headers] + [["" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join("  ".join(value.ljust(width) for value, width in zip(row, widths)).rstrip() for row in cells)


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@json_option
def db_upgrade(revision: str, as_json: bool) -> None:
    """Create the database if needed and apply migrations."""
    from migrations.runner import upgrade

    settings = settings_or_exit()
    upgrade(settings.database.url, revision)
    emit(as_json, {"upgraded_to": revision}, f"database upgraded to {revision}")


@click.command()
@click.option("--queue", "queues", multiple=True, help="Only this queue (repeatable). Default: every pool's queues.")
@json_option
def queues(queues: tuple[str, ...], as_json: bool) -> None:
    """Depth, oldest message age, in-flight, delayed and dead letters per queue."""
    from jobs.queue_metrics import blocking_stats_reader

    settings = settings_or_exit()
    stats = blocking_stats_reader(settings.redis.broker_url, timeout_s=5)(list(queues) or _known_queues(settings))
    if as_json:
        click.echo(json.dumps({"queues": [s.as_dict() for s in stats]}))
        return
    click.echo(
        _table(
            ["queue", "depth", "oldest_age_s", "in_progress", "delayed", "dead_letters"],
            [[s.queue, s.depth, s.oldest_age_s, s.in_progress, s.delayed, s.dead_letters] for s in stats],
        )
    )


@click.group()
def payments() -> None:
    """Inspect payments."""


def _payment_document(row: Any, events: list[Any]) -> dict[str, Any]:
    from engine.money import format_amount

    return {
        "id": str(row.id),
        "merchant_id": str(row.merchant_id),
        "status": row.status,
        "amount": format_amount(row.amount_minor, row.currency),
        "currency": row.currency,
        "capture": row.capture,
        "amount_captured": format_amount(row.amount_captured_minor, row.currency),
        "amount_refunded": format_amount(row.amount_refunded_minor, row.currency),
        "method": row.payment_method_type,
        "card": {"brand": row.card_brand, "last4": row.card_last4} if row.card_last4 else None,
        "invoice_number": row.invoice_number,
        "processor": {
            "transaction_id": row.processor_transaction_id,
            "auth_code": row.processor_auth_code,
            "avs_result": row.processor_avs_result,
            "cvv_result": row.processor_cvv_result,
        },
        "failure": {"code": row.failure_code, "message": row.failure_message, "processor_code": row.failure_processor_code}
        if row.failure_code
        else None,
        "attempts": {
            "processor_attempts": row.processor_attempts,
            "processing_message_id": row.processing_message_id,
            "processing_started_at": _iso(row.processing_started_at),
            "needs_reconciliation": row.needs_reconciliation,
        },
        "created_at": _iso(row.created_at),
        "updated_at": _iso(row.updated_at),
        "events": [
            {
                "at": _iso(e.created_at),
                "type": e.type,
                "from": e.from_status,
                "to": e.to_status,
                "request_id": e.request_id,
                "data": e.data,
            }
            for e in events
        ],
    }


@payments.command("show")
@click.argument("payment_id")
@json_option
def payments_show(payment_id: str, as_json: bool) -> None:
    """A payment's state, processor attempts and event history."""
    from engine.db import payments as repo

    try:
        pid = uuid.UUID(payment_id)
    except ValueError:
        raise click.BadParameter("not a payment id", param_hint="PAYMENT_ID") from None

    async def read(conn: Any, settings: Settings) -> Any:
        row = await repo.get_payment(conn, pid)
        if row is None:
            return None
        events = await repo.events_of(conn, pid)
        return _payment_document(row, events)

    document = in_transaction(read)
    if document is None:
        raise click.ClickException(f"no payment {payment_id}")
    if as_json:
        click.echo(json.dumps(document))
        return
    attempts = document["attempts"]
    lines = [
        f"payment {document['id']}  {document['status']}  {document['amount']} {document['currency']}"
        f"  capture={document['capture']}  method={document['method']}",
        f"merchant {document['merchant_id']}  invoice {document['invoice_number']}",
        f"created {document['created_at']}  updated {document['updated_at']}",
        f"processor attempts {attempts['processor_attempts']}  message {attempts['processing_message_id']}"
        f"  needs_reconciliation={attempts['needs_reconciliation']}",
        f"processor transaction {document['processor']['transaction_id']}  auth {document['processor']['auth_code']}",
    ]
    if document["failure"]:
        lines.append(f"failure {document['failure']['code']}: {document['failure']['message']}")
    lines.append("events:")
    lines.append(
        _table(
            ["at", "type", "from", "to", "request_id", "data"],
            [[e["at"], e["type"], e["from"], e["to"], e["request_id"], json.dumps(e["data"])] for e in document["events"]],
        )
    )
    click.echo("\n".join(lines))


@payments.command("stuck")
@click.option("--older-than-s", type=int, default=300, show_default=True, help="Pending/processing for longer than this.")
@click.option("--limit", type=int, default=100, show_default=True)
@json_option
def payments_stuck(older_than_s: int, limit: int, as_json: bool) -> None:
    """Payments not progressing: pending/processing too long, or awaiting reconciliation. Oldest first."""
    from engine.db import payment_backlog

    async def read(conn: Any, settings: Settings) -> list[Any]:
        return await payment_backlog.list_stuck(conn, older_than_s=older_than_s, limit=limit)

    rows = in_transaction(read)
    items = [
        {
            "id": str(r.id),
            "merchant_id": str(r.merchant_id),
            "status": r.status,
            "age_s": round(float(r.age_s), 1),
            "needs_reconciliation": r.needs_reconciliation,
            "processor_attempts": r.processor_attempts,
            "updated_at": _iso(r.updated_at),
        }
        for r in rows
    ]
    if as_json:
        click.echo(json.dumps({"payments": items}))
        return
    if not items:
        click.echo("no stuck payments")
        return
    click.echo(
        _table(
            ["id", "status", "age_s", "needs_reconciliation", "attempts", "updated_at"],
            [[i["id"], i["status"], i["age_s"], i["needs_reconciliation"], i["processor_attempts"], i["updated_at"]] for i in items],
        )
    )


@click.group()
def dlq() -> None:
    """Dead-lettered queue messages (retries exhausted)."""


@dlq.command("list")
@click.option("--queue", default="payments", show_default=True)
@click.option("--limit", type=int, default=50, show_default=True)
@json_option
def dlq_list(queue: str, limit: int, as_json: bool) -> None:
    """Newest first: id, actor, when it died, retries, subject id, request id, last error."""
    found = _on_dead_letters(lambda letters: letters.list(queue, limit=limit))
    if as_json:
        click.echo(json.dumps({"queue": queue, "dead_letters": [d.as_dict() for d in found]}))
        return
    if not found:
        click.echo(f"no dead letters on {queue}")
        return
    click.echo(
        _table(
            ["id", "actor", "dead_at", "retries", "subject", "request_id", "error"],
            [[d.id, d.actor, d.dead_at, d.retries, d.subject, d.request_id, d.error] for d in found],
        )
    )


@dlq.command("retry")
@click.option("--queue", default="payments", show_default=True)
@click.argument("ids", nargs=-1)
@click.option("--all", "retry_all", is_flag=True, help="Every dead letter of the queue.")
@json_option
def dlq_retry(queue: str, ids: tuple[str, ...], retry_all: bool, as_json: bool) -> None:
    """Put dead letters back on their queue with a fresh retry budget (actors are idempotent)."""
    if not ids and not retry_all:
        raise click.UsageError("give IDS (from `easypay dlq list`) or --all")
    done = _on_dead_letters(lambda letters: letters.replay(queue, None if retry_all else list(ids)))
    if as_json:
        click.echo(json.dumps({"queue": queue, "retried": done.retried, "not_found": done.not_found}))
    else:
        missing = done.not_found
        click.echo(f"requeued {len(done.retried)} on {queue}" + (f"; not found: {', '.join(missing)}" if missing else ""))
    if done.not_found and not done.retried:
        raise SystemExit(1)


@dlq.command("purge")
@click.option("--queue", "queues", multiple=True, help="Only this queue (repeatable); default: every pool's queue.")
@click.option("--older-than-s", type=click.FloatRange(min=0), default=0, show_default=True,
              help="Only dead letters that died at least this many seconds ago.")
@json_option
def dlq_purge(queues: tuple[str, ...], older_than_s: float, as_json: bool) -> None:
    """Delete dead letters for good (list them first: a purged message cannot be retried)."""
    names = list(queues) or _known_queues(settings_or_exit())

    async def purge(letters: DeadLetters) -> dict[str, int]:
        return {q: await letters.purge(q, older_than_s=older_than_s) for q in names}

    purged = _on_dead_letters(purge)
    if as_json:
        click.echo(json.dumps({"purged": purged, "older_than_s": older_than_s}))
    else:
        click.echo(", ".join(f"purged {n} on {q}" for q, n in purged.items()))
