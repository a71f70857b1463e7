"""The production topology on one machine: `portal serve-production` (`make run-production`).

    portal serve-production [--processes N] [--workers M] [--port 5000]      Ctrl-C or SIGTERM stops it

One command starts what production runs, with the same code and settings, and stops it cleanly:

- the database: `DATABASE_URL` (PostgreSQL) if set, else a throwaway PostgreSQL cluster of its own
  (portal/pgcluster.py) that is removed at the end; the schema is upgraded once (not by every process);
- on the throwaway database only, the local stand-ins for the outside world: the small demo data set (if the
  database is empty), the embedded test broker, and the recipient simulator in a process of its own (as
  Försäkringskassan would be: its slow answers never hold an app process), with the fault switches
  `PERSON_SERVICE_MODE_FILE` and `RECIPIENT_SIMULATOR_CONTROL_FILE` for bench/faults.py;
- gunicorn with N worker processes (`gunicorn.conf.py` is read by gunicorn itself), the in-process delivery
  thread off (`OUTBOX_WORKER_EMBEDDED=0`);
- M delivery workers (`portal worker`), each its own process.

It waits for /readyz, prints the address and the process ids, and then supervises: a delivery worker (or
the simulator, or gunicorn's master) that dies unexpectedly is started again, and says so. Ctrl-C or SIGTERM
stops the delivery workers first with SIGTERM (each finishes the send it is posting and releases the rest of
its batch), then gunicorn with SIGTERM (it finishes the requests in flight), then the simulator, then the
throwaway PostgreSQL, and removes the cluster and the run folder.

With `DATABASE_URL` the environment is used as it is (`PORTAL_ENV=production` with its strict checks: no
test broker, no simulator, no demo data); only `PORTAL_AUTO_MIGRATE=0` and `OUTBOX_WORKER_EMBEDDED=0` are
set for the processes, since this command migrates once and the workers deliver. `--print-config` shows
what each kind of process gets (secrets hidden) and starts nothing.
"""
from __future__ import annotations

import ctypes
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Callable

import click

from .config import ROOT
from .pgcluster import DURABLE, ThrowawayPostgres, free_port, pg_bin

#: The settings the throwaway PostgreSQL runs with (PostgreSQL's durable defaults, room for the pools).
PG_SETTINGS = f"{DURABLE} -c max_connections=300".strip()
SECRET_NAMES = ("SECRET_KEY", "PDL_CHAIN_KEY", "PDL_CHECKPOINT_KEY", "DATABASE_URL")
QUICK_DEATH = 5.0  # seconds: a process that dies this soon after its start is crash-looping
GIVE_UP_AFTER = 10  # crash-loop restarts in a row before the whole topology stops


@dataclass
class Plan:
    """What to start."""

    processes: int = 2  # gunicorn worker processes
    workers: int = 1  # delivery worker processes
    threads: int = 4  # threads per gunicorn process (gthread when > 1)
    host: str = "127.0.0.1"
    port: int = 5000
    database_url: str | None = None  # None: a throwaway PostgreSQL cluster
    demo_data: str | None = "small"  # loaded if the database holds no certificates (throwaway only by default)
    migrate: bool = True
    pg_settings: str = PG_SETTINGS
    log: IO[str] | None = None  # where the children's output goes (default: this process's stdout/stderr)
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))

    @property
    def throwaway(self) -> bool:
        return self.database_url is None

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"


class TopologyError(click.ClickException):
    pass


class Child:
    """One supervised process (its own session, so a terminal's Ctrl-C reaches only the supervisor)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: IO[str] | None):
        self.name, self.argv, self.env, self.log = name, argv, env, log
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0
        self.restarts = 0
        self.quick_deaths = 0
        self.terminating = False

    def start(self) -> Child:
        self.terminating = False
        self.proc = subprocess.Popen(self.argv, cwd=ROOT, env=self.env, start_new_session=True,
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
                                     preexec_fn=_die_with_parent)
        self.started_at = time.monotonic()
        return self

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def exited(self) -> int | None:
        """The exit code once it has ended (negative: the signal), else None."""
        return self.proc.poll() if self.proc else None

    def terminate(self) -> None:
        """SIGTERM, once (a second one could reach a Python process after it has restored the default handler
        on its way out, and end it by the signal)."""
        if self.proc is not None and self.proc.poll() is None and not self.terminating:
            self.terminating = True
            self.proc.send_signal(signal.SIGTERM)

    def stop(self, timeout: float) -> int | None:
        """SIGTERM, then SIGKILL after `timeout` seconds; every process left in its group goes too."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        _kill_group(self.proc.pid)
        return self.proc.returncode


