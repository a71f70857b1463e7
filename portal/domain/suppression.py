"""Small-count protection for Intygsstatistik: which counts of a table may be published. Pure.

Intygsstatistik shows de-identified counts (sick-leave cases, certificates) publicly and to staff; the
page, its totals and its Excel download all publish what ``suppress`` returns. The rule:

1. **Primary suppression.** Every count below ``THRESHOLD`` (5), zero included, is suppressed: a cell,
   a row, column or grand total, a group row's value (a diagnosis chapter over its groups) or any other
   published sum.
2. **Complementary suppression, two per sum.** For every published sum whose total is shown, if exactly
   one of its cells is suppressed, its smallest shown cell is suppressed too (ties: the last in row-major
   order). Repeated until no sum changes (a suppression in a row can call for one in a column, and so
   on). A suppressed total does not constrain its cells.
3. **Audit.** No value suppressed under rule 1 may be computable, not even through several sums at once
   (the 2×2 and "bridge" patterns that rule 2 misses). The reader is assumed to know every shown count
   and total, that counts are whole numbers, not negative, that a suppressed value below 5 is 0-4, and
   that any other suppressed value is 0 or more (at least 5 with ``marked_apart``); a value is safe when
   the published values also fit another value of it. Where one is not, the shown values (cells, or
   totals if need be) whose suppression lets it change, with the smallest sum of counts (then the
   fewest), are suppressed as well, and rule 2 is applied again.
4. **Pruning.** The complementary suppressions are revisited from the largest count down: one is shown
   again (with any complementary cell that would then be alone in a sum) if rules 2 and 3 still hold
   without it. So each remaining one has a reason: showing it would let a reader recover a count below 5.
5. **Deterministic**: the same table always gives the same result.

Marking: by default the protection assumes the page marks every suppressed value alike (e.g. "–", noted as
"färre än 5, or hidden so that a count below 5 cannot be computed"), so a reader cannot tell the complementary
ones (5 or more) from the rest. A page that writes "färre än 5" on the values below 5 only and another marker
on the others must use ``marked_apart=True``; ``PublishedTable.is_below_threshold`` then says which is which.

Not covered: a reader who reruns these rules on guessed tables and keeps those that would be published the
same way (the choice "smallest cell" says something of the cells left shown). In small tables with counts
just at 5 that can pin a count, e.g. a series 3, 5, 5 with its total.

The audit is exact, not a heuristic: the published sums must split into two nested families (sums along
rows, and sums within a column: margins, group rows and most other report sums do), so the table is a
network flow, and a suppressed value can take another value exactly when a cycle of +1/-1 changes through
it keeps every suppressed value within what the reader knows of it and every shown value unchanged.
Sums that cannot be split so are refused (``ValueError``).

Ratios (a share, a rate per 1 000) are shown only when both of their counts are: ``ratio``.

Example::

    table = CountTable(rows=("Kvinnor", "Män"), columns=("2026-01",), counts=((3,), (20,)),
                       column_totals=True)
    published = suppress(table)
    published.value("Kvinnor", "2026-01")  # SUPPRESSED (3 is below 5)
    published.value("Män", "2026-01")      # SUPPRESSED (else Kvinnor = 23 - 20)
    published.value(TOTAL, "2026-01")      # 23
"""

from __future__ import annotations

import enum
import heapq
from collections import deque
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, TypeAlias

__all__ = ["SUPPRESSED", "THRESHOLD", "TOTAL", "CountTable", "PublishedTable", "Ref", "Suppressed", "Value",
           "publish_count", "ratio", "suppress"]

#: The smallest count that may be shown.
THRESHOLD: Final = 5
#: The key of the margins: ``(row, TOTAL)`` a row total, ``(TOTAL, column)`` a column total, ``(TOTAL, TOTAL)`` the
#: grand total. No row, group or column may be called so.
TOTAL: Final = "Totalt"


class Suppressed(enum.Enum):
    """The marker of a value that may not be published: ``SUPPRESSED``."""

    SUPPRESSED = "SUPPRESSED"

    def __repr__(self) -> str:
        return "SUPPRESSED"


