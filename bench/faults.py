"""Faults during load, each scripted, against the production topology (portal/topology.py) on this machine.

    .venv/bin/python -m bench.faults [--only kill-app,kill-worker,restart-postgres,slow-recipient,person-service]
                                     [--phase 30] [--concurrency 16] [--processes 3] [--workers 2]

Starts the topology (a throwaway PostgreSQL with the small demo data, gunicorn, delivery workers with a short
lease, OUTBOX_LEASE_SECONDS=8, and the recipient simulator in its own process) and drives it with bench/load.py's
clients. Each fault gets a phase of its own: --before seconds of load, the fault, load until the phase ends:

  kill-app          kill -9 one gunicorn worker process (gunicorn starts a new one)
  kill-worker       kill -9 a delivery worker while it is posting (the simulator is made to answer in 3 s, the
                    worker holding a connection to it is killed): the supervisor starts it again, and the sends it
                    had claimed go out when their lease ends, with the same idempotency key
  restart-postgres  pg_ctl restart -m fast (every connection of every process is cut)
  slow-recipient    the recipient answers only after 30 s for 20 s (RECIPIENT_TIMEOUT is 5 s: the worker gives up
                    while the recipient has the certificate; retried with backoff, the same key)
  person-service    the person service fails for 10 s, for every process at once (PERSON_SERVICE_MODE_FILE):
                    Rehabstöd answers 503 by design (fail closed), sends wait

For each it prints the errors the clients saw (by kind and cause) and the recovery time (from the fault until
the last failed request; for a fault that lasts, also from its end), and what recovered behind the scenes
(gunicorn's new worker, the delivery worker restarted, the sends caught up). Afterwards it checks: every send
delivered exactly once (none missing, none twice at the recipient), a PDL record for every patient shown to
staff and `portal pdl-verify`, no answer holding another user's data. Exit 1 if a check fails. Bounded: about
5 minutes with the defaults; loopback only.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from sqlalchemy import text

from bench.load import (
    Ledger,
    Load,
    Population,
    checks,
    cpu_line,
    cpu_snapshot,
    log_in,
    population,
    report,
    start_topology,
)
from portal.db import make_engine
from portal.topology import Topology, alive, children_of

FAULTS = ("kill-app", "kill-worker", "restart-postgres", "slow-recipient", "person-service")
LEASE_SECONDS = 8


@dataclass
class Outcome:
    fault: str
    started: float = 0.0  # seconds since the phase began
    ended: float = 0.0
    notes: list[str] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    recovery: float | None = None  # from the fault's start to the end of the last failed request
    after_end: float | None = None  # from the fault's end
    clock0: float = 0.0  # the phase's start (perf_counter)

    def now(self) -> float:
        return time.perf_counter() - self.clock0


class Faults:
    def __init__(self, topology: Topology, pop: Population, args):
        self.topology = topology
        self.pop = pop
        self.args = args
        self.engine = make_engine(str(topology.database_url))
        self.total = Ledger()
        self.rng = random.Random(args.seed)

    # --- the faults ---------------------------------------------------------------------------------

    def kill_app(self, out: Outcome) -> None:
        master = self.topology.app.pid if self.topology.app else None
        assert master is not None
        before = children_of(master)
        victim = self.rng.choice(before)
        os.kill(victim, signal.SIGKILL)
        t = time.monotonic()
        out.notes.append(f"killed gunicorn worker {victim} (kill -9) of {before}")
        while time.monotonic() - t < 30:
            now = children_of(master)
            if victim not in now and len(now) == len(before) and all(alive(p) for p in now):
                out.notes.append(f"gunicorn started worker {sorted(set(now) - set(before))} after "
                                 f"{time.monotonic() - t:.1f} s")
                return
            time.sleep(0.05)
        out.notes.append("gunicorn did not replace the worker in 30 s")

    def kill_worker(self, out: Outcome) -> None:
        """Make the recipient answer in 3 s, find the delivery worker with a connection open to it (mid-send:
        the recipient has recorded the delivery, the worker has not), kill -9 it."""
        topology = self.topology
        topology.set_recipient({"FK": "timeout", "TS": "timeout"}, delay=3)
        port = int(str(topology.sim_port))
        deadline = time.monotonic() + 20
        victim = None
        while victim is None and time.monotonic() < deadline:
            victim = next((w for w in topology.workers if w.pid and connected_to(w.pid, port)), None)
            time.sleep(0.05)
        if victim is None:
            topology.set_recipient({})
            out.notes.append("no delivery worker was posting within 20 s (no sends?)")
            return
        time.sleep(0.5)  # the simulator records at once and answers after 3 s: now it has it
        with self.engine.connect() as c:
            in_flight = c.execute(text(
                "SELECT s.id FROM sends s WHERE s.state = 'PENDING' AND s.idempotency_key IN "
                "(SELECT idempotency_key FROM sim_deliveries)")).scalars().all()
        pid = victim.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        killed_at = time.monotonic()
        out.started = out.ended = out.now()
        topology.set_recipient({})
        out.notes.append(f"killed {victim.name} {pid} (kill -9) while posting: the recipient had {len(in_flight)} "
                         "send(s) the worker had not heard back about")
        while time.monotonic() - killed_at < 10 and victim.pid == pid:
            time.sleep(0.1)
        out.notes.append(f"the supervisor started it again as {victim.pid} after {time.monotonic() - killed_at:.1f} s"
                         if victim.pid != pid else "the supervisor did not start it again in 10 s")
        while time.monotonic() - killed_at < 40:
            with self.engine.connect() as c:
                left = c.execute(text("SELECT count(*) FROM sends WHERE id = ANY(:ids) AND state <> 'DELIVERED'"),
                                 {"ids": list(in_flight)}).scalar_one() if in_flight else 0
            if not left:
                out.notes.append(f"the interrupted sends were delivered {time.monotonic() - killed_at:.1f} s after "
                                 f"the kill (lease {LEASE_SECONDS} s)")
                return
            time.sleep(0.25)
        out.notes.append(f"{left} interrupted sends not delivered 40 s after the kill")

    def restart_postgres(self, out: Outcome) -> None:
        pg = self.topology.pg
        assert pg is not None
        t = time.monotonic()
        pg.restart("fast")
        out.ended = out.now()
        out.notes.append(f"pg_ctl restart -m fast took {time.monotonic() - t:.1f} s (new postmaster "
                         f"{pg.postmaster_pid()})")

    def slow_recipient_start(self, out: Outcome) -> None:
        self.topology.set_recipient({"FK": "timeout", "TS": "timeout"}, delay=30)
        out.notes.append("the recipient records each delivery and answers after 30 s (RECIPIENT_TIMEOUT 5 s)")

    def slow_recipient_end(self, out: Outcome) -> None:
        self.topology.set_recipient({})

    def person_service_start(self, out: Outcome) -> None:
        self.topology.set_person_service("fail")
        out.notes.append("the person service fails, for every process")

    def person_service_end(self, out: Outcome) -> None:
        self.topology.set_person_service("ok")

    # --- a phase: load, the fault, load ---------------------------------------------------------------

    async def phase(self, name: str, inject: Callable[[Outcome], None], restore: Callable[[Outcome], None] | None,
                    lasting: float = 0.0) -> tuple[Outcome, Ledger]:
        ledger = Ledger()
        load = Load(self.topology.plan.url, self.pop, ledger, concurrency=self.args.concurrency,
                    seed=self.rng.randrange(1 << 30))
        out = Outcome(name)

        async def script() -> None:
            await asyncio.sleep(self.args.before)
            out.clock0 = ledger.started
            out.started = out.ended = out.now()  # an instant fault; inject may say when it really began and ended
            await asyncio.to_thread(inject, out)
            if restore is not None:
                await asyncio.sleep(max(0.0, lasting - (out.now() - out.started)))
                await asyncio.to_thread(restore, out)
                out.ended = out.now()

        await asyncio.gather(load.run(self.args.phase, 0, self.args.max_requests), script())
        failed = [r for r in ledger.results if r.error and r.at + r.latency >= out.started]
        out.errors = Counter(f"{r.kind}: {r.error}" for r in failed)
        if failed:
            last = max(r.at + r.latency for r in failed)
            out.recovery = last - out.started
            out.after_end = max(0.0, last - out.ended) if restore is not None else None
        else:
            out.recovery = 0.0
            out.after_end = 0.0 if restore is not None else None
        self.total.sent += ledger.sent
        self.total.shown |= ledger.shown
        self.total.leaks += ledger.leaks
        self.total.pdfs += ledger.pdfs[:5]
        return out, ledger

    def pending(self) -> int:
        with self.engine.connect() as c:
            return c.execute(text("SELECT count(*) FROM sends WHERE state = 'PENDING'")).scalar_one()

    def wait_for_deliveries(self, out: Outcome, limit: float) -> None:
        """After the phase (no more load): until no send is pending, at most `limit` s."""
        t = time.monotonic()
        while self.pending() and time.monotonic() - t < limit:
            time.sleep(0.5)
        left = self.pending()
        after = f"{time.monotonic() - t:.1f} s after the load stopped, {out.now() - out.ended:.1f} s after the fault"
        out.notes.append(f"outbox empty (every send delivered) {after}" if not left else
                         f"{left} sends still pending {after}")


def connected_to(pid: int, port: int) -> bool:
    """Whether the process has an established TCP connection to 127.0.0.1:port (Linux /proc)."""
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        return False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "01" and int(fields[2].rsplit(":", 1)[1], 16) == port and fields[9] in inodes:
                return True
    return False


def describe(out: Outcome) -> list[str]:
    lines = [f"== {out.fault}: fault at +{out.started:.1f} s" + (f", ended at +{out.ended:.1f} s"
                                                                  if out.ended - out.started > 1 else "")]
    lines += [f"   {n}" for n in out.notes]
    if out.errors:
        lines.append(f"   errors seen: {sum(out.errors.values())}: " + "; ".join(
            f"{k} x{v}" for k, v in out.errors.most_common()))
    else:
        lines.append("   errors seen: none")
    recovery = f"   recovery: {out.recovery:.1f} s from the fault to the last failed request"
    if out.after_end is not None and out.ended - out.started > 1:
        recovery += f" ({out.after_end:.1f} s after the fault ended)"
    lines.append(recovery if out.errors else "   recovery: nothing failed")
    return lines


def arguments(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", default=",".join(FAULTS), help="which faults, comma-separated")
    p.add_argument("--phase", type=float, default=30, help="seconds of load per fault")
    p.add_argument("--before", type=float, default=8, help="seconds of load before the fault")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--max-requests", type=int, default=20000, help="per phase")
    p.add_argument("--staff-sessions", type=int, default=6)
    p.add_argument("--processes", type=int, default=3)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args(argv)
    args.faults = [f for f in args.only.split(",") if f]
    unknown = set(args.faults) - set(FAULTS)
    if unknown:
        p.error(f"unknown faults {sorted(unknown)}; known: {', '.join(FAULTS)}")
    if args.phase > 120 or args.phase <= args.before:
        p.error("--phase must be longer than --before and at most 120 s")
    return args


async def run_faults(faults: Faults, names: list[str]) -> list[tuple[Outcome, Ledger]]:
    plan = {
        "kill-app": (faults.kill_app, None, 0.0),
        "kill-worker": (faults.kill_worker, None, 0.0),
        "restart-postgres": (faults.restart_postgres, None, 0.0),
        "slow-recipient": (faults.slow_recipient_start, faults.slow_recipient_end, 20.0),
        "person-service": (faults.person_service_start, faults.person_service_end, 10.0),
    }
    done = []
    for name in names:
        inject, restore, lasting = plan[name]
        print(f"\n--- {name}: {faults.args.phase:g} s of load, the fault after {faults.args.before:g} s", flush=True)
        out, ledger = await faults.phase(name, inject, restore, lasting)
        if name in ("slow-recipient", "kill-worker"):
            await asyncio.to_thread(faults.wait_for_deliveries, out, 90)
        for line in describe(out):
            print(line)
        requests = len(ledger.results)
        print(f"   load: {requests} requests in {faults.args.phase:g} s ({requests / faults.args.phase:.0f}/s)")
        done.append((out, ledger))
    return done


def main(argv=None) -> int:
    args = arguments(argv)
    print(f"starting the production topology: {args.processes} app processes x {args.threads} threads, "
          f"{args.workers} delivery workers, OUTBOX_LEASE_SECONDS={LEASE_SECONDS} (output in bench/out/production.log)")
    started = time.monotonic()
    topology = start_topology(args, {"OUTBOX_LEASE_SECONDS": str(LEASE_SECONDS)})
    try:
        database_url = str(topology.database_url)
        env = topology.environment()
        pop = population(database_url, args.staff_sessions)
        log_in(database_url, env["SECRET_KEY"], pop)
        print(f"users: {len(pop.citizens)} citizens, {len(pop.staff)} coordinator sessions; "
              f"{len(pop.sendable)} certificates that may be sent")
        faults = Faults(topology, pop, args)
        before = cpu_snapshot(topology)
        t0 = time.monotonic()
        done = asyncio.run(run_faults(faults, args.faults))
        print(f"\nCPU during the phases: {cpu_line(before, cpu_snapshot(topology), time.monotonic() - t0)[0]}")
        print("\nall phases together:")
        report([r for _, ledger in done for r in ledger.results], args.phase * len(done))
        if topology.events:
            print("supervisor: " + " | ".join(topology.events))
        print("\nchecks (after the workers caught up):")
        problems = checks(database_url, faults.total, env, wait=120)
        faults.engine.dispose()
        print("\nsummary:")
        for out, _ in done:
            print(f"  {out.fault:<17} errors {sum(out.errors.values()):>4}   recovery "
                  + (f"{out.recovery:5.1f} s" if out.errors else "    - (nothing failed)")
                  + (f" ({out.after_end:.1f} s after the fault ended)"
                     if out.errors and out.after_end is not None and out.ended - out.started > 1 else ""))
        print(f"took {time.monotonic() - started:.0f} s")
        print("\nall checks passed" if not problems else "\nCHECKS FAILED:\n  " + "\n  ".join(problems))
        return 0 if not problems else 1
    finally:
        topology.stop()


if __name__ == "__main__":
    sys.exit(main())
