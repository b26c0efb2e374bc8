"""The settings loader: variables, defaults and bounds come from the fields' annotations; errors
name the variable; every variable is documented and every variable the product reads is declared."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import pytest

from engine.settings import POOLS, PoolSettings, from_env
from engine.settings_from_env import all_variables, load_settings
from engine.settings_loader import SettingsError, section, variables

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("api", "easypay", "engine", "jobs", "migrations", "sandbox", "schedules", "workers")

#: Variables the product reads or sets that are not settings, and why.
NOT_SETTINGS = {
    "PROMETHEUS_MULTIPROC_DIR": "prometheus_client's own; easypay web and worker set it for their processes",
    "dramatiq_prom_db": "Dramatiq's Prometheus middleware's own; set by easypay worker",
    "dramatiq_prom_host": "the same",
    "dramatiq_prom_port": "the same",
    "dramatiq_worker_timeout": "Dramatiq's own; set by easypay worker from <PREFIX>_POLL_TIMEOUT_MS",
    "dramatiq_queue_prefetch": "Dramatiq's own; set by easypay worker from <PREFIX>_PREFETCH",
    "EASYPAY_POOL": "handed by easypay worker to its processes (which pool they are)",
    "EASYPAY_POOL_QUEUES": "the same (the queues they consume)",
    "EASYPAY_WORKER_SLOT": "the same (which slot of the pool)",
    "EASYPAY_USER_PASSWORD": "an option of easypay users create (click's envvar), not a process setting",
    "XDG_STATE_HOME": "the operating system's: where the development key goes by default",
    "PATH": "the operating system's",
    "PYTHONUNBUFFERED": "Python's; easypay dev sets it for its children",
}


@dataclass(frozen=True)
class Sample:
    count: Annotated[int, from_env("SAMPLE_COUNT", ge=1, le=10)] = 3
    ratio: Annotated[float, from_env("SAMPLE_RATIO", ge=0, le=1)] = 0.5
    names: Annotated[tuple[str, ...], from_env("SAMPLE_NAMES")] = ()
    on: Annotated[bool, from_env("SAMPLE_ON")] = False
    mode: Annotated[Literal["fast", "safe"], from_env("SAMPLE_MODE")] = "safe"
    token: Annotated[str, from_env("SAMPLE_TOKEN", min_length=8)] | None = field(default=None, repr=False)
    fixed: int = 7


def test_a_default_applies_when_the_variable_is_unset_or_empty():
    assert section(Sample, {}) == Sample()
    assert section(Sample, {"SAMPLE_COUNT": "", "SAMPLE_NAMES": "  "}) == Sample()
    assert load_settings({}).database.pool_size == load_settings({"DATABASE_POOL_SIZE": ""}).database.pool_size == 10


def test_values_are_converted_by_type():
    loaded = section(Sample, {"SAMPLE_COUNT": " 9 ", "SAMPLE_RATIO": "0.25", "SAMPLE_NAMES": "a, b,,c", "SAMPLE_ON": "yes",
                              "SAMPLE_MODE": "FAST", "SAMPLE_TOKEN": "12345678", "fixed": "1"})
    assert loaded == Sample(count=9, ratio=0.25, names=("a", "b", "c"), on=True, mode="fast", token="12345678")
    assert [section(Sample, {"SAMPLE_ON": word}).on for word in ("1", "true", "On", "0", "false", "off", "NO")] == [True] * 3 + [False] * 4
    assert load_settings({"DATABASE_POOL_SIZE": "25"}).database.pool_size == 25


@pytest.mark.parametrize(
    "env,message",
    [
        ({"SAMPLE_COUNT": "11"}, "SAMPLE_COUNT must be an integer between 1 and 10, got '11'"),
        ({"SAMPLE_COUNT": "many"}, "SAMPLE_COUNT must be an integer between 1 and 10, got 'many'"),
        ({"SAMPLE_RATIO": "-0.5"}, "SAMPLE_RATIO must be a number between 0 and 1, got '-0.5'"),
        ({"SAMPLE_ON": "maybe"}, "SAMPLE_ON must be true or false, got 'maybe'"),
        ({"SAMPLE_MODE": "slow"}, "SAMPLE_MODE must be fast or safe, got 'slow'"),
        ({"SAMPLE_TOKEN": "short"}, "SAMPLE_TOKEN must be at least 8 characters"),  # out of the repr: not shown
    ],
)
def test_a_bad_value_names_its_variable_and_what_it_must_be(env, message):
    with pytest.raises(SettingsError) as caught:
        section(Sample, env)
    assert str(caught.value) == message


def test_bounds_and_types_of_the_real_settings_name_the_variable():
    with pytest.raises(SettingsError, match=r"^DATABASE_POOL_SIZE must be an integer between 1 and 200, got '201'$"):
        load_settings({"DATABASE_POOL_SIZE": "201"})
    with pytest.raises(SettingsError, match=r"^WEBHOOK_RETRY_JITTER must be a number between 0 and 0.9, got 'lots'$"):
        load_settings({"WEBHOOK_RETRY_JITTER": "lots"})
    with pytest.raises(SettingsError, match=r"^WEBHOOKS_THREADS must be an integer between 1 and 256, got '0'$"):
        load_settings({"WEBHOOKS_THREADS": "0"})
    with pytest.raises(SettingsError, match=r"^EASYPAY_DASHBOARD_SESSION_TTL_S must be an integer between 60 and 2592000"):
        load_settings({"EASYPAY_DASHBOARD_SESSION_TTL_S": "59"})
    assert load_settings({}).access.dashboard_session_ttl_s == 8 * 3600


def test_a_url_with_a_password_is_not_shown_in_its_error():
    with pytest.raises(SettingsError) as caught:
        load_settings({"DATABASE_URL": "mysql://app:hunter2-db@db/easypay"})
    assert str(caught.value) == "DATABASE_URL must be a URL with scheme postgresql+asyncpg"


def test_each_pool_reads_its_own_prefix():
    assert variables(PoolSettings, "RECOVERY")["threads"] == "RECOVERY_THREADS"
    pools = load_settings({"WEBHOOKS_QUEUES": "webhooks, extra", "WORKER_SHUTDOWN_TIMEOUT_S": "5"}).pools
    assert pools["webhooks"].queues == ("webhooks", "extra") and pools["webhooks"].threads == 32
    assert pools["payments"].shutdown_timeout_s == 5 and pools["scheduler"].shutdown_timeout_s == 30
    with pytest.raises(SettingsError, match="^WORKER_QUEUES must be a comma-separated list of queue names"):
        load_settings({"WORKER_QUEUES": "pay ments"})


def _documentation() -> str:
    return "\n".join(path.read_text() for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])


def test_every_variable_is_documented():
    text = _documentation()
    pool_prefixes = "|".join(pool["env_prefix"] for pool in POOLS.values())
    missing = []
    for name in sorted(all_variables()):
        generic = re.sub(rf"^({pool_prefixes})_", "<PREFIX>_", name)  # a pool's: `<PREFIX>_THREADS` covers them all
        if f"`{name}`" not in text and f"`{generic}`" not in text:
            missing.append(name)
    assert not missing, f"not in README.md or docs/: {missing}"


def _constants(tree: ast.Module) -> dict[str, str]:
    return {
        target.id: node.value.value
        for node in tree.body if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
        for target in node.targets if isinstance(target, ast.Name)
    }


def _is_environ(node: ast.expr) -> bool:
    """``os.environ``, or a mapping named ``env``/``environ`` (what the product passes the environment as)."""
    if isinstance(node, ast.Attribute):
        return node.attr == "environ"
    return isinstance(node, ast.Name) and node.id in ("env", "environ")


def _environment_reads(path: Path) -> set[str]:
    """The variables a module reads or sets by name: ``os.environ[...]``, ``env.get(...)``,
    ``os.getenv(...)``, and every ``EASYPAY_*`` string in it."""
    tree = ast.parse(path.read_text())
    constants = _constants(tree)

    def name_of(node: ast.expr) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        return constants.get(node.id) if isinstance(node, ast.Name) else None

    found: set[str | None] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and _is_environ(node.value):
            found.add(name_of(node.slice))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.func, ast.Attribute):
            if (node.func.attr in ("get", "pop", "setdefault") and _is_environ(node.func.value)) or node.func.attr == "getenv":
                found.add(name_of(node.args[0]))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and re.fullmatch(r"EASYPAY_[A-Z0-9_]+", node.value):
            found.add(node.value)
    return {name for name in found if name}


def test_every_variable_the_product_reads_is_a_declared_setting():
    declared = all_variables()
    stray = {}
    for path in sorted(p for package in PRODUCT for p in (ROOT / package).rglob("*.py")):
        for name in _environment_reads(path) - declared - NOT_SETTINGS.keys():
            stray[name] = str(path.relative_to(ROOT))
    assert not stray, f"read by hand, not declared in engine/settings.py: {stray}"


def test_the_scan_sees_reads_by_hand(tmp_path):
    module = tmp_path / "reader.py"
    module.write_text('import os\nNAME = "EASYPAY_SOMETHING_NEW"\nos.environ.get(NAME)\nos.getenv("OTHER")\nos.environ["THIRD"]\n')
    assert _environment_reads(module) == {"EASYPAY_SOMETHING_NEW", "OTHER", "THIRD"}
