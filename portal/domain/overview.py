"""The unit overview's counts (Rehabstöd's start page): over the rows the viewer may see. Pure."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from . import diagnosis
from .ongoing import LENGTH_IDS, CaseRow
from .sick_leave import DEGREES

# --- Overview ----------------------------------------------------------------------------------


def overview(rows: Iterable[CaseRow]) -> dict[str, Any]:
    """The unit overview's counts over the rows the viewer may see (every key present, zeros
    included, in display order):

    ``total``; ``gender`` {"F", "M"}; ``groups`` {group id: n} (``diagnosis.GROUPS``);
    ``degrees`` {25, 50, 75, 100, None: n} (today's degree; None for recently ended);
    ``degree_changes`` {"one": n, "several": n} (one distinct degree in the deciding certificate,
    or several); ``lengths`` {bucket id: n} (``LENGTH_BUCKETS``).
    """
    result: dict[str, Any] = {
        "total": 0,
        "gender": {"F": 0, "M": 0},
        "groups": {g: 0 for g in diagnosis.GROUP_IDS},
        "degrees": {**{d: 0 for d in DEGREES}, None: 0},
        "degree_changes": {"one": 0, "several": 0},
        "lengths": {b: 0 for b in LENGTH_IDS},
    }
    for row in rows:
        result["total"] += 1
        result["gender"][row.gender] += 1
        result["groups"][row.group] += 1
        result["degrees"][row.active_degree] += 1
        result["degree_changes"]["one" if len(set(row.degrees)) <= 1 else "several"] += 1
        result["lengths"][row.length_bucket] += 1
    return result
