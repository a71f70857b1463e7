"""The clock. Tests and the demo move time with a FixedClock instead of sleeping."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Europe/Stockholm")


class SystemClock:
    """Swedish local wall-clock time, naive (the database stores local times)."""

    def now(self) -> datetime:
        return datetime.now(TZ).replace(tzinfo=None, microsecond=0)

    def today(self) -> date:
        return self.now().date()

    def timestamp(self) -> int:
        """Seconds since the epoch (for token lifetimes), consistent with now()."""
        return int(self.now().replace(tzinfo=TZ).timestamp())


class FixedClock(SystemClock):
    """A clock that stands still until told to move."""

    def __init__(self, at: datetime):
        self._now = at

    def now(self) -> datetime:
        return self._now

    def set(self, at: datetime) -> None:
        self._now = at

    def advance(self, **delta) -> None:
        self._now += timedelta(**delta)
