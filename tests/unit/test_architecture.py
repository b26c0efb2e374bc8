"""The shape of the code: which package may import which, no import cycles, small modules.

Every import statement counts, including imports inside functions (``ast`` over every ``.py``
file of the product and of ``bench/``). The allowed edges between top-level packages:

    api ──────► engine, jobs            easypay (CLI) ──► engine, jobs, api, workers,
    workers ──► engine, jobs                              schedules, sandbox, migrations
    schedules ► engine, jobs            bench ──────────► anything but tests
    jobs ─────► engine                  engine, sandbox ─► nothing of ours
    migrations► engine

``engine/`` also stays free of web and queue frameworks, and SQL is built and run only in
``engine/db/`` (the repositories): no other product module imports a statement builder or
executes a statement.
"""

from __future__ import annotations

import ast
import graphlib
import re
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN_IN_ENGINE = ("litestar", "dramatiq", "api", "workers", "schedules", "sandbox", "easypay", "uvicorn", "click")

PRODUCT = ("api", "easypay", "engine", "jobs", "migrations", "sandbox", "schedules", "workers")
OURS = (*PRODUCT, "bench", "tests")
ALLOWED: dict[str, set[str]] = {
    "api": {"engine", "jobs"},
    "workers": {"engine", "jobs"},
    "schedules": {"engine", "jobs"},
    "jobs": {"engine"},
    "migrations": {"engine"},
    "easypay": {"engine", "jobs", "api", "workers", "schedules", "sandbox", "migrations"},
    "engine": set(),
    "sandbox": set(),
    "bench": set(PRODUCT),
}
#: Edges not checked yet: bench/ still borrows helpers from tests/conftest.py.
UNCHECKED: set[tuple[str, str]] = set()

#: Product modules over ``MAX_LINES`` today. The list may only shrink: a module leaves it once split.
MAX_LINES = 400
OVER_MAX_LINES: set[str] = set()


def _files(*packages: str) -> list[Path]:
    return sorted(path for package in packages for path in (ROOT / package).rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(path): path for path in _files(*PRODUCT, "bench")}


def _imports(path: Path) -> set[str]:
    """Top-level names imported by ``path`` (absolute imports only)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _imported_modules(path: Path) -> set[str]:
    """Dotted names imported by ``path``: ``from a.b import c`` gives ``a.b.c`` when that is a
    module, else ``a.b``; relative imports are resolved against the file's package."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in MODULES else base)
    return found


