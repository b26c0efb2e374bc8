"""The product runs without the official SDK: it is a test-only dependency (the `dev` extra)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys
for name in ("authorizenet", "pyxb"):
    sys.modules[name] = None  # any import of them now raises ImportError
import api.app, engine.processing, engine.operations, engine.reconcile, workers  # noqa: F401
from engine.processor import results, wire
from tests.processor import bodies
from tests.processor.helpers import card_request
built = wire.build_charge(wire.Credentials("login", "key"), card_request(), 600)
assert built.body.startswith(b"<?xml")
assert results.transaction_result(wire.parse_response(bodies.approved())).approved
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("authorizenet", "pyxb") and sys.modules[m] is not None)
print("loaded:", loaded)
"""


def test_api_workers_and_client_import_and_work_without_the_sdk():
    run = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip() == "loaded: []"
