"""engine/ stays free of web and queue frameworks; api/ and workers/ stay thin."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN_IN_ENGINE = ("litestar", "dramatiq", "api", "workers", "schedules", "sandbox", "easypay", "uvicorn", "click")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


ENGINE_FILES = sorted((ROOT / "engine").rglob("*.py"))


@pytest.mark.parametrize("path", ENGINE_FILES, ids=[str(p.relative_to(ROOT)) for p in ENGINE_FILES])
def test_engine_imports_no_framework(path):
    assert not _imports(path) & set(FORBIDDEN_IN_ENGINE)


def test_engine_files_were_found():
    assert len(ENGINE_FILES) > 10


@pytest.mark.parametrize("package", ["api", "workers"])
def test_outer_layers_do_not_import_the_emulator(package):
    for path in (ROOT / package).rglob("*.py"):
        assert "sandbox" not in _imports(path), path
