"""The PDL log's keys and its checkpoint file: what anchors the keyed chain outside the database.

- `PdlSettings`: the chain key (PDL_CHAIN_KEY), the checkpoint key (PDL_CHECKPOINT_KEY), the checkpoint
  file (PDL_CHECKPOINT_FILE) and how often a checkpoint is written (PDL_CHECKPOINT_EVERY records), read from
  an app's configuration. The keys are never stored in the database.
- `settings_for(session)`: the settings of the app whose database the session talks to. Inside an app
  context that is the current app; outside one (workers, tests that call the patient-data gateway directly)
  the app registered for the session's engine by `init_app`.
- `CheckpointFile`: the append-only file of signed checkpoints (`domain.pdl.Checkpoint`), one JSON line
  each. Writers append under an exclusive `flock` (several processes append to one file), readers read
  under a shared one. Keep the file where the database's users cannot change it (another host, a volume
  mounted append-only, `chattr +a`, or ship each line to the log server too): a checkpoint proves only as
  long as it is not removed.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from flask import Flask, current_app, has_app_context
from sqlalchemy.orm import Session

from .config import INSTANCE
from .domain.pdl import Checkpoint, CheckpointError

log = logging.getLogger(__name__)

#: Bytes read from the end of the file to find the newest checkpoint (each line is about 200 bytes).
TAIL_BYTES = 64 * 1024


class PdlKeysMissing(RuntimeError):
    """The PDL keys are not configured, or no app is known for the session: nothing can be logged."""


@dataclass(frozen=True)
class PdlSettings:
    chain_key: bytes
    checkpoint_key: bytes
    checkpoint_file: Path
    every: int  # a checkpoint after every this many records (0: only on demand)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> PdlSettings:
        missing = [name for name in ("PDL_CHAIN_KEY", "PDL_CHECKPOINT_KEY") if not config.get(name)]
        if missing:
            raise PdlKeysMissing("the PDL log needs " + " and ".join(missing))
        return cls(chain_key=str(config["PDL_CHAIN_KEY"]).encode("utf-8"),
                   checkpoint_key=str(config["PDL_CHECKPOINT_KEY"]).encode("utf-8"),
                   checkpoint_file=Path(config.get("PDL_CHECKPOINT_FILE") or INSTANCE / "pdl-checkpoints.log"),
                   every=max(int(config.get("PDL_CHECKPOINT_EVERY") or 0), 0))

    @property
    def file(self) -> CheckpointFile:
        return CheckpointFile(self.checkpoint_file)


# --- which app's keys ---------------------------------------------------------------------------------------

_apps: weakref.WeakKeyDictionary[Any, weakref.ref[Flask]] = weakref.WeakKeyDictionary()


def init_app(app: Flask) -> None:
    """Remember the app for its database engine, so that sessions used outside an app context find its keys."""
    _apps[app.extensions["db_engine"]] = weakref.ref(app)


def settings_for(session: Session) -> PdlSettings:
    """The PDL settings of the app whose database this session uses (PdlKeysMissing if none is known)."""
    bind = session.get_bind()
    engine = getattr(bind, "engine", bind)
    app: Any = None
    if has_app_context() and current_app.extensions.get("db_engine") is engine:
        app = current_app
    if app is None:
        ref = _apps.get(engine)
        app = ref() if ref is not None else None
    if app is None and has_app_context():
        app = current_app
    if app is None:
        raise PdlKeysMissing("no app is known for this database session: use it inside an app context")
    return PdlSettings.from_config(app.config)


# --- the file -----------------------------------------------------------------------------------------------


class CheckpointFile:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def exists(self) -> bool:
        return self.path.exists()

    def append(self, checkpoint: Checkpoint, key: bytes) -> None:
        """Append one signed checkpoint (the line and its newline in one write, under an exclusive lock,
        synced to disk)."""
        line = (checkpoint.line(key) + "\n").encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)  # closing releases the lock

    def _text(self, tail: int | None = None) -> str:
        with self.path.open("rb") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH)
            if tail is not None:
                size = handle.seek(0, os.SEEK_END)
                handle.seek(max(size - tail, 0))
            data = handle.read()
        text = data.decode("utf-8", errors="replace")
        if tail is not None and len(data) == tail:
            text = text.split("\n", 1)[-1]  # the first line may be cut
        return text

    def read(self, key: bytes) -> tuple[list[Checkpoint], list[str]]:
        """Every checkpoint whose signature holds, and one problem per line that cannot be read or whose
        signature does not match (naming the line). A missing file holds none."""
        if not self.exists():
            return [], []
        checkpoints, problems = [], []
        for number, line in enumerate(self._text().split("\n"), start=1):
            if not line.strip():
                continue
            try:
                checkpoints.append(Checkpoint.from_line(line, key))
            except CheckpointError as err:
                problems.append(f"kontrollpunktsfilen rad {number}: {err}")
        return checkpoints, problems

    def newest(self, key: bytes) -> Checkpoint | None:
        """The valid checkpoint with the highest record id among the file's last lines (None if none)."""
        if not self.exists():
            return None
        found = []
        for line in self._text(tail=TAIL_BYTES).split("\n"):
            try:
                found.append(Checkpoint.from_line(line, key))
            except CheckpointError:
                continue
        return max(found, key=lambda c: (c.last_id, c.at), default=None)


def describe_missing(path: Path) -> str:
    """The warning when there is no checkpoint to compare with."""
    where = "finns inte" if not path.exists() else "har ingen giltig kontrollpunkt"
    return (f"varning: ingen kontrollpunkt (filen {json.dumps(str(path), ensure_ascii=False)} {where}): att de "
            "senaste posterna eller alla poster har tagits bort kan inte upptäckas. Skapa en med "
            "`portal pdl-checkpoint`.")
