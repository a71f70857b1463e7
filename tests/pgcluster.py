"""A PostgreSQL cluster of the test run's (or a benchmark's) own: initdb, start on a free port, stop.

Debian's PostgreSQL binaries; as root the cluster runs as the postgres user (initdb refuses root).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


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
                 settings: str = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off") -> None:
        self.bin = pg_bin()
        self.dir = Path(directory) if directory else Path(tempfile.mkdtemp(prefix="portal-pg-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.keep = keep
        self.settings = settings
        self.as_root = os.geteuid() == 0

    def _run(self, *args: str) -> None:
        cmd = list(args)
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/portal"

    def start(self) -> str:
        if self.as_root:
            shutil.chown(self.dir, "postgres", "postgres")
        data = self.dir / "data"
        fresh = not (data / "PG_VERSION").exists()
        if fresh:
            self._run(str(self.bin / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "--no-sync",
                      "-E", "UTF8", "--locale=C.UTF-8")
        self._run(str(self.bin / "pg_ctl"), "-D", str(data), "-l", str(self.dir / "log"), "-w", "start", "-o",
                  f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} {self.settings}")
        if fresh:
            self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "portal")
        return self.url

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "fast", "-w", "stop")
        finally:
            if not self.keep:
                shutil.rmtree(self.dir, ignore_errors=True)
