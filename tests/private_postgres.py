"""A PostgreSQL cluster of a test's own (``initdb`` on a free port), to stop and start at will.

Tests that take PostgreSQL away use this, never the machine's shared server. The cluster runs as
the ``postgres`` system user when the suite runs as root (``initdb`` refuses root), with trust
authentication on 127.0.0.1 only, and is deleted when the test is done.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.conftest import free_port


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name) or name]
    return found[-1]


class PrivatePostgres:
    def __init__(self, *, primary: PrivatePostgres | None = None, replication_user: str = "replicator") -> None:
        """A new cluster (``initdb``), or with ``primary`` a streaming standby of it: a
        ``pg_basebackup -R`` copy (``standby.signal`` and ``primary_conninfo`` written for it)."""
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="easypay-pg-"))
        self.data = self.root / "data"
        self._as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as_postgres:
            shutil.chown(self.root, "postgres")
        if primary is None:
            self._run(_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        else:
            self._run(
                _bin("pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port), "-U", replication_user,
                "-D", str(self.data), "-R", "-X", "stream", "--checkpoint=fast", "--no-sync",
            )

    def allow_replication(self, user: str = "replicator") -> None:
        """A replication role, and a ``pg_hba.conf`` line letting it stream from 127.0.0.1 (reloaded)."""
        self.psql(f"CREATE ROLE {user} WITH REPLICATION LOGIN")
        with open(self.data / "pg_hba.conf", "r+") as hba:
            lines = hba.read()
            hba.seek(0)
            hba.write(f"host replication {user} 127.0.0.1/32 trust\n" + lines)
        self._run(_bin("pg_ctl"), "-D", str(self.data), "reload")

    def psql(self, sql: str, database: str = "postgres") -> str:
        """One statement's result, unaligned (``psql -Atc``)."""
        done = subprocess.run(
            [_bin("psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database, "-Atc", sql],
            check=True, capture_output=True, text=True, timeout=60,
        )
        return done.stdout.strip()

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def url(self, database: str) -> str:
        """What ``DATABASE_URL`` takes."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as_postgres, *args], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.root / "log"), "-w", "start")

    def stop(self) -> None:
        """Fast shutdown: open connections are cut, as in an outage."""
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        subprocess.run([*self._as_postgres, _bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)