SUPPRESSED: Final = Suppressed.SUPPRESSED
#: A published value: the count, or ``SUPPRESSED``.
Value: TypeAlias = int | Suppressed
#: Where a value is published: (row or group or ``TOTAL``, column or ``TOTAL``), or the key of an extra sum.
Ref: TypeAlias = tuple[str, str]

_UNBOUNDED: Final = 1 << 62
_ROOT_ROWS, _ROOT_COLUMNS = 0, 1  # the network's two root nodes; a sum's node is 2 + its index


# --- Input and output --------------------------------------------------------------------------


@dataclass(frozen=True)
class CountTable:
    """A table of counts and the sums of it that are published next to it.

    ``counts[i][j]`` is the count of ``rows[i]`` in ``columns[j]`` (whole numbers, not negative), published
    at ``(rows[i], columns[j])``. Besides the cells:

    - ``row_totals``: every row's sum over the columns, at ``(row, TOTAL)``;
    - ``column_totals``: every column's sum over the rows, at ``(TOTAL, column)`` (the "Totalt" row);
    - ``grand_total``: the sum of all cells, at ``(TOTAL, TOTAL)``;
    - ``groups``: rows that add up other rows, e.g. a diagnosis chapter over its groups,
      ``{"F": ("F30-F39", "F40-F48")}``; a member may itself be a group. A group's value is published in
      every column, at ``(group, column)``, and its total at ``(group, TOTAL)`` when ``row_totals``;
    - ``sums``: any other published sum, ``{ref: the cells it adds up}``, e.g. a quarter
      ``{("Kvinnor", "Q1"): {("Kvinnor", "2026-01"), ("Kvinnor", "2026-02"), ("Kvinnor", "2026-03")}}``.

    The published sums must split into two nested families (sums along rows, sums within a column), as
    margins, groups and quarters do; ``suppress`` refuses others (``ValueError``).
    """

    rows: Sequence[str]
    columns: Sequence[str]
    counts: Sequence[Sequence[int]]
    row_totals: bool = False
    column_totals: bool = False
    grand_total: bool = False
    groups: Mapping[str, Sequence[str]] = field(default_factory=dict)
    sums: Mapping[Ref, Collection[Ref]] = field(default_factory=dict)


@dataclass(frozen=True)
class PublishedTable:
    """What may be published of a ``CountTable``: every cell and published sum, the count or ``SUPPRESSED``.

    ``values`` maps each published ref to its value. ``marked_apart`` is how the page may mark suppressed
    values: False (the default), one marker for all of them; True, "färre än 5" for those below 5
    (``is_below_threshold``) and another marker for the rest.
    """

    values: Mapping[Ref, Value]
    marked_apart: bool = False
    _below: frozenset[Ref] = field(default=frozenset(), repr=False)

    def value(self, row: str, column: str) -> Value:
        """The published value at (row, column): the count, or ``SUPPRESSED``. KeyError if none is published there."""
        return self.values[(row, column)]

    def is_suppressed(self, row: str, column: str) -> bool:
        """Whether the value at (row, column) is suppressed."""
        return self.values[(row, column)] is SUPPRESSED

    def is_below_threshold(self, row: str, column: str) -> bool:
        """Whether the value at (row, column) is suppressed because it is below 5 (to show "färre än 5").

        Only with ``marked_apart``: otherwise the protection assumed that a reader cannot tell these from
        the complementary suppressions, and the page must not tell them apart (ValueError)."""
        if not self.marked_apart:
            raise ValueError("suppressed with marked_apart=False: the page must mark all suppressed values alike")
        return (row, column) in self._below

    @property
    def suppressed(self) -> frozenset[Ref]:
        """The refs of every suppressed value."""
        return frozenset(ref for ref, v in self.values.items() if v is SUPPRESSED)


