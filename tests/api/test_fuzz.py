"""Schemathesis over every route of a real ``easypay web``, as a merchant and as an admin.

Every check Schemathesis has (no 5xx, status codes, content types, headers and bodies as
documented, invalid data refused, valid data accepted, …) against the OpenAPI document the server
publishes. The document is as strict as the server (enums, patterns, ``additionalProperties:
false``), so generated bodies get past validation and reach the handlers. The run is bounded by
examples per operation so it fits CI; a failure prints Schemathesis' own report with a ``curl``
to reproduce it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import make_merchant, start_web, stop

#: What JSON Schema cannot say, operation by operation (read it before widening anything).
CONFIG = Path(__file__).with_name("schemathesis.toml")
#: Examples per operation and phase (Schemathesis' ``--max-examples``).
MAX_EXAMPLES = int(os.environ.get("EASYPAY_FUZZ_EXAMPLES", "25"))


@pytest.fixture(scope="module")
def web(test_env: dict[str, str], worker, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    # With a worker pool, accepted payments reach their outcomes (a ``?wait`` ends, capture,
    # void and refunds meet payments in every state).
    base, proc = start_web(test_env, tmp_path_factory.mktemp("fuzz") / "web.log")
    yield base
    stop(proc)


def _schemathesis(base: str, key: str, report_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(Path(sys.executable).with_name("st")), "--no-color", "--config-file", str(CONFIG), "run", f"{base}/schema/openapi.json",
            "--checks", "all",
            "--header", f"Authorization: Bearer {key}",
            "--max-examples", str(MAX_EXAMPLES),
            "--phases", "examples,coverage,fuzzing",
            "--seed", "1",
            "--workers", "1",  # hypothesis parses lambdas with ast; CPython 3.11 can fail that from two threads
            "--request-timeout", "30",
            "--report", "junit", "--report-dir", str(report_dir),
            "--generation-database", "none",
        ],
        cwd=report_dir, capture_output=True, text=True, timeout=900,
    )


@pytest.mark.parametrize("role", ["merchant", "admin"])
async def test_schemathesis_finds_nothing(web: str, settings, role: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    who = await make_merchant(settings, name=f"Fuzz {role}", role=role)
    done = _schemathesis(web, who.key, tmp_path)
    assert done.returncode == 0, done.stdout[-20000:] + done.stderr[-3000:]
    # Every operation of the document was exercised, with generated cases.
    selected = re.search(r"Selected: (\d+)/(\d+)", done.stdout)
    tested = re.search(r"Tested: (\d+)", done.stdout)
    generated = re.search(r"(\d+) generated", done.stdout)
    assert selected and tested and generated, done.stdout[-5000:]
    assert selected.group(1) == selected.group(2) == tested.group(1), done.stdout[-5000:]
    assert int(generated.group(1)) >= int(tested.group(1)) * 3, done.stdout[-5000:]
