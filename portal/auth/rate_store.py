"""The rate limiter's counters in the portal's own database, so that every app process counts together.

flask-limiter keeps its counters in a storage of the `limits` library. Its in-memory storage is one per
process: with gunicorn's workers an address got LOGIN_RATE_LIMIT per worker, and a restart forgot
everything. This storage keeps fixed-window counters in the `rate_limits` table instead, one row per
limit and client (the key), with one atomic upsert per hit (`INSERT … ON CONFLICT DO UPDATE … RETURNING`,
on PostgreSQL and SQLite alike): a new window starts at the first hit after the old one ended, as in
`limits`' own storages. Only the fixed-window strategy is supported (the default of flask-limiter).

Times are the real clock in UTC (`time.time()`), as `limits` computes its windows and reset headers with it.
The engine is the current app's (`app.extensions["db_engine"]`), so one limiter object serves every app in
a process (the tests make many); outside an app context the engine given at construction is used.
Expired rows are deleted now and then by the process that writes (at most once a CLEANUP_EVERY seconds)
and by `portal purge-sessions`.
"""
from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime
from typing import Any

from limits.storage import Storage
from sqlalchemy import Engine, case, delete, select
from sqlalchemy.exc import SQLAlchemyError

from .. import db
from ..models import RateLimit

SCHEME = "portaldb"
URI = f"{SCHEME}://"
MAX_KEY = 255
CLEANUP_EVERY = 60.0  # seconds between deleting expired counters, per process


def utc(ts: float) -> datetime:
    """A timestamp as the naive UTC datetime the table stores."""
    return datetime.fromtimestamp(ts, UTC).replace(tzinfo=None)


def epoch(at: datetime) -> float:
    return at.replace(tzinfo=UTC).timestamp()


def row_key(key: str) -> str:
    """The key as stored: as it is, or (when longer than the column) its start and a digest of the whole."""
    if len(key) <= MAX_KEY:
        return key
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return key[: MAX_KEY - len(digest) - 1] + "#" + digest


def _insert(dialect: str):
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert
    raise NotImplementedError(f"the rate-limit store supports PostgreSQL and SQLite, not {dialect}")


def purge_expired(connection_or_session: Any, now: float | None = None) -> int:
    """Delete the counters whose window has ended. Returns how many."""
    result = connection_or_session.execute(
        delete(RateLimit).where(RateLimit.expires_at <= utc(time.time() if now is None else now)))
    return int(result.rowcount or 0)


class DatabaseStorage(Storage):
    """A `limits` storage (fixed window) on the `rate_limits` table. URI: ``portaldb://``."""

    STORAGE_SCHEME = [SCHEME]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, engine: Engine | None = None,
                 **options: Any) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self._engine = engine
        self._cleaned_at = 0.0

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return SQLAlchemyError

    def engine(self) -> Engine:
        from flask import current_app, has_app_context

        if has_app_context() and "db_engine" in current_app.extensions:
            return db.get_engine(current_app)
        if self._engine is None:
            raise RuntimeError("the rate-limit store needs an app context or an engine")
        return self._engine

    def incr(self, key: str, expiry: int | float, amount: int = 1) -> int:
        """Count `amount` hits on `key`; a new window of `expiry` seconds starts when the old one has ended.
        Returns the count in the current window."""
        now = time.time()
        started, ends = utc(now), utc(now + expiry)
        engine = self.engine()
        table = RateLimit.__table__
        stmt = _insert(engine.dialect.name)(table).values(key=row_key(key), hits=amount, expires_at=ends)
        ended = table.c.expires_at <= started
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.key],
            set_={"hits": case((ended, amount), else_=table.c.hits + amount),
                  "expires_at": case((ended, ends), else_=table.c.expires_at)},
        ).returning(table.c.hits)
        with engine.begin() as conn:
            hits = int(conn.execute(stmt).scalar_one())
            if now - self._cleaned_at >= CLEANUP_EVERY:
                self._cleaned_at = now
                purge_expired(conn, now)
        return hits

    def get(self, key: str) -> int:
        with self.engine().connect() as conn:
            hits = conn.execute(select(RateLimit.hits).where(
                RateLimit.key == row_key(key), RateLimit.expires_at > utc(time.time()))).scalar()
        return int(hits or 0)

    def get_expiry(self, key: str) -> float:
        with self.engine().connect() as conn:
            ends = conn.execute(select(RateLimit.expires_at).where(RateLimit.key == row_key(key))).scalar()
        now = time.time()
        return max(epoch(ends), now) if ends is not None else now

    def check(self) -> bool:
        try:
            with self.engine().connect() as conn:
                conn.execute(select(1))
            return True
        except SQLAlchemyError:
            return False

    def reset(self) -> int | None:
        with self.engine().begin() as conn:
            return int(conn.execute(delete(RateLimit)).rowcount or 0)

    def clear(self, key: str) -> None:
        with self.engine().begin() as conn:
            conn.execute(delete(RateLimit).where(RateLimit.key == row_key(key)))