def suppress(table: CountTable, *, marked_apart: bool = False) -> PublishedTable:
    """What may be published of ``table``, by the rules in this module's docstring.

    ``marked_apart=True`` when the page marks the values below 5 ("färre än 5") apart from the complementary
    suppressions: the reader then knows that those are 5 or more, and the protection holds against that too
    (it may need more suppression). ValueError for a malformed table.
    """
    network, refs = _build(table, marked_apart)
    network.protect()
    values: dict[Ref, Value] = {ref: SUPPRESSED if network.hidden[a] else network.value[a] for ref, a in refs.items()}
    below = frozenset(ref for ref, a in refs.items() if network.primary[a]) if marked_apart else frozenset()
    return PublishedTable(values=values, marked_apart=marked_apart, _below=below)


def publish_count(count: int) -> Value:
    """A single count published on its own (no sum of it or over it is shown): the count, or ``SUPPRESSED`` below 5."""
    if count < 0:
        raise ValueError("a count cannot be negative")
    return count if count >= THRESHOLD else SUPPRESSED


def ratio(numerator: Value, denominator: Value, *, per: int = 1) -> float | Suppressed:
    """``numerator / denominator * per`` (a share: ``per=1`` or 100; a rate per 1 000 listed patients: 1000),
    or ``SUPPRESSED``.

    Pass published values (``PublishedTable.value``, ``publish_count``). The ratio is shown only when its
    numerator is shown, and its denominator too (from a shown numerator and the ratio, a suppressed
    denominator could be computed back); a raw count below 5 (zero included) counts as suppressed. Rounding
    is the page's. When the rest (denominator - numerator, e.g. certificates without a komplettering
    request) must not be computable either, publish the two parts and their total through ``suppress``
    (rows "asked", "not asked", ``column_totals``) and take the ratio of those published values.
    """
    if isinstance(numerator, Suppressed) or isinstance(denominator, Suppressed):
        return SUPPRESSED
    if numerator < THRESHOLD or denominator < THRESHOLD:
        return SUPPRESSED
    return numerator / denominator * per


# --- The table as a network --------------------------------------------------------------------
#
# Every published value is an arc of a circulation: a cell runs from the row-side node of the smallest
# row-side sum containing it to the column-side node of the smallest column-side sum containing it; a
# row-side sum S runs from its parent's node to its own, a column-side sum from its own node to its
# parent's; a free return arc runs from the column-side root to the row-side root. Flow conservation is
# then exactly "every sum = the sum of its cells", and tables that publish the same values are the
# circulations with the shown arcs fixed and each suppressed arc within the reader's bounds of it.


