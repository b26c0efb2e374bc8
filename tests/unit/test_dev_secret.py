"""Without EASYPAY_SECRET_KEY, development uses a random key kept in a file only its owner can read."""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import stat
from pathlib import Path
import subprocess
import sys

import pytest

from bench.harness import bench_environment
from engine.secret_key import PUBLISHED_KEYS
from engine.settings_from_env import SettingsError, load_settings
from tests.conftest import ROOT


def test_the_key_is_random_kept_owner_only_and_the_same_for_every_process(tmp_path, caplog):
    path = tmp_path / "state" / "dev-secret-key"
    with caplog.at_level(logging.WARNING, logger="engine.settings_from_env"):
        first = load_settings({"EASYPAY_DEV_SECRET_FILE": str(path)})
        second = load_settings({"EASYPAY_DEV_SECRET_FILE": str(path)})
    assert first.secret_key == second.secret_key
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert path.read_text().strip().encode() == first.secret_key
    # Said once: only the start that made the key warns
    warnings = [r for r in caplog.records if "EASYPAY_SECRET_KEY is not set" in r.getMessage()]
    assert len(warnings) == 1 and str(path) in warnings[0].getMessage()
    # Nothing anyone else can compute: not the old hash of uid and hostname, and another file differs
    guessable = hashlib.sha256(f"easypay-dev-secret:{os.getuid()}:{os.uname().nodename}".encode()).hexdigest().encode()
    assert first.secret_key != guessable
    other = load_settings({"EASYPAY_DEV_SECRET_FILE": str(tmp_path / "other")})
    assert other.secret_key != first.secret_key and len(other.secret_key) >= 64


def test_processes_starting_together_agree_on_one_key(tmp_path):
    path = tmp_path / "dev-secret-key"
    code = "from engine.settings_from_env import load_settings; import sys; print(load_settings({'EASYPAY_DEV_SECRET_FILE': sys.argv[1]}).secret_key.decode())"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path)], cwd=ROOT, stdout=subprocess.PIPE, text=True) for _ in range(6)]
    keys = {p.communicate(timeout=60)[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert keys == {path.read_text().strip()}


def test_a_file_that_holds_no_key_is_refused_with_its_name(tmp_path):
    path = tmp_path / "dev-secret-key"
    path.write_text("short")
    with pytest.raises(SettingsError, match="dev-secret-key"):
        load_settings({"EASYPAY_DEV_SECRET_FILE": str(path)})


def test_production_never_falls_back_to_a_development_key(tmp_path):
    with pytest.raises(SettingsError, match="EASYPAY_SECRET_KEY is required"):
        load_settings({"EASYPAY_ENV": "production", "EASYPAY_DEV_SECRET_FILE": str(tmp_path / "k")})
    assert not (tmp_path / "k").exists()


@pytest.mark.parametrize("key", sorted(PUBLISHED_KEYS) + ["s" * 40, "ab" * 20, "0123456789" * 4])
def test_production_refuses_published_and_low_entropy_keys(key):
    with pytest.raises(SettingsError, match="EASYPAY_SECRET_KEY"):
        load_settings({"EASYPAY_ENV": "production", "EASYPAY_SECRET_KEY": key})


def test_production_accepts_a_random_key_and_the_repository_keys_are_all_listed():
    key = secrets.token_urlsafe(32)
    assert load_settings({"EASYPAY_ENV": "production", "EASYPAY_SECRET_KEY": key}).secret_key == key.encode()
    # The benchmarks' key, printed in this repository, is among those production refuses
    assert bench_environment(8899, Path("/nonexistent"))["EASYPAY_SECRET_KEY"] in PUBLISHED_KEYS
