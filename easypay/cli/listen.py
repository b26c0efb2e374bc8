"""``easypay listen --forward-to URL``: a merchant's new events, forwarded as signed webhook deliveries.

Like ``stripe listen``, for a developer's machine that EasyPay cannot reach: the command follows
``GET /v1/events`` through the API with the Python client (``easypay_client``) and POSTs each new
event's stored bytes to the local URL, signed the Standard Webhooks way with a secret it prints
(or ``--secret``), so the receiver verifies them exactly as it will verify real deliveries.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
import sys
import time
import uuid
from typing import Any

import click

#: Events are listed again this far back on every poll: an event's ``created_at`` is its
#: transaction's time, so one can become visible a little after a later one.
OVERLAP = dt.timedelta(seconds=30)


def _client_package() -> Any:
    try:
        import easypay_client
    except ImportError:
        raise click.ClickException("easypay listen needs the Python client: pip install ./clients/python (make install does)") from None
    return easypay_client


@click.command("listen")
@click.option("--forward-to", "forward_to", required=True, help="Local URL that receives the deliveries.")
@click.option("--base-url", default=None, help="The API (default: EASYPAY_BASE_URL).")
@click.option("--api-key", default=None, help="Credentials (default: EASYPAY_API_KEY).")
@click.option("--events", "event_types", default="*", show_default=True, help="Comma-separated event types, or *.")
@click.option("--secret", default=None, help="Signing secret (whsec_…); default: a new one, printed at start.")
@click.option("--interval-s", type=float, default=1.0, show_default=True, help="Seconds between polls of /v1/events.")
@click.option("--max-events", type=int, default=None, help="Stop after forwarding this many events.")
@click.option("--timeout-s", type=float, default=10.0, show_default=True, help="How long the local receiver may take.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per delivery on stdout (messages go to stderr).")
def listen(
    forward_to: str,
    base_url: str | None,
    api_key: str | None,
    event_types: str,
    secret: str | None,
    interval_s: float,
    max_events: int | None,
    timeout_s: float,
    as_json: bool,
) -> None:
    """Forward new events to a local URL as signed webhook deliveries, printing each answer."""
    import httpx

    ep = _client_package()
    wanted = {t.strip() for t in event_types.split(",") if t.strip()}
    signing = secret or "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    try:
        ep.WebhookVerifier(signing)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--secret") from None
    try:
        client = ep.Client(base_url, api_key)
    except ep.ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None
    forwarded = 0
    with client, httpx.Client(timeout=timeout_s) as local:
        try:
            started = dt.datetime.now(dt.timezone.utc)
            seen = {e.id: e.created_at for e in _recent(client, ep, started - OVERLAP)}
        except ep.APIError as exc:
            raise click.ClickException(f"cannot list events: {exc}") from None
        click.echo(
            f"Ready: forwarding {', '.join(sorted(wanted))} events to {forward_to}. Signing secret: {signing}",
            err=as_json,
        )
        sys.stdout.flush()
        try:
            while max_events is None or forwarded < max_events:
                # The server's own times once it has told one (this machine's clock may be off).
                since = max(seen.values(), default=started) - OVERLAP
                try:
                    fresh = sorted((e for e in _recent(client, ep, since) if e.id not in seen), key=lambda e: (e.created_at, e.id))
                except ep.AuthenticationError as exc:
                    raise click.ClickException(str(exc)) from None
                except ep.EasyPayError as exc:
                    click.echo(f"events could not be listed, retrying: {exc}", err=True)
                    fresh = []
                for event in fresh:
                    seen[event.id] = event.created_at
                    if "*" not in wanted and event.type not in wanted:
                        continue
                    try:
                        _forward(client, ep, local, event, forward_to, signing, as_json)
                    except ep.EasyPayError as exc:  # the event's bytes could not be read: next poll
                        del seen[event.id]
                        click.echo(f"event {event.id} could not be read, retrying: {exc}", err=True)
                        break
                    forwarded += 1
                    if max_events is not None and forwarded >= max_events:
                        return
                seen = {k: v for k, v in seen.items() if v >= since - OVERLAP}
                time.sleep(interval_s)
        except KeyboardInterrupt:
            click.echo("stopped", err=True)


def _recent(client: Any, ep: Any, since: dt.datetime) -> list[Any]:
    return list(client.events.list_all(limit=100, created_gte=since))


def _forward(client: Any, ep: Any, local: Any, event: Any, url: str, signing: str, as_json: bool) -> None:
    import httpx

    raw = client.events.retrieve_raw(event.id)
    msg_id = f"msg_{uuid.UUID(event.id).hex}"
    headers = {**ep.signature_headers(signing, msg_id, raw), "Content-Type": "application/json", "User-Agent": "easypay-listen"}
    record: dict[str, Any] = {"event_id": event.id, "type": event.type, "webhook_id": msg_id, "url": url}
    started = time.monotonic()
    try:
        response = local.post(url, content=raw, headers=headers)
        record.update(status=response.status_code, response=response.text.strip().splitlines()[0][:200] if response.text.strip() else "")
    except httpx.HTTPError as exc:
        record.update(status=None, error=f"{type(exc).__name__}: {exc}")
    record["elapsed_ms"] = round((time.monotonic() - started) * 1000)
    if as_json:
        click.echo(json.dumps(record))
    else:
        answer = f"[{record['status']}] {record.get('response', '')}" if record["status"] is not None else f"failed: {record['error']}"
        stamp = event.created_at.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        click.echo(f"{stamp}  {event.type:<22} {event.id}  --> POST {url} {answer} ({record['elapsed_ms']} ms)")
    sys.stdout.flush()