class _Network:
    """The arcs (cells, then distinct sums of two or more cells, then the return arc) and what is hidden."""

    def __init__(self, values: list[int], tails: list[int], heads: list[int], members: list[list[int]],
                 n_nodes: int, marked_apart: bool) -> None:
        self.value = values
        self.tail = tails
        self.head = heads
        self.n_cells = len(values) - len(members) - 1
        self.members = members  # per sum (arc n_cells + k): its cells' arcs
        self.returns = len(values) - 1
        self.primary = [v < THRESHOLD for v in values[:-1]] + [False]
        self.hidden = list(self.primary)
        self.low_complementary = THRESHOLD if marked_apart else 0
        self.incident: list[list[int]] = [[] for _ in range(n_nodes)]
        for a in range(len(values)):
            self.incident[tails[a]].append(a)
            self.incident[heads[a]].append(a)
        self.containing: list[list[int]] = [[] for _ in range(self.n_cells)]
        for k, cells in enumerate(members):
            for c in cells:
                self.containing[c].append(self.n_cells + k)
        self.witness: dict[int, set[int]] = {}

    @property
    def sums(self) -> range:
        return range(self.n_cells, self.returns)

    # -- rules --

    def protect(self) -> None:
        """Rules 2-4: complementary suppression, the audit with its repairs, then pruning."""
        self._two_per_sum()
        for t in range(self.returns):
            if not self.primary[t]:
                continue
            cycle = self._cycle(t)
            if cycle is None:
                repair = self._cheapest(t)
                if repair is None:  # cannot happen: every arc can move once all are hidden
                    raise RuntimeError("a suppressed count cannot be protected")
                for a in repair:
                    self.hidden[a] = True
                self._two_per_sum()
                cycle = self._cycle(t)
                if cycle is None:
                    raise RuntimeError("a suppressed count is still computable")
            self.witness[t] = cycle  # stays valid: further suppression only adds ways to change
        self._prune()

    def _two_per_sum(self) -> None:
        """Rule 2, until no sum changes."""
        changed = True
        while changed:
            changed = False
            for s in self.sums:
                if self.hidden[s]:
                    continue
                cells = self.members[s - self.n_cells]
                if sum(self.hidden[c] for c in cells) == 1:
                    shown = [c for c in cells if not self.hidden[c]]
                    self.hidden[min(shown, key=lambda c: (self.value[c], -c))] = True
                    changed = True

    def _prune(self) -> None:
        """Rule 4."""
        users: dict[int, set[int]] = {}
        for t, cycle in self.witness.items():
            for a in cycle:
                users.setdefault(a, set()).add(t)
        candidates = [a for a in range(self.returns) if self.hidden[a] and not self.primary[a]]
        for x in sorted(candidates, key=lambda a: (-self.value[a], -a)):
            if not self.hidden[x]:
                continue
            batch = self._reveal(x)
            if batch is None:
                continue
            affected = sorted({t for a in batch for t in users.get(a, ())})
            cycles = {t: self._cycle(t) for t in affected}
            if any(c is None for c in cycles.values()):
                for a in batch:
                    self.hidden[a] = True
                continue
            for t, new in cycles.items():
                assert new is not None
                for a in self.witness[t]:
                    users[a].discard(t)
                for a in new:
                    users.setdefault(a, set()).add(t)
                self.witness[t] = new

    def _reveal(self, x: int) -> list[int] | None:
        """Show ``x`` and every complementary cell that would then be alone in a shown sum; None (and nothing
        shown) if a cell below 5 would be."""
        batch = [x]
        self.hidden[x] = False
        queue = deque([x])
        while queue:
            a = queue.popleft()
            for s in [a] if a >= self.n_cells else self.containing[a]:
                if self.hidden[s]:
                    continue
                alone = [c for c in self.members[s - self.n_cells] if self.hidden[c]]
                if len(alone) != 1:
                    continue
                if self.primary[alone[0]]:
                    for b in batch:
                        self.hidden[b] = True
                    return None
                self.hidden[alone[0]] = False
                batch.append(alone[0])
                queue.append(alone[0])
        return batch

    # -- search --

    def _step(self, a: int, forward: bool, repairing: bool) -> int | None:
        """The cost of changing arc ``a`` by one (up if ``forward``), or None if it cannot change so. A hidden
        arc is free within its bounds; a shown one, when ``repairing``, costs its count (to hide it)."""
        v = self.value[a]
        if a == self.returns:
            return 0 if forward or v > 0 else None
        if self.hidden[a]:
            if self.primary[a]:
                ok = v < THRESHOLD - 1 if forward else v > 0
            else:
                ok = forward or v > self.low_complementary
            return 0 if ok else None
        if repairing and (forward or v > self.low_complementary):
            return 64 * v + 1
        return None

    def _moves(self, node: int, skip: int, repairing: bool) -> Iterator[tuple[int, int, int]]:
        """(next node, arc, cost) of every change leaving ``node``: along an arc up, or against it down."""
        for a in self.incident[node]:
            if a == skip:
                continue
            forward = self.tail[a] == node
            cost = self._step(a, forward, repairing)
            if cost is not None:
                yield (self.head[a] if forward else self.tail[a]), a, cost

    def _directions(self, t: int) -> list[tuple[int, int]]:
        """(start, goal) of the paths that close a cycle through ``t``: up, then down."""
        out = []
        if self.value[t] < THRESHOLD - 1:
            out.append((self.head[t], self.tail[t]))
        if self.value[t] > 0:
            out.append((self.tail[t], self.head[t]))
        return out

    def _cycle(self, t: int) -> set[int] | None:
        """The arcs of a cycle of changes through primary arc ``t`` (so ``t`` is safe), or None."""
        for start, goal in self._directions(t):
            pred: dict[int, tuple[int, int]] = {start: (-1, -1)}
            queue = deque([start])
            while queue and goal not in pred:
                node = queue.popleft()
                for nxt, a, _ in self._moves(node, t, False):
                    if nxt not in pred:
                        pred[nxt] = (a, node)
                        queue.append(nxt)
            if goal in pred:
                return set(_path(pred, goal)) | {t}
        return None

    def _cheapest(self, t: int) -> list[int] | None:
        """The shown arcs to hide so that ``t`` can change: those on the cheapest cycle through it."""
        best: tuple[int, list[int]] | None = None
        for start, goal in self._directions(t):
            dist = {start: 0}
            pred: dict[int, tuple[int, int]] = {start: (-1, -1)}
            heap = [(0, 0, start)]
            done: set[int] = set()
            order = 0
            while heap:
                d, _, node = heapq.heappop(heap)
                if node in done:
                    continue
                done.add(node)
                if node == goal:
                    break
                for nxt, a, cost in self._moves(node, t, True):
                    if d + cost < dist.get(nxt, _UNBOUNDED):
                        dist[nxt], pred[nxt] = d + cost, (a, node)
                        order += 1
                        heapq.heappush(heap, (d + cost, order, nxt))
            if goal in done and (best is None or dist[goal] < best[0]):
                best = (dist[goal], _path(pred, goal))
        return None if best is None else [a for a in best[1] if not self.hidden[a]]


