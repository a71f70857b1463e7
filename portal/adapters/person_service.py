"""The person service adapter (PU-tjänsten): names, protected identity, deceased.

The embedded default reads the local `persons` table. It can be told to fail or to be slow (in
tests and in the demo: `PERSON_SERVICE_MODE=fail|slow`), and callers must fail closed: when it
raises PersonServiceUnavailable, nothing about patients is shown.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterable

from sqlalchemy import select

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
    def __init__(self, session_factory, mode: str = "ok", timeout: float = 2.0, slow_seconds: float = 5.0):
        self._session_factory = session_factory
        self.mode = mode  # ok | fail | slow
        self.timeout = timeout
        self.slow_seconds = slow_seconds

    def lookup(self, pnrs: Iterable[str]) -> dict[str, PersonInfo]:
        """The persons known for these numbers; unknown numbers are absent from the answer."""
        if self.mode == "fail":
            raise PersonServiceUnavailable("person service is down (PERSON_SERVICE_MODE=fail)")
        if self.mode == "slow":
            time.sleep(min(self.slow_seconds, self.timeout))
            if self.slow_seconds >= self.timeout:
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
