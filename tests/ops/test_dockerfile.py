"""The image, checked by reading (Docker does not run here) and by running its health check for real.

Multi-stage (compilers only in the build stage), the default command reachable from outside the
container (HOST=0.0.0.0), a HEALTHCHECK that really answers against a running API, every COPY
source present, and compose turning the image's API probe off for services that are not the API.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import yaml

from tests.conftest import ROOT, free_port, stop, wait_for_http

#: Continuation lines joined, as Docker reads them.
DOCKERFILE = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")


def _stages() -> list[str]:
    return re.split(r"(?m)^FROM ", DOCKERFILE)[1:]


def test_the_running_stage_has_no_build_tools_and_listens_on_every_interface():
    stages = _stages()
    assert len(stages) == 2, "a build stage and a runtime stage"
    build, runtime = stages
    assert "build-essential" in build and "build-essential" not in runtime and "apt-get" not in runtime
    assert re.search(r"(?m)^ENV .*\bHOST=0\.0\.0\.0\b", runtime), "docker run -p 8000:8000 must reach the API"
    assert 'CMD ["easypay", "web"]' in runtime
    for source in re.findall(r"(?m)^COPY (?!--from)(.+) \S+$", DOCKERFILE):
        for path in source.split():
            assert (ROOT / path).exists(), f"COPY {path}: missing from the repository"


def test_the_images_health_check_passes_against_a_running_api_and_fails_without_one(test_env, database, redis_clean, log_dir):
    command = json.loads(re.search(r"(?m)^HEALTHCHECK .*? CMD (\[.*\])$", DOCKERFILE).group(1))
    assert command[0] == "python"
    port = free_port()
    env = {**test_env, "PORT": str(port), "HOST": "0.0.0.0"}
    probe = [sys.executable, *command[1:]]
    assert subprocess.run(probe, env=env, capture_output=True, timeout=30).returncode != 0, "nothing listens yet"
    with open(log_dir / "web-healthcheck.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "easypay.cli", "web"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/health/live", proc=proc)
        done = subprocess.run(probe, env=env, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
    finally:
        stop(proc, timeout_s=15)


def test_compose_keeps_the_api_probe_on_the_api_only():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for name in ("worker", "webhooks", "recovery", "scheduler", "migrate"):
        assert services[name]["healthcheck"] == {"disable": True}, name
    assert "/health/live" in " ".join(services["api"]["healthcheck"]["test"])
    assert "/_sandbox/health" in " ".join(services["sandbox"]["healthcheck"]["test"])