def _path(pred: Mapping[int, tuple[int, int]], goal: int) -> list[int]:
    arcs = []
    node = goal
    while pred[node][0] >= 0:
        arc, node = pred[node]
        arcs.append(arc)
    return arcs


# --- Building the network ----------------------------------------------------------------------


def _build(table: CountTable, marked_apart: bool) -> tuple[_Network, dict[Ref, int]]:
    """The network of ``table`` and the arc of every published ref."""
    counts = _check_counts(table)
    n_cols = len(table.columns)
    refs: dict[Ref, int] = {(r, c): i * n_cols + j
                            for i, r in enumerate(table.rows) for j, c in enumerate(table.columns)}
    if len(refs) != len(counts):
        raise ValueError("rows and columns must be distinct")
    bits_index: dict[int, int] = {}
    members: list[list[int]] = []
    for ref, cells in _published_sums(table, refs):
        if ref in refs:
            raise ValueError(f"two values published at {ref!r}")
        unique = sorted(set(cells))
        if not unique:
            raise ValueError(f"the published sum {ref!r} adds up no cell")
        if len(unique) == 1:
            refs[ref] = unique[0]
            continue
        bits = sum(1 << c for c in unique)
        if bits not in bits_index:
            bits_index[bits] = len(members)
            members.append(unique)
        refs[ref] = len(counts) + bits_index[bits]
    tails, heads = _layout(len(counts), list(bits_index), members)
    values = counts + [sum(counts[c] for c in cells) for cells in members] + [sum(counts)]
    return _Network(values, tails, heads, members, 2 + len(members), marked_apart), refs


def _check_counts(table: CountTable) -> list[int]:
    if not table.rows or not table.columns:
        raise ValueError("a table needs at least one row and one column")
    if TOTAL in table.rows or TOTAL in table.columns or TOTAL in table.groups:
        raise ValueError(f"{TOTAL!r} is the key of the margins")
    if len(table.counts) != len(table.rows) or any(len(line) != len(table.columns) for line in table.counts):
        raise ValueError("counts must have one line per row and one count per column")
    flat = [v for line in table.counts for v in line]
    if any(not isinstance(v, int) or isinstance(v, bool) or v < 0 for v in flat):
        raise ValueError("counts must be whole numbers, not negative")
    return flat


