"""Alert rules pass promtool (syntax and unit tests), the scrape config is valid, the dashboard
JSON is what ops/grafana/dashboard.py builds, and compose mounts them."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

OPS = ROOT / "ops"
RULES = OPS / "prometheus" / "alerts.yml"


@pytest.fixture(scope="module")
def promtool() -> str:
    """promtool must be installed where tests run: `make test` installs it (scripts/ensure-promtool)."""
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is not installed: run `make test` (it installs Debian's `prometheus` package) "
                    "or `apt-get install prometheus`", pytrace=False)
    return path


def _run(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=60)


def test_alert_rules_pass_promtool_check(promtool):
    result = _run(promtool, "check", "rules", str(RULES), cwd=OPS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_alert_rules_fire_as_their_unit_tests_say(promtool):
    result = _run(promtool, "test", "rules", "alerts_test.yml", cwd=OPS / "prometheus")
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_rejects_a_broken_rule(promtool, tmp_path):
    """The check can fail: a rule with a PromQL syntax error is refused."""
    broken = tmp_path / "broken.yml"
    broken.write_text("groups:\n  - name: x\n    rules:\n      - alert: X\n        expr: sum(rate(easypay_http_requests_total[5m])\n")
    assert _run(promtool, "check", "rules", str(broken), cwd=tmp_path).returncode != 0


def test_prometheus_config_is_valid(promtool, tmp_path):
    config = yaml.safe_load((OPS / "prometheus" / "prometheus.yml").read_text())
    shutil.copy(RULES, tmp_path / "alerts.yml")
    config["rule_files"] = [str(tmp_path / "alerts.yml")]
    [api_job] = [job for job in config["scrape_configs"] if job["job_name"] == "easypay-api"]
    # The API job sends EASYPAY_OPS_TOKEN from the file compose mounts there.
    assert api_job["authorization"] == {"type": "Bearer", "credentials_file": "/etc/prometheus/ops-token"}
    (tmp_path / "ops-token").write_text("t" * 40)
    api_job["authorization"]["credentials_file"] = str(tmp_path / "ops-token")
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    result = _run(promtool, "check", "config", str(tmp_path / "prometheus.yml"), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert {job["job_name"] for job in config["scrape_configs"]} == {"easypay-api", "easypay-workers"}


def test_dashboard_json_is_generated_from_its_source():
    import importlib.util

    spec = importlib.util.spec_from_file_location("dashboard", OPS / "grafana" / "dashboard.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    committed = (OPS / "grafana" / "dashboards" / "easypay.json").read_text()
    assert committed == module.render(), "run: python ops/grafana/dashboard.py"
    rows = [p["title"] for p in json.loads(committed)["panels"] if p["type"] == "row"]
    assert rows == ["System", "API", "Queues", "Processor (Authorize.net)", "Webhooks", "Business"]


def test_compose_runs_prometheus_and_grafana_with_provisioning():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    prom_mounts = " ".join(services["prometheus"]["volumes"])
    assert services["prometheus"]["configs"] == [{"source": "ops_token", "target": "/etc/prometheus/ops-token"}]
    assert compose["configs"]["ops_token"]["content"] == "${EASYPAY_OPS_TOKEN:-}"
    assert "ops/prometheus/prometheus.yml" in prom_mounts and "ops/prometheus/alerts.yml" in prom_mounts
    grafana_mounts = " ".join(services["grafana"]["volumes"])
    assert "ops/grafana/provisioning" in grafana_mounts and "ops/grafana/dashboards" in grafana_mounts
    provider = yaml.safe_load((OPS / "grafana" / "provisioning" / "dashboards" / "easypay.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"


def test_compose_ships_no_secret_or_password_anyone_could_know():
    text = (ROOT / "docker-compose.yml").read_text()
    # The secret key and Grafana's password must come from the operator: compose refuses to start without
    for var in ("EASYPAY_SECRET_KEY", "GRAFANA_ADMIN_PASSWORD"):
        assert f"${{{var}:?" in text, var
    # and no secret-looking variable falls back to a value written here
    fallbacks = re.findall(r"\$\{(\w*(?:SECRET|PASSWORD|KEY)\w*):-([^}]*)\}", text)
    assert [(name, default) for name, default in fallbacks if default] == []


def test_compose_publishes_only_the_api_to_every_interface():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    published = {name: service.get("ports", []) for name, service in services.items() if service.get("ports")}
    assert published.pop("api") == ["8000:8000"]
    assert published and all(port.startswith("127.0.0.1:") for ports in published.values() for port in ports), published


def test_metrics_bind_loopback_unless_told_otherwise(tmp_path):
    from engine.settings_from_env import load_settings

    assert load_settings({"EASYPAY_DEV_SECRET_FILE": str(tmp_path / "key")}).metrics_host == "127.0.0.1"
