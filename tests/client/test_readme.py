"""The README's "Python client" examples, run as written against the test system."""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import subprocess
import sys
from datetime import datetime, timezone

from standardwebhooks import Webhook

from tests.conftest import ROOT


def python_blocks() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Python client\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_the_first_example_charges_waits_and_prints_captured(system, merchant, tmp_path):
    script = tmp_path / "first_payment.py"
    script.write_text(python_blocks()[0])
    env = {k: v for k, v in os.environ.items() if not k.startswith("EASYPAY_")}
    env.update({"EASYPAY_BASE_URL": system, "EASYPAY_API_KEY": merchant.key, "NO_PROXY": "127.0.0.1,localhost"})
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "captured"


def test_the_webhook_example_accepts_a_signed_delivery_and_refuses_a_forged_one(monkeypatch, capsys):
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    monkeypatch.setenv("EASYPAY_WEBHOOK_SECRET", secret)
    namespace: dict = {}
    exec(compile(python_blocks()[1], "README.md", "exec"), namespace)
    payment = {
        "id": "p-1", "object": "payment", "status": "captured", "amount": "12.50", "currency": "USD", "capture": True,
        "amount_captured": "12.50", "amount_refunded": "0.00", "created_at": "2026-12-03T06:00:00Z", "updated_at": "2026-12-03T06:00:01Z",
    }
    body = json.dumps({"id": "e-1", "object": "event", "type": "payment.captured", "created_at": "2026-12-03T06:00:01Z",
                       "data": {"object": payment}}).encode()
    now = datetime.now(timezone.utc)
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(int(now.timestamp())),
               "webhook-signature": Webhook(secret).sign("msg_1", now, body.decode())}
    assert namespace["handle_webhook"](body, headers) == 200
    assert "paid: p-1 12.50" in capsys.readouterr().out
    assert namespace["handle_webhook"](body.replace(b"12.50", b"1.00"), headers) == 400
