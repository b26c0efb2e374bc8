"""Every test has exactly one kind (``unit``, ``api``, ``integration``, ``e2e``, ``faults``,
``browser``), so ``pytest -m KIND`` selects a tier and the tiers together are the whole suite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import KIND_BY_DIRECTORY, KIND_BY_FILE, kind_of

ROOT = Path(__file__).resolve().parents[2]
KINDS = {*KIND_BY_DIRECTORY.values(), *KIND_BY_FILE.values()}


def test_every_test_file_has_one_registered_kind() -> None:
    registered = subprocess.run(
        [sys.executable, "-m", "pytest", "--markers", "-p", "no:cacheprovider"], cwd=ROOT, capture_output=True, text=True, timeout=120
    ).stdout
    assert all(f"@pytest.mark.{kind}:" in registered for kind in KINDS), registered[:2000]
    files = sorted((ROOT / "tests").rglob("test_*.py"))
    assert files
    assert [f for f in files if kind_of(f) not in KINDS] == []


def test_the_markers_are_applied_at_collection() -> None:
    def collected(expression: str) -> set[str]:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-m", expression, "tests/dashboard"],
            cwd=ROOT, capture_output=True, text=True, timeout=300,
        )
        assert done.returncode in (0, 5), done.stdout[-2000:] + done.stderr[-2000:]  # 5: nothing selected
        return {line.split("::")[0] for line in done.stdout.splitlines() if "::" in line}

    assert collected("browser") == {"tests/dashboard/test_browser.py"}
    api_files = collected("api")
    assert api_files and "tests/dashboard/test_browser.py" not in api_files
    assert collected("not api and not browser") == set()
