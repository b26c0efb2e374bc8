"""``easypay listen --forward-to``: a real payment's event reaches a local receiver, signed, and
the command prints the delivery and the receiver's answer."""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys

from easypay_client import Client, WebhookVerifier
from tests.client.conftest import VISA, eventually
from tests.conftest import ROOT


def _env(system: str, key: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EASYPAY_")}
    env.update({"EASYPAY_BASE_URL": system, "EASYPAY_API_KEY": key, "NO_PROXY": "127.0.0.1,localhost", "PYTHONUNBUFFERED": "1"})
    return env


def test_listen_forwards_a_real_event_signed_and_prints_the_answer(system, receiver, merchant):
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    receiver.behave("/local-hooks", secrets=[secret], default=200)
    with Client(system, merchant.key) as client:
        before = client.payments.create(amount="2.00", currency="USD", card=VISA)
        client.wait_for(before.id)  # an event from before the command starts: not forwarded
        proc = subprocess.Popen(
            [sys.executable, "-m", "easypay.cli", "listen", "--forward-to", receiver.url("/local-hooks"), "--secret", secret,
             "--events", "payment.captured,payment.declined", "--interval-s", "0.2", "--max-events", "2", "--json"],
            cwd=ROOT, env=_env(system, merchant.key), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            ready = proc.stderr.readline()
            assert ready.startswith("Ready:") and secret in ready, ready
            # When: a sale is captured, an authorization made (not subscribed) and a sale declined
            captured = client.payments.create(amount="21.00", currency="USD", card=VISA)
            client.wait_for(captured.id)
            authorized = client.payments.create(amount="22.00", currency="USD", card=VISA, capture=False)
            client.wait_for(authorized.id)
            declined = client.payments.create(amount="23.00", currency="USD", card=VISA, billing={"postal_code": "46282"})
            client.wait_for(declined.id)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 0, err
        # Then: two deliveries, verified by standardwebhooks and by the client, in order
        received = eventually(lambda: receiver.requests("/local-hooks"), what="deliveries")
        assert [r.verified_with for r in received] == [[secret], [secret]]
        events = [WebhookVerifier(secret).verify(r.body, r.headers) for r in received]
        assert [(e.type, e.data.object.id) for e in events] == [("payment.captured", captured.id), ("payment.declined", declined.id)]
        assert received[0].body == client.events.retrieve_raw(events[0].id)
        # And: one JSON line per delivery with the receiver's answer
        lines = [json.loads(line) for line in out.splitlines()]
        assert [(l["event_id"], l["status"]) for l in lines] == [(events[0].id, 200), (events[1].id, 200)]
        assert lines[0]["webhook_id"] == received[0].headers["webhook-id"] and '"received": true' in lines[0]["response"]


def test_listen_prints_readable_lines_and_reports_a_receiver_that_is_down(system, merchant):
    from tests.conftest import free_port

    url = f"http://127.0.0.1:{free_port()}/hooks"
    with Client(system, merchant.key) as client:
        proc = subprocess.Popen(
            [sys.executable, "-m", "easypay.cli", "listen", "--forward-to", url, "--interval-s", "0.2", "--max-events", "1"],
            cwd=ROOT, env=_env(system, merchant.key), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            ready = proc.stdout.readline()
            assert ready.startswith("Ready:") and "whsec_" in ready, ready
            payment = client.payments.create(amount="24.00", currency="USD", card=VISA)
            client.wait_for(payment.id)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, err
    assert "payment.captured" in out and f"--> POST {url} failed: ConnectError" in out


def test_listen_without_credentials_says_so(system):
    env = {k: v for k, v in os.environ.items() if not k.startswith("EASYPAY_")}
    done = subprocess.run(
        [sys.executable, "-m", "easypay.cli", "listen", "--forward-to", "http://127.0.0.1:9/x", "--base-url", system, "--api-key", "ak_nope:sk_nope"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=30,
    )
    assert done.returncode == 1 and "401" in done.stderr and "Traceback" not in done.stderr