def _published_sums(table: CountTable, cells: Mapping[Ref, int]) -> Iterator[tuple[Ref, list[int]]]:
    """Every published sum but the cells: (ref, the indices of the cells it adds up)."""
    n_rows, n_cols = len(table.rows), len(table.columns)

    def block(rows: Collection[int], cols: Collection[int]) -> list[int]:
        return [i * n_cols + j for i in rows for j in cols]

    if table.row_totals:
        yield from (((r, TOTAL), block([i], range(n_cols))) for i, r in enumerate(table.rows))
    if table.column_totals:
        yield from (((TOTAL, c), block(range(n_rows), [j])) for j, c in enumerate(table.columns))
    if table.grand_total:
        yield (TOTAL, TOTAL), block(range(n_rows), range(n_cols))
    for group, rows in _group_rows(table).items():
        yield from (((group, c), block(rows, [j])) for j, c in enumerate(table.columns))
        if table.row_totals:
            yield (group, TOTAL), block(rows, range(n_cols))
    for ref, refs in table.sums.items():
        unknown = [cell for cell in refs if cell not in cells]
        if unknown:
            raise ValueError(f"the published sum {ref!r} adds up {unknown[0]!r}, which is not a cell")
        yield ref, [cells[cell] for cell in refs]


def _group_rows(table: CountTable) -> dict[str, list[int]]:
    """The rows (indices) that each group adds up, its subgroups' included."""
    index = {r: i for i, r in enumerate(table.rows)}
    out: dict[str, list[int]] = {}

    def expand(group: str, seen: tuple[str, ...]) -> list[int]:
        if group in seen:
            raise ValueError(f"the group {group!r} contains itself")
        if group not in out:
            rows: set[int] = set()
            for member in table.groups[group]:
                if member in index:
                    rows.add(index[member])
                elif member in table.groups:
                    rows.update(expand(member, (*seen, group)))
                else:
                    raise ValueError(f"the group {group!r} has {member!r}, which is neither a row nor a group")
            out[group] = sorted(rows)
        return out[group]

    for group in table.groups:
        if group in index:
            raise ValueError(f"{group!r} is both a row and a group")
        expand(group, ())
    return {group: out[group] for group in table.groups}


def _layout(n_cells: int, bits: list[int], members: list[list[int]]) -> tuple[list[int], list[int]]:
    """The tail and head node of every arc (cells, sums, return arc): each family of sums a tree."""
    family = _two_families(bits)
    tails, heads = [_ROOT_ROWS] * n_cells, [_ROOT_COLUMNS] * n_cells
    sum_tails, sum_heads = [0] * len(bits), [0] * len(bits)
    for side, root, ends in ((0, _ROOT_ROWS, tails), (1, _ROOT_COLUMNS, heads)):
        placed: list[int] = []
        for k in sorted((k for k in range(len(bits)) if family[k] == side), key=lambda k: (-bits[k].bit_count(), k)):
            parent = next((2 + p for p in reversed(placed) if bits[p] & bits[k] == bits[k]), root)
            sum_tails[k], sum_heads[k] = (parent, 2 + k) if side == 0 else (2 + k, parent)
            placed.append(k)
            for c in members[k]:
                ends[c] = 2 + k  # sums come largest first, so a cell ends at the smallest one
    return tails + sum_tails + [_ROOT_COLUMNS], heads + sum_heads + [_ROOT_ROWS]


def _two_families(bits: list[int]) -> list[int]:
    """Split the sums into two nested families (0 row-side, 1 column-side): two sums that overlap without one
    containing the other go in different families. ValueError if that is impossible."""
    crossing: list[list[int]] = [[] for _ in bits]
    for k, a in enumerate(bits):
        for m in range(k + 1, len(bits)):
            both = a & bits[m]
            if both and both != a and both != bits[m]:
                crossing[k].append(m)
                crossing[m].append(k)
    family = [-1] * len(bits)
    for start in range(len(bits)):
        if family[start] >= 0:
            continue
        family[start] = 0
        stack = [start]
        while stack:
            k = stack.pop()
            for m in crossing[k]:
                if family[m] < 0:
                    family[m] = 1 - family[k]
                    stack.append(m)
                elif family[m] == family[k]:
                    raise ValueError("the published sums do not split into two nested families (row-side and "
                                     "column-side), so their protection cannot be checked")
    return family
