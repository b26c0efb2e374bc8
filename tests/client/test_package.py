"""The client is a package of its own: it builds, ships its typing marker, and imports nothing of the engine."""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile

from tests.conftest import ROOT

CLIENT = ROOT / "clients" / "python"
ENGINE_PACKAGES = {"api", "easypay", "engine", "jobs", "migrations", "sandbox", "schedules", "workers", "tests", "bench"}


def test_the_client_imports_only_itself_httpx_msgspec_and_the_standard_library():
    imported: set[str] = set()
    for path in (CLIENT / "easypay_client").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    assert not imported & ENGINE_PACKAGES
    third_party = imported - set(sys.stdlib_module_names) - {"easypay_client", "__future__"}
    assert third_party == {"httpx", "msgspec"}, third_party


def test_the_distribution_builds_as_easypay_client(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path), str(CLIENT)],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    [wheel] = list(tmp_path.glob("easypay_client-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"easypay_client/__init__.py", "easypay_client/_core.py", "easypay_client/py.typed"} <= names
    assert not any(n.startswith(("engine/", "api/", "easypay/")) for n in names)
