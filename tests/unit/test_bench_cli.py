"""The benchmark command parses, sizes itself and judges its own results (nothing heavy runs here;
`make bench-smoke` in CI runs every benchmark)."""

from __future__ import annotations

import ast
import importlib
import math
from pathlib import Path

import pytest

from bench import run
from bench.common import Row, Sizes, pool_shape, table

BENCH_DIR = Path(run.__file__).resolve().parent


def test_defaults_run_every_benchmark_at_full_size() -> None:
    args = run.parser().parse_args([])
    assert args.only == list(run.BENCHMARKS)
    sizes = run.sizes_from(args)
    assert (sizes.backlog, sizes.lookup_large, sizes.pools) == (5_000, 1_000_000, ["1x8", "2x8", "2x16"])


def test_smoke_is_tiny_and_options_override_it() -> None:
    sizes = run.sizes_from(run.parser().parse_args(["--smoke", "--backlog", "70", "--pools", "1x4", "--latency-ms", "0"]))
    assert sizes.backlog == 70 and sizes.pools == ["1x4"] and sizes.latency_ms == 0
    assert sizes.lookup_large <= 1_000 and sizes.burst < Sizes().burst and sizes.rounds == 1


def test_unknown_benchmark_is_refused() -> None:
    with pytest.raises(SystemExit):
        run.parser().parse_args(["--only", "nonsense"])


def test_every_benchmark_module_has_a_run_function() -> None:
    for name in run.BENCHMARKS:
        assert callable(run._module(name))


def test_problems_flags_failures_missing_and_non_numbers() -> None:
    good = Row("s", "m", 1.0, "ms")
    assert run.problems({"a": [good]}) == []
    found = run.problems({"a": "RuntimeError: boom", "b": [], "c": [good, Row("s", "nan one", math.nan, "ms")]})
    assert found == ["a: RuntimeError: boom", "b: no figures", "c: nan one is nan"]


def test_table_shows_value_baseline_ratio_and_target() -> None:
    text = table([Row("accept", "req/s", 300.0, "req/s", "bare", 1000.0, "≥ 0.30×"), Row("x", "alone", 2.5, "ms")])
    assert "| accept | req/s | 300 req/s | bare | 1,000 | 0.30× | ≥ 0.30× |" in text
    assert "| x | alone | 2.50 ms |  |  |  |  |" in text


def test_pool_shape() -> None:
    assert pool_shape("2x16") == (2, 16)
    with pytest.raises(ValueError):
        pool_shape("0x8")


def test_bench_imports_nothing_from_the_tests() -> None:
    for path in BENCH_DIR.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("tests"), f"{path.name} imports {node.module}"
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("tests") for a in node.names), path.name
        if path.stem != "noop_actor":  # it installs a global broker when imported
            importlib.import_module(f"bench.{path.stem}")
