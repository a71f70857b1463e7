"""A PostgreSQL cluster of its own: initdb, start on a free port, restart, stop (and remove).

Used by the test run (conftest.py), the benchmarks (bench/) and `portal serve-production` without a
DATABASE_URL. Debian's PostgreSQL binaries; as root the cluster runs as the postgres user (initdb refuses
root).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

#: Fast and unsafe: for tests and throwaway benchmark data only (a crash loses the data).
FAST = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
#: PostgreSQL's own durable defaults (what `portal serve-production` uses, as production would).
DURABLE = ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_bin() -> Path | None:
    for version in ("17", "16", "15"):
        p = Path(f"/usr/lib/postgresql/{version}/bin")
        if (p / "initdb").exists():
            return p
    return None


class ThrowawayPostgres:
    """A cluster in `directory` (a new temporary one by default). `keep=True` leaves the data on stop,
    so a benchmark database survives between runs."""

    def __init__(self, directory: Path | None = None, port: int | None = None, keep: bool = False,
                 settings: str = FAST) -> None:
        self.bin = pg_bin()
        self.dir = Path(directory) if directory else Path(tempfile.mkdtemp(prefix="portal-pg-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.keep = keep
        self.settings = settings
        self.as_root = os.geteuid() == 0

    def _run(self, *args: str) -> None:
        if self.bin is None:
            raise RuntimeError("PostgreSQL is not installed (sudo apt-get install postgresql)")
        cmd = list(args)
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def _pg_ctl(self, *args: str) -> None:
        assert self.bin is not None
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), *args)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/portal"

    @property
    def _options(self) -> str:
        return f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} {self.settings}".strip()

    def start(self) -> str:
        if self.bin is None:
            raise RuntimeError("PostgreSQL is not installed (sudo apt-get install postgresql)")
        if self.as_root:
            shutil.chown(self.dir, "postgres", "postgres")
        data = self.dir / "data"
        fresh = not (data / "PG_VERSION").exists()
        if fresh:
            self._run(str(self.bin / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "--no-sync",
                      "-E", "UTF8", "--locale=C.UTF-8")
        self._pg_ctl("-l", str(self.dir / "log"), "-w", "start", "-o", self._options)
        if fresh:
            self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "portal")
        return self.url

    def restart(self, mode: str = "fast") -> None:
        """Stop the server (`mode`: fast ends every connection, immediate is a crash) and start it again."""
        self._pg_ctl("-l", str(self.dir / "log"), "-m", mode, "-w", "restart", "-o", self._options)

    def postmaster_pid(self) -> int | None:
        """The server's process id while it runs."""
        try:
            return int((self.dir / "data" / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> None:
        try:
            if self.bin is not None and (self.dir / "data" / "PG_VERSION").exists():
                self._pg_ctl("-m", "fast", "-w", "stop")
        finally:
            if not self.keep:
                shutil.rmtree(self.dir, ignore_errors=True)
