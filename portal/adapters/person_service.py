"""The person service adapter (PU-tjänsten): names, protected identity, deceased.

The embedded default reads the local `persons` table. It can be told to fail or to be slow (in
tests and in the demo: `PERSON_SERVICE_MODE=fail|slow`), and callers must fail closed: when it
raises PersonServiceUnavailable, nothing about patients is shown.

`PERSON_SERVICE_MODE_FILE` (development and tests only; production refuses it) names a file whose content
(`ok`, `fail` or `slow`) overrides the mode while the file exists, read again whenever it changes: one switch
for every process at once (`portal serve-production` and bench/faults.py use it).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Iterable

from sqlalchemy import select

from .. import observability
from ..db import one_of
from ..models import Person


class PersonServiceUnavailable(RuntimeError):
    """PU-tjänsten could not answer (down or too slow)."""


@dataclass(frozen=True)
class PersonInfo:
    personnummer: str
    given_name: str
    family_name: str
    protected: bool
    deceased: bool
    validation_person: bool

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"


class LocalPersonService:
    def __init__(self, session_factory, mode: str = "ok", timeout: float = 2.0, slow_seconds: float = 5.0,
                 mode_file: str | None = None):
        self._session_factory = session_factory
        self.mode = mode  # ok | fail | slow
        self.timeout = timeout
        self.slow_seconds = slow_seconds
        self.mode_file = mode_file
        self._file_seen: tuple[tuple[int, int], str | None] = ((-1, -1), None)  # the file last read: (stamp, mode)

    def current_mode(self) -> str:
        """`mode`, unless the mode file exists and names one (ok, fail, slow)."""
        if not self.mode_file:
            return self.mode
        try:
            stat = os.stat(self.mode_file)
        except OSError:
            return self.mode
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._file_seen[0]:
            try:
                with open(self.mode_file, encoding="utf-8") as f:
                    word = f.read().strip().lower()
            except OSError:
                word = ""
            self._file_seen = (stamp, word if word in ("ok", "fail", "slow") else None)
        return self._file_seen[1] or self.mode

    def lookup(self, pnrs: Iterable[str]) -> dict[str, PersonInfo]:
        """The persons known for these numbers; unknown numbers are absent from the answer."""
        mode = self.current_mode()
        if mode == "fail":
            observability.person_service_error("unavailable")
            raise PersonServiceUnavailable("person service is down (PERSON_SERVICE_MODE=fail)")
        if mode == "slow":
            time.sleep(min(self.slow_seconds, self.timeout))
            if self.slow_seconds >= self.timeout:
                observability.person_service_error("timeout")
                raise PersonServiceUnavailable("person service timed out")
        wanted = sorted(set(pnrs))
        found: dict[str, PersonInfo] = {}
        with self._session_factory() as s:
            for i in range(0, len(wanted), 1000):
                for p in s.execute(select(Person.personnummer, Person.given_name, Person.family_name,
                                          Person.protected, Person.deceased, Person.validation_person)
                                   .where(one_of(s, Person.personnummer, wanted[i:i + 1000]))):
                    found[p.personnummer] = PersonInfo(p.personnummer, p.given_name, p.family_name, p.protected,
                                                       p.deceased, p.validation_person)
        return found

    def one(self, pnr: str) -> PersonInfo | None:
        return self.lookup([pnr]).get(pnr)