_prctl: Callable[..., int] | None
try:  # resolved here, not in the child: nothing may import between fork and exec
    _prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl
except (OSError, AttributeError):  # pragma: no cover - not Linux
    _prctl = None


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the child gets SIGTERM if the supervisor is killed (strictly: if the thread that started it ends),
    so nothing is left running behind a supervisor that is gone."""
    if _prctl is not None:
        _prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def children_of(pid: int) -> list[int]:
    """The process ids whose parent is `pid` (gunicorn's worker processes, for its master)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1 and fields[1] == str(pid):
            found.append(int(entry.name))
    return sorted(found)


def alive(pid: int) -> bool:
    """Whether a process with this id exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def http_status(url: str, timeout: float = 2.0) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - our own loopback address
            return response.status
    except urllib.error.HTTPError as err:
        return err.code
    except (OSError, ValueError):
        return None


class Topology:
    """The processes of one `portal serve-production`: start(), then supervise() until stop()."""

    def __init__(self, plan: Plan, say: Callable[[str], None] | None = None):
        self.plan = plan
        self.say = say or _say
        self.pg: ThrowawayPostgres | None = None
        self.run_dir: Path | None = None
        self.database_url = plan.database_url
        self.sim_port: int | None = None
        self.app: Child | None = None
        self.simulator: Child | None = None
        self.workers: list[Child] = []
        self.events: list[str] = []  # what the supervisor did (restarts), for the scripts that drive it
        self._stopping = threading.Event()
        self._stopped = False
        self._supervising = threading.Lock()  # stop() never races a restart (supervise may run in a thread)
        self._secrets: dict[str, str] = {}  # the throwaway run's keys (unless the environment has them)

    # --- configuration -------------------------------------------------------------------------------

    def check(self) -> None:
        env = self.plan.env
        production = env.get("PORTAL_ENV", "development") == "production"
        if self.plan.throwaway and production:
            raise TopologyError("PORTAL_ENV=production needs DATABASE_URL (PostgreSQL): production never runs on a "
                                "throwaway database. Unset PORTAL_ENV to try the topology on one.")
        if not self.plan.throwaway and not str(self.plan.database_url).startswith("postgresql"):
            raise TopologyError("DATABASE_URL must be PostgreSQL (postgresql+psycopg://...): several processes "
                                "share the database.")
        if self.plan.demo_data and production:
            raise TopologyError("No demo data in production: leave out --demo-data.")
        if self.plan.throwaway and pg_bin() is None:
            raise TopologyError("PostgreSQL is not installed (sudo apt-get install postgresql), or set DATABASE_URL.")
        if self.plan.processes < 1 or self.plan.workers < 0 or self.plan.threads < 1:
            raise TopologyError("--processes and --threads must be at least 1, --workers at least 0.")

    def environment(self) -> dict[str, str]:
        """The environment of the app processes and the delivery workers."""
        plan, env = self.plan, dict(self.plan.env)
        env.update(PORTAL_AUTO_MIGRATE="0", OUTBOX_WORKER_EMBEDDED="0", PYTHONUNBUFFERED="1")
        if self.database_url:
            env["DATABASE_URL"] = self.database_url
        if not plan.throwaway:
            env.setdefault("PUBLIC_BASE_URL", plan.url)
            return env
        run = self.run_dir or Path("<run folder>")
        sim = f"http://127.0.0.1:{self.sim_port or '<free port>'}/simulator"
        env.update(PORTAL_ENV="development", PUBLIC_BASE_URL=plan.url, TEST_BROKER_ENABLED="1",
                   RECIPIENT_SIMULATOR_ENABLED="0",
                   SESSION_COOKIE_SECURE="0", HSTS_SECONDS="0",
                   RECIPIENT_ENDPOINT_FK=f"{sim}/FK/intyg", RECIPIENT_ENDPOINT_TS=f"{sim}/TS/intyg",
                   PDL_CHECKPOINT_FILE=str(run / "pdl-checkpoints.log"),
                   PERSON_SERVICE_MODE_FILE=str(run / "person-service-mode"),
                   RECIPIENT_SIMULATOR_CONTROL_FILE=str(run / "recipient-simulator.json"))
        for name in ("SECRET_KEY", "PDL_CHAIN_KEY", "PDL_CHECKPOINT_KEY"):
            env.setdefault(name, self._secrets.setdefault(name, secrets.token_hex(32)))
        return env

    def simulator_environment(self) -> dict[str, str]:
        env = self.environment()
        env.update(RECIPIENT_SIMULATOR_ENABLED="1", PUBLIC_BASE_URL=f"http://127.0.0.1:{self.sim_port or 0}")
        return env

    def gunicorn_argv(self) -> list[str]:
        plan = self.plan
        return [sys.executable, "-m", "gunicorn", "--no-control-socket", "--workers", str(plan.processes),
                "--threads", str(plan.threads), "--bind", f"{plan.host}:{plan.port}", "portal:create_app()"]

    def simulator_argv(self) -> list[str]:
        threads = max(16, 8 * self.plan.workers)
        return [sys.executable, "-m", "gunicorn", "--no-control-socket", "--workers", "1", "--threads", str(threads),
                "--bind", f"127.0.0.1:{self.sim_port or '<free port>'}", "portal:create_app()"]

    @staticmethod
    def worker_argv() -> list[str]:
        return [sys.executable, "-m", "portal.cli", "worker"]

    def describe(self) -> str:
        """The plan and each kind of process's settings (secrets hidden): `--print-config`."""
        plan = self.plan
        base = self.environment()
        lines = [f"address:            {plan.url}",
                 f"database:           {'DATABASE_URL' if not plan.throwaway else 'a throwaway PostgreSQL cluster'}"
                 f"{'' if plan.throwaway else ' (' + _hide(str(plan.database_url)) + ')'}",
                 f"migrations:         {'upgraded once at start' if plan.migrate else 'not run (--no-migrate)'}",
                 f"demo data:          {plan.demo_data + ' if the database is empty' if plan.demo_data else 'none'}",
                 f"app:                gunicorn, {plan.processes} processes x {plan.threads} threads: "
                 + " ".join(self.gunicorn_argv()[1:]),
                 f"delivery workers:   {plan.workers} x " + " ".join(self.worker_argv()[1:])]
        if plan.throwaway:
            lines.append("recipient simulator: its own process (gunicorn, 1 process): " + " ".join(
                self.simulator_argv()[1:]))
        lines.append("settings of the app processes and the delivery workers:")
        keys = sorted(k for k in base if k.startswith(_SETTING_PREFIXES) or k in SECRET_NAMES)
        lines += [f"  {k}={'<hidden>' if k in SECRET_NAMES else base[k]}" for k in keys]
        return "\n".join(lines)

    # --- start, supervise, stop -------------------------------------------------------------------------

    def start(self) -> Topology:
        self.check()
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        plan = self.plan
        started = time.monotonic()
        if plan.throwaway:
            self.run_dir = Path(tempfile.mkdtemp(prefix="portal-production-"))
            self.pg = ThrowawayPostgres(settings=plan.pg_settings)
            self.database_url = self.pg.start()
            self.sim_port = free_port()
            self.say(f"PostgreSQL {self.pg.dir} on port {self.pg.port} (pid {self.pg.postmaster_pid()})")
        if plan.migrate:
            self._migrate()
        if plan.demo_data:
            self._demo_data()
        if plan.throwaway:
            self.simulator = Child("recipient simulator", self.simulator_argv(), self.simulator_environment(),
                                   plan.log).start()
        self.app = Child("gunicorn", self.gunicorn_argv(), self.environment(), plan.log).start()
        self.workers = [Child(f"delivery worker {i + 1}", self.worker_argv(), self.environment(), plan.log).start()
                        for i in range(plan.workers)]
        self._wait_ready(started)

    def _migrate(self) -> None:
        from . import db

        engine = db.make_engine(str(self.database_url))
        try:
            db.upgrade(engine)
        finally:
            engine.dispose()
        self.say("schema upgraded to the newest migration")

    def _demo_data(self) -> None:
        result = subprocess.run([sys.executable, "-m", "portal.cli", "demo-data", "--size", str(self.plan.demo_data),
                                 "--if-empty"], cwd=ROOT, env=self.environment(), capture_output=True, text=True)
        if result.returncode != 0:
            raise TopologyError("loading the demo data failed:\n" + result.stderr[-3000:])
        self.say(result.stdout.strip().replace("\n", "; "))

    def _wait_ready(self, started: float, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        targets = [f"{self.plan.url}/readyz"]
        if self.simulator is not None:
            targets.append(f"http://127.0.0.1:{self.sim_port}/healthz")
        while targets:
            if self._stopping.is_set():
                raise TopologyError("stopped while starting")
            if time.monotonic() > deadline:
                raise TopologyError(f"not ready after {timeout:.0f} s: {', '.join(targets)}")
            for child in [self.app, self.simulator, *self.workers]:
                if child is not None and child.exited() is not None:
                    raise TopologyError(f"{child.name} exited with {child.exited()} while starting")
            targets = [t for t in targets if http_status(t) != 200]
            if targets:
                time.sleep(0.2)
        self.say(f"ready in {time.monotonic() - started:.1f} s: {self.plan.url}/")
        self.say("processes: " + json.dumps(self.state()["pids"]))

    def gunicorn_workers(self) -> list[int]:
        return children_of(self.app.pid) if self.app and self.app.pid else []

    def state(self) -> dict:
        """What runs where: the address, the database, the folders and every process id."""
        return {
            "url": self.plan.url,
            "database_url": self.database_url,
            "run_dir": str(self.run_dir) if self.run_dir else None,
            "pg_dir": str(self.pg.dir) if self.pg else None,
            "simulator_url": f"http://127.0.0.1:{self.sim_port}" if self.simulator else None,
            "pids": {
                "gunicorn": self.app.pid if self.app else None,
                "gunicorn_workers": self.gunicorn_workers(),
                "delivery_workers": [w.pid for w in self.workers],
                "simulator": self.simulator.pid if self.simulator else None,
                "postgres": self.pg.postmaster_pid() if self.pg else None,
            },
        }

    def supervise_once(self) -> None:
        """Start again every supervised process that has died (not while stopping)."""
        with self._supervising:
            self._restart_the_dead()

    def _restart_the_dead(self) -> None:
        for child in [self.app, self.simulator, *self.workers]:
            if child is None or self._stopping.is_set():
                continue
            code = child.exited()
            if code is None:
                if time.monotonic() - child.started_at > QUICK_DEATH:
                    child.quick_deaths = 0
                continue
            lived = time.monotonic() - child.started_at
            child.quick_deaths = child.quick_deaths + 1 if lived < QUICK_DEATH else 0
            if child.quick_deaths >= GIVE_UP_AFTER:
                raise TopologyError(f"{child.name} keeps dying (exit {code}); stopping everything")
            old = child.pid
            _kill_group(old or 0)
            if child.quick_deaths:
                time.sleep(min(5.0, 0.5 * child.quick_deaths))
            child.restarts += 1
            child.start()
            message = (f"{child.name} (pid {old}) exited unexpectedly with {_exit_text(code)} after {lived:.1f} s; "
                       f"started again as pid {child.pid} (restart {child.restarts})")
            self.events.append(message)
            self.say(message)

    def supervise(self, interval: float = 0.5) -> None:
        """Until stop is asked for (request_stop, SIGTERM, Ctrl-C)."""
        while not self._stopping.wait(interval):
            self.supervise_once()

    def request_stop(self) -> None:
        self._stopping.set()

    def stop(self) -> None:
        """Delivery workers (SIGTERM: graceful), gunicorn (SIGTERM: graceful), the simulator, PostgreSQL; the
        throwaway cluster and the run folder are removed."""
        if self._stopped:
            return
        self._stopped = True
        with self._supervising:
            self._stopping.set()
        for worker in self.workers:  # all at once: each finishes its send and releases the rest of its batch
            worker.terminate()
        for worker in self.workers:
            code = worker.stop(timeout=30)
            self.say(f"{worker.name} (pid {worker.pid}) stopped: {_exit_text(code)}")
        if self.app is not None:
            self.say(f"gunicorn (pid {self.app.pid}) stopped: {_exit_text(self.app.stop(timeout=40))}")
        if self.simulator is not None:
            self.say(f"recipient simulator (pid {self.simulator.pid}) stopped: "
                     f"{_exit_text(self.simulator.stop(timeout=10))}")
        if self.pg is not None:
            try:
                self.pg.stop()
                self.say(f"PostgreSQL stopped; {self.pg.dir} removed")
            except subprocess.CalledProcessError as err:
                self.say(f"PostgreSQL did not stop cleanly: {err.stderr!r}")
                shutil.rmtree(self.pg.dir, ignore_errors=True)
        if self.run_dir is not None:
            shutil.rmtree(self.run_dir, ignore_errors=True)

    # --- the fault switches of the local stand-ins (throwaway only) ----------------------------------------

    def set_person_service(self, mode: str) -> None:
        """ok, fail or slow, for every process at once."""
        self._write(self.environment()["PERSON_SERVICE_MODE_FILE"], mode)

    def set_recipient(self, modes: dict[str, str], delay: float | None = None) -> None:
        """e.g. {"FK": "timeout"} with delay=30: the simulator records, then answers after 30 s."""
        control: dict[str, object] = dict(modes)
        if delay is not None:
            control["delay"] = delay
        self._write(self.environment()["RECIPIENT_SIMULATOR_CONTROL_FILE"], json.dumps(control))

    def _write(self, path: str, text: str) -> None:
        if not self.plan.throwaway:
            raise TopologyError("the fault switches exist only on the throwaway database's stand-ins")
        tmp = Path(path + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)


_SETTING_PREFIXES = ("PORTAL_", "OUTBOX_", "RECIPIENT_", "PERSON_SERVICE", "TEST_BROKER", "SESSION_", "HSTS_",
                     "PUBLIC_BASE_URL", "PDL_", "SEND_", "API_", "CITIZEN_OIDC_", "STAFF_OIDC_", "PROXY_COUNT",
                     "LOGIN_RATE")


def _hide(url: str) -> str:
    """A database URL without its password."""
    if "@" in url and ":" in url.split("@", 1)[0].split("//", 1)[-1]:
        scheme, rest = url.split("//", 1)
        user = rest.split("@", 1)[0].split(":", 1)[0]
        return f"{scheme}//{user}:***@{rest.split('@', 1)[1]}"
    return url


def _exit_text(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit {code}"


def _say(message: str) -> None:
    print(f"{datetime.now():%H:%M:%S} serve-production: {message}", flush=True)


@click.command("serve-production")
@click.option("--processes", "-p", type=int, default=2, show_default=True, help="gunicorn worker processes")
@click.option("--workers", "-w", type=int, default=1, show_default=True, help="delivery worker processes")
@click.option("--threads", type=int, default=4, show_default=True, help="threads per gunicorn process")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=5000, show_default=True)
@click.option("--demo-data", type=click.Choice(["small", "none"]), default=None,
              help="load the demo data set if the database is empty [default: small on the throwaway database, "
                   "none with DATABASE_URL]")
@click.option("--migrate/--no-migrate", default=True, show_default=True, help="upgrade the schema once at start")
@click.option("--log-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="the processes' output (default: this terminal)")
@click.option("--state-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="write the address, the database and every process id here (JSON) when ready")
@click.option("--print-config", is_flag=True, help="print what would run, with which settings, and exit")
def serve_production_command(processes: int, workers: int, threads: int, host: str, port: int,
                             demo_data: str | None, migrate: bool, log_file: Path | None, state_file: Path | None,
                             print_config: bool) -> None:
    """Run the production topology here: PostgreSQL (DATABASE_URL or a throwaway cluster), N gunicorn processes
    and M delivery workers, supervised; Ctrl-C or SIGTERM stops everything gracefully."""
    database_url = os.environ.get("DATABASE_URL") or None
    if demo_data is None:
        demo_data = "small" if database_url is None else "none"
    log = log_file.open("a", encoding="utf-8") if log_file else None
    topology = Topology(Plan(processes=processes, workers=workers, threads=threads, host=host, port=port,
                             database_url=database_url, demo_data=None if demo_data == "none" else demo_data,
                             migrate=migrate, log=log))
    if print_config:
        topology.check()
        click.echo(topology.describe())
        return
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: topology.request_stop())
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        topology.start()
        if state_file:  # written whole, then renamed: a reader never sees half of it
            partial = state_file.with_name(state_file.name + ".partial")
            partial.write_text(json.dumps(topology.state(), indent=2), encoding="utf-8")
            partial.replace(state_file)
        topology.say("Ctrl-C or SIGTERM stops everything")
        topology.supervise()
        topology.say("stopping")
    finally:
        topology.stop()
        if log:
            log.close()
    topology.say("stopped")