def _owner(name: str) -> str | None:
    """The known module ``name`` refers to (itself or its closest known parent)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _module_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        targets = {_owner(imported) for imported in _imported_modules(path)}
        graph[name] = {t for t in targets if t is not None and t != name}
    return graph


def _package_edges() -> dict[tuple[str, str], list[str]]:
    """(from package, to package) → the files that make the edge."""
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in _files(*PRODUCT, "bench"):
        source = path.relative_to(ROOT).parts[0]
        for target in _imports(path) & set(OURS):
            if target != source:
                edges[(source, target)].append(str(path.relative_to(ROOT)))
    return edges


ENGINE_FILES = _files("engine")


@pytest.mark.parametrize("path", ENGINE_FILES, ids=[str(p.relative_to(ROOT)) for p in ENGINE_FILES])
def test_engine_imports_no_framework(path):
    assert not _imports(path) & set(FORBIDDEN_IN_ENGINE)


def test_engine_files_were_found():
    assert len(ENGINE_FILES) > 10


@pytest.mark.parametrize("package", ["api", "workers"])
def test_outer_layers_do_not_import_the_emulator(package):
    for path in (ROOT / package).rglob("*.py"):
        assert "sandbox" not in _imports(path), path


def test_every_package_has_its_allowed_edges_listed():
    assert set(ALLOWED) == {*PRODUCT, "bench"}


def test_packages_import_only_along_the_allowed_edges():
    wrong = {
        f"{source} -> {target} ({', '.join(files)})"
        for (source, target), files in _package_edges().items()
        if target not in ALLOWED[source] and (source, target) not in UNCHECKED
    }
    assert not wrong, "imports against the allowed edges:\n" + "\n".join(sorted(wrong))


def test_the_package_graph_has_no_cycle():
    graph: dict[str, set[str]] = defaultdict(set)
    for source, target in _package_edges():
        if target in PRODUCT:
            graph[source].add(target)
    graphlib.TopologicalSorter(graph).prepare()  # raises CycleError naming the cycle


@pytest.mark.parametrize("package", [*PRODUCT, "bench"])
def test_no_module_cycle_inside_a_package(package):
    graph = {
        name: {t for t in targets if t.split(".")[0] == package}
        for name, targets in _module_graph().items()
        if name.split(".")[0] == package
    }
    graphlib.TopologicalSorter(graph).prepare()  # raises CycleError naming the cycle


def test_the_import_walk_sees_function_local_and_package_imports():
    """The checks above can fail: they see lazy imports and ``from package import module``."""
    graph = _module_graph()
    assert "migrations.runner" in graph["easypay.cli.ops"]  # imported inside the db upgrade command
    assert "workers.runtime" in graph["workers.payments"]  # ``from workers import runtime``
    assert ("easypay", "sandbox") in _package_edges()  # only inside the sandbox command


def test_cycles_are_detected():
    with pytest.raises(graphlib.CycleError):
        graphlib.TopologicalSorter({"a": {"b"}, "b": {"a"}}).prepare()


def _product_line_counts() -> dict[str, int]:
    return {str(path.relative_to(ROOT)): len(path.read_text().splitlines()) for path in _files(*PRODUCT)}


def test_no_product_module_is_over_the_line_limit():
    counts = _product_line_counts()
    over = {path: n for path, n in counts.items() if n > MAX_LINES and path not in OVER_MAX_LINES}
    assert not over, f"modules over {MAX_LINES} lines (split them): {over}"


def test_the_line_limit_allow_list_only_shrinks():
    counts = _product_line_counts()
    done = sorted(path for path in OVER_MAX_LINES if counts.get(path, 0) <= MAX_LINES)
    assert not done, f"now within {MAX_LINES} lines or gone: remove from OVER_MAX_LINES: {done}"


#: Where SQL may be built and run; the packages checked for it elsewhere.
SQL_HOME = ROOT / "engine" / "db"
SQL_CHECKED = ("api", "easypay", "engine", "jobs", "schedules", "workers")
SQL_BUILDERS = frozenset({"select", "insert", "update", "delete", "text"})


def _sql_uses(source: str) -> list[str]:
    """Where ``source`` builds or runs SQL: a statement builder imported from any ``sqlalchemy``
    module or reached through one (``sa.select``), or a call of ``.execute(...)`` with a statement,
    or ``.exec_driver_sql(...)``. A Redis pipeline's ``execute()`` takes no statement: not SQL."""
    tree = ast.parse(source)
    aliases: set[str] = set()
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "sqlalchemy":
            found += [f"line {node.lineno}: imports {a.name} from {node.module}" for a in node.names if a.name in SQL_BUILDERS]
        elif isinstance(node, ast.Import):
            aliases.update(a.asname or "sqlalchemy" for a in node.names if a.name.split(".")[0] == "sqlalchemy")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in SQL_BUILDERS:
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in aliases:
                found.append(f"line {node.lineno}: uses {root.id}...{node.attr}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            statement = node.args or any(k.arg == "statement" for k in node.keywords)
            if node.func.attr == "exec_driver_sql" or node.func.attr == "execute" and statement:
                found.append(f"line {node.lineno}: calls .{node.func.attr}(...)")
    return sorted(found, key=lambda use: int(use.split()[1].rstrip(":")))


SQL_CHECKED_FILES = [path for path in _files(*SQL_CHECKED) if not path.is_relative_to(SQL_HOME)]


def test_sql_is_built_and_run_only_in_engine_db():
    wrong = {str(path.relative_to(ROOT)): uses for path in SQL_CHECKED_FILES if (uses := _sql_uses(path.read_text()))}
    assert not wrong, "SQL outside engine/db (move it into a repository there):\n" + "\n".join(
        f"{path}: {'; '.join(uses)}" for path, uses in sorted(wrong.items())
    )


def test_the_sql_check_sees_builders_and_statements():
    """It can fail: each way of building or running SQL is seen, a Redis pipeline is not."""
    assert SQL_CHECKED_FILES and not any(path.is_relative_to(SQL_HOME) for path in SQL_CHECKED_FILES)
    assert len(_sql_uses((ROOT / "engine" / "db" / "payments.py").read_text())) > 5
    for source in (
        "from sqlalchemy import func, update",
        "from sqlalchemy.dialects.postgresql import insert",
        "import sqlalchemy as sa\nq = sa.select(t)",
        "import sqlalchemy.sql\nq = sqlalchemy.sql.expression.text('x')",
        "async def f(conn, q):\n    await conn.execute(q)",
        "async def f(conn):\n    await conn.exec_driver_sql('SELECT 1')",
    ):
        assert len(_sql_uses(source)) == 1, source
    for source in (
        "from sqlalchemy import func, tuple_\nfrom sqlalchemy.ext.asyncio import AsyncConnection",
        "import sqlalchemy.exc as sa_errors\nE = sa_errors.DBAPIError",
        "async def f(pipe):\n    await pipe.execute()\n    pipe.execute(raise_on_error=False)",
        "changes.update(x)\nselect = 1",
    ):
        assert _sql_uses(source) == [], source


_REDIS_KEY_RE = re.compile(r"""f["']\{[A-Za-z_.]*prefix\}:""")


def test_redis_keys_are_built_only_in_engine_redis_keys():
    builders = {
        str(path.relative_to(ROOT))
        for path in _files(*PRODUCT)
        if path != ROOT / "engine" / "redis_keys.py" and _REDIS_KEY_RE.search(path.read_text())
    }
    assert not builders, f"Redis keys built outside engine/redis_keys.py: {sorted(builders)}"


def test_the_redis_key_check_sees_a_key_being_built():
    assert _REDIS_KEY_RE.search('return f"{self._prefix}:payment:{payment_id}"')
    assert not _REDIS_KEY_RE.search('f"{cfg.env_prefix}_THREADS"')
