"""`easypay web` on a port another process holds exits non-zero at once, with one clear line."""

from __future__ import annotations

import socket
import subprocess
import sys

from tests.conftest import ROOT, free_port


def test_web_on_a_busy_port_exits_at_once_with_one_line(test_env):
    port = free_port()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        # When: the API is started on the port the holder listens on
        done = subprocess.run(
            [sys.executable, "-m", "easypay.cli", "web", "--port", str(port)],
            cwd=ROOT, env=test_env, capture_output=True, text=True, timeout=30,
        )
    # Then: it exits non-zero (no hang), saying which address is taken and why, without a traceback
    assert done.returncode == 1, (done.returncode, done.stderr[-2000:])
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "in use" in done.stderr.lower()
    assert "Traceback" not in done.stderr
