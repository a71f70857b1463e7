"""Small-count protection for Intygsstatistik (portal/domain/suppression.py): every count below 5 is suppressed,
complementary suppression keeps it from being computed back from the shown counts and totals, and no count of
5 or more is suppressed without a reason.

The attack: a reader who has the published table (shown counts, shown totals, where each sum is) and knows that
counts are whole numbers, not negative, that a suppressed value below 5 is 0-4 (and, when the page marks them
apart, that any other suppressed value is at least 5) searches for every table that fits; no suppressed value
below 5 may have the same value in all of them. The search below is independent of the module's own audit
(a network-flow cycle search): exact elimination of the shown sums, bounds propagation, and splitting the cells'
ranges, complete over whole-number tables. Each random table is also checked the other way: every count below 5
is suppressed, and showing any complementary suppression would let the reader compute a count below 5."""
from __future__ import annotations

import math
import random
from collections import deque

import pytest

from portal.domain.suppression import (
    SUPPRESSED,
    THRESHOLD,
    TOTAL,
    CountTable,
    PublishedTable,
    Ref,
    publish_count,
    ratio,
    suppress,
)

# --- The attack --------------------------------------------------------------------------------

_BIG = 10**9
Cells = frozenset[Ref]


def published_sums(table: CountTable) -> dict[Ref, Cells]:
    """Every published ref (cells, margins, group rows, extra sums) and the cells it adds up, from the table's
    description alone."""
    cells = [(r, c) for r in table.rows for c in table.columns]
    out: dict[Ref, Cells] = {cell: frozenset([cell]) for cell in cells}
    if table.row_totals:
        out.update({(r, TOTAL): frozenset((r, c) for c in table.columns) for r in table.rows})
    if table.column_totals:
        out.update({(TOTAL, c): frozenset((r, c) for r in table.rows) for c in table.columns})
    if table.grand_total:
        out[(TOTAL, TOTAL)] = frozenset(cells)

    def rows_of(name: str) -> set[str]:
        return {name} if name in table.rows else set().union(*(rows_of(m) for m in table.groups[name]))

    for group in table.groups:
        rows = rows_of(group)
        out.update({(group, c): frozenset((r, c) for r in rows) for c in table.columns})
        if table.row_totals:
            out[(group, TOTAL)] = frozenset((r, c) for r in rows for c in table.columns)
    out.update({ref: frozenset(members) for ref, members in table.sums.items()})
    return out


Constraint = tuple[list[int], list[int], int, int]  # variables, their coefficients, low <= sum <= high


class Reader:
    """What a reader can work out from a table published with the values in ``hidden`` suppressed (a set of
    cell sets: a value and all that are the same sum of cells).

    The unknowns are the suppressed cells. Every published sum gives low <= (its suppressed cells) <= high: a
    shown one its count less its shown cells, a suppressed one 0-4 below 5, else 0 or more (5 or more when
    marked apart). The shown sums are also combined by exact elimination (so that "grand total minus the other
    rows" is one constraint), and a search finds whether a suppressed value can be anything else."""

    def __init__(self, table: CountTable, hidden: set[Cells], *, marked_apart: bool) -> None:
        self.sums = published_sums(table)
        count = {(r, c): table.counts[i][j] for i, r in enumerate(table.rows) for j, c in enumerate(table.columns)}
        self.truth = {s: sum(count[cell] for cell in s) for s in set(self.sums.values())}
        self.hidden = hidden
        self.unknown = [cell for cell in count if frozenset([cell]) in hidden]
        self.index = {cell: i for i, cell in enumerate(self.unknown)}
        self.count = count
        cap = sum(count.values()) + 10  # a search bound; a complementary cell never needs to go beyond it
        low = THRESHOLD if marked_apart else 0
        self.lo = [0 if count[cell] < THRESHOLD else low for cell in self.unknown]
        self.hi = [THRESHOLD - 1 if count[cell] < THRESHOLD else cap for cell in self.unknown]
        self.constraints: list[Constraint] = []
        for s in sorted(set(self.sums.values()), key=sorted):
            if len(s) > 1:
                v = self.truth[s]
                bounds = (v, v) if s not in hidden else (0, THRESHOLD - 1) if v < THRESHOLD else (low, _BIG)
                self.constraints.append(self.constraint(s, *bounds))
        self.constraints += _eliminated([c for c in self.constraints if c[2] == c[3]], len(self.unknown))
        self.guess = [count[cell] for cell in self.unknown]  # where the search looks first (not what it may find)

    def constraint(self, s: Cells, low: int, high: int) -> Constraint:
        """low <= sum of ``s`` <= high, on the unknowns."""
        shown = sum(self.count[cell] for cell in s if cell not in self.index)
        idx = sorted(self.index[cell] for cell in s if cell in self.index)
        return idx, [1] * len(idx), low - shown, high - shown

    def can_differ(self, s: Cells) -> bool:
        """Whether some table that fits what is published has another value of the sum ``s``."""
        v = self.truth[s]
        return any(_feasible(list(self.lo), list(self.hi), [*self.constraints, self.constraint(s, a, b)], self.guess)
                   for a, b in ((0, v - 1), (v + 1, _BIG)) if a <= b)

    def recovered(self) -> list[Cells]:
        """The suppressed values below 5 that the reader can compute."""
        return [s for s in sorted(self.hidden, key=sorted) if self.truth[s] < THRESHOLD and not self.can_differ(s)]


def _eliminated(equations: list[Constraint], n: int) -> list[Constraint]:
    """The reduced row echelon form of the equations, exact (whole-number row operations, each row divided by
    the greatest common divisor of its entries)."""
    rows = []
    for idx, coefs, rhs, _ in equations:
        row = [0] * (n + 1)
        for i, a in zip(idx, coefs, strict=True):
            row[i] = a
        row[n] = rhs
        rows.append(row)
    done = 0
    for col in range(n):
        found = next((r for r in range(done, len(rows)) if rows[r][col]), None)
        if found is None:
            continue
        rows[done], rows[found] = rows[found], rows[done]
        pivot = rows[done]
        for r in range(len(rows)):
            if r != done and rows[r][col]:
                a, b = pivot[col], rows[r][col]
                new = [a * x - b * y for x, y in zip(rows[r], pivot, strict=True)]
                g = math.gcd(*new) or 1
                rows[r] = [x // g for x in new]
        done += 1
    out = []
    for row in rows[:done]:
        idx = [i for i in range(n) if row[i]]
        out.append((idx, [row[i] for i in idx], row[n], row[n]))
    return out


def _narrowed(lo: list[int], hi: list[int], constraint: Constraint) -> list[int] | None:
    """Narrow the unknowns' ranges by one constraint: the unknowns that changed, or None if it is impossible."""
    idx, coefs, low, high = constraint
    terms = [(i, a, a * lo[i], a * hi[i]) if a > 0 else (i, a, a * hi[i], a * lo[i])
             for i, a in zip(idx, coefs, strict=True)]  # (unknown, coefficient, its least, its most)
    least, most = sum(t[2] for t in terms), sum(t[3] for t in terms)
    if least > high or most < low:
        return None
    changed = []
    for i, a, mine_least, mine_most in terms:
        if mine_least == mine_most:
            continue
        # a * x_i lies within [low - (most - its most), high - (least - its least)]
        top, bottom = high - (least - mine_least), low - (most - mine_most)
        new_lo, new_hi = (-(-bottom // a), top // a) if a > 0 else (-(-top // a), bottom // a)
        if new_lo > lo[i] or new_hi < hi[i]:
            lo[i], hi[i] = max(lo[i], new_lo), min(hi[i], new_hi)
            if lo[i] > hi[i]:
                return None
            changed.append(i)
    return changed


def _propagate(lo: list[int], hi: list[int], constraints: list[Constraint], uses: list[list[int]]) -> bool:
    """Narrow every unknown's range by the constraints until nothing changes; False if one is impossible."""
    queue = deque(range(len(constraints)))
    queued = set(queue)
    while queue:
        k = queue.popleft()
        queued.discard(k)
        changed = _narrowed(lo, hi, constraints[k])
        if changed is None:
            return False
        for i in changed:
            for m in uses[i]:
                if m not in queued:
                    queued.add(m)
                    queue.append(m)
    return True


def _feasible(lo: list[int], hi: list[int], constraints: list[Constraint], guess: list[int]) -> bool:
    """Whether whole numbers within lo..hi satisfy every constraint: bounds propagation, then splitting a range
    (first at ``guess``: the search is complete whatever the guess, the guess only makes it quick)."""
    uses: list[list[int]] = [[] for _ in lo]
    for k, (idx, _, _, _) in enumerate(constraints):
        for i in idx:
            uses[i].append(k)
    return _search(lo, hi, constraints, uses, guess)


def _search(lo: list[int], hi: list[int], constraints: list[Constraint], uses: list[list[int]],
            guess: list[int]) -> bool:
    if not _propagate(lo, hi, constraints, uses):
        return False
    open_ = [i for i in range(len(lo)) if lo[i] < hi[i]]
    if not open_:
        return True
    i = min(open_, key=lambda k: hi[k] - lo[k])
    g = min(max(guess[i], lo[i]), hi[i])
    for a, b in ((g, g), (lo[i], g - 1), (g + 1, hi[i])):
        if a > b:
            continue
        lo2, hi2 = list(lo), list(hi)
        lo2[i], hi2[i] = a, b
        if _search(lo2, hi2, constraints, uses, guess):
            return True
    return False


def hidden_sets(table: CountTable, published: PublishedTable) -> set[Cells]:
    sums = published_sums(table)
    assert set(published.values) == set(sums)
    hidden = {sums[ref] for ref in published.suppressed}
    assert all(sums[ref] not in hidden for ref in set(sums) - published.suppressed), "a value is both shown and not"
    return hidden


def reveal(hidden: set[Cells], value: Cells, reader: Reader) -> set[Cells]:
    """``hidden`` without ``value`` and without the complementary cells that would then be alone in a shown sum
    (showing those changes nothing: the reader computes them)."""
    hidden = hidden - {value}
    changed = True
    while changed:
        changed = False
        for s in set(reader.sums.values()) - hidden:
            alone = [frozenset([cell]) for cell in s if frozenset([cell]) in hidden]
            if len(s) > 1 and len(alone) == 1 and reader.truth[alone[0]] >= THRESHOLD:
                hidden.discard(alone[0])
                changed = True
    return hidden


def check(table: CountTable, *, marked_apart: bool = False) -> PublishedTable:
    """Suppress ``table`` and attack it: the protection holds, and it does not hide without a reason."""
    published = suppress(table, marked_apart=marked_apart)
    assert suppress(table, marked_apart=marked_apart) == published  # deterministic
    hidden = hidden_sets(table, published)
    reader = Reader(table, hidden, marked_apart=marked_apart)
    for ref, cells in reader.sums.items():
        value = published.value(*ref)
        if reader.truth[cells] < THRESHOLD:
            assert value is SUPPRESSED, f"{ref} = {reader.truth[cells]} is shown"
        elif value is not SUPPRESSED:
            assert value == reader.truth[cells]
    assert reader.recovered() == [], f"a count below 5 can be computed: {table}"
    for s in sorted(hidden, key=sorted):
        if reader.truth[s] >= THRESHOLD:  # a complementary suppression: showing it must give one away
            fewer = reveal(hidden, s, reader)
            assert Reader(table, fewer, marked_apart=marked_apart).recovered(), f"{sorted(s)} hidden for nothing"
    return published


# --- Random tables -----------------------------------------------------------------------------


def _count(rng: random.Random) -> int:
    x = rng.random()
    return rng.randint(0, 4) if x < 0.45 else rng.randint(5, 7) if x < 0.6 else rng.randint(8, 30)


def _counts(rng: random.Random, n_rows: int, n_cols: int) -> list[list[int]]:
    return [[_count(rng) for _ in range(n_cols)] for _ in range(n_rows)]


def _names(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


def random_grid(rng: random.Random) -> CountTable:
    n_rows, n_cols = rng.randint(2, 4), rng.randint(2, 5)
    return CountTable(_names("r", n_rows), _names("2026-0", n_cols), _counts(rng, n_rows, n_cols),
                      row_totals=True, column_totals=True, grand_total=True)


def random_margins(rng: random.Random) -> CountTable:
    n_rows, n_cols = rng.randint(2, 4), rng.randint(2, 4)
    flags = [rng.random() < 0.5 for _ in range(3)]
    return CountTable(_names("r", n_rows), _names("c", n_cols), _counts(rng, n_rows, n_cols),
                      row_totals=flags[0], column_totals=flags[1], grand_total=flags[2])


def random_series(rng: random.Random) -> CountTable:
    n_cols = rng.randint(2, 8)
    return CountTable(["Sjukfall"], _names("m", n_cols), _counts(rng, 1, n_cols),
                      row_totals=rng.random() < 0.5, grand_total=True)


def random_hierarchy(rng: random.Random) -> CountTable:
    n_rows, n_cols = rng.randint(3, 5), rng.randint(2, 3)
    rows = _names("g", n_rows)
    split = rng.randint(1, n_rows - 1)
    return CountTable(rows, _names("m", n_cols), _counts(rng, n_rows, n_cols), row_totals=True, column_totals=True,
                      grand_total=True, groups={"A": rows[:split], "B": rows[split:]})


def random_quarters(rng: random.Random) -> CountTable:
    """Months with a published sum of the first months per row (a quarter) besides the margins."""
    n_rows, n_cols = rng.randint(2, 3), rng.randint(3, 4)
    rows, cols = _names("r", n_rows), _names("m", n_cols)
    quarter = {(r, "Q1"): {(r, c) for c in cols[:2]} for r in rows}
    return CountTable(rows, cols, _counts(rng, n_rows, n_cols), row_totals=True, column_totals=True,
                      grand_total=True, sums=quarter)


KINDS = {"grid": (random_grid, 200), "margins": (random_margins, 100), "series": (random_series, 120),
         "hierarchy": (random_hierarchy, 100), "quarters": (random_quarters, 50)}


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("marked_apart", [False, True], ids=["one marker", "marked apart"])
def test_no_suppressed_count_below_5_can_be_computed_from_random_tables(kind, marked_apart):
    make, n = KINDS[kind]
    rng = random.Random(f"{kind}-20260101")
    hidden = shown_small = 0
    for _ in range(n):
        table = make(rng)
        published = check(table, marked_apart=marked_apart)
        hidden += len(published.suppressed)
        shown_small += sum(1 for line in table.counts for v in line if v < THRESHOLD)
    assert shown_small and hidden >= shown_small  # the tables did have small counts to protect


# --- The attack can tell -----------------------------------------------------------------------


def test_the_reader_recovers_a_count_from_the_totals_when_only_it_is_hidden():
    """The attack is not toothless: hiding just the small counts gives them away."""
    table = CountTable(["Kvinnor", "Män"], ["2026-01"], [[3], [20]], column_totals=True)
    sums = published_sums(table)
    reader = Reader(table, {sums[("Kvinnor", "2026-01")]}, marked_apart=False)
    assert reader.recovered() == [sums[("Kvinnor", "2026-01")]]
    bridge = CountTable(list("0123"), list("abcd"), [[1, 2, 3, 20], [2, 1, 20, 20], [20, 20, 1, 2], [20, 20, 2, 1]],
                        row_totals=True, column_totals=True, grand_total=True)
    small = {frozenset([(r, c)]) for i, r in enumerate(bridge.rows) for j, c in enumerate(bridge.columns)
             if bridge.counts[i][j] < THRESHOLD}
    assert Reader(bridge, small, marked_apart=False).recovered() == [frozenset([("0", "c")])]


# --- Hand-made tables --------------------------------------------------------------------------


def test_gender_split_hides_both_genders_and_shows_the_total():
    table = CountTable(["Kvinnor", "Män"], ["Sjukfall"], [[3], [20]], column_totals=True)
    published = check(table)
    assert published.value("Kvinnor", "Sjukfall") is SUPPRESSED
    assert published.value("Män", "Sjukfall") is SUPPRESSED
    assert published.value(TOTAL, "Sjukfall") == 23
    assert published.suppressed == {("Kvinnor", "Sjukfall"), ("Män", "Sjukfall")}


def test_a_table_without_small_counts_is_shown_whole():
    table = CountTable(["Kvinnor", "Män"], ["2026-01", "2026-02"], [[5, 12], [7, 30]], row_totals=True,
                       column_totals=True, grand_total=True)
    published = check(table)
    assert published.suppressed == frozenset()
    assert published.value(TOTAL, TOTAL) == 54 and published.value("Män", TOTAL) == 37


def test_a_single_series_with_a_grand_total_hides_the_next_smallest_month():
    table = CountTable(["Sjukfall"], ["jan", "feb", "mar", "apr", "maj"], [[12, 3, 8, 15, 9]], grand_total=True)
    published = check(table)
    assert published.suppressed == {("Sjukfall", "feb"), ("Sjukfall", "mar")}  # 8 is the smallest other month
    assert published.value(TOTAL, TOTAL) == 47


def test_a_single_series_ties_hide_the_last_month_and_without_a_total_only_small_counts_hide():
    tie = CountTable(["Sjukfall"], ["jan", "feb", "mar"], [[9, 2, 9]], row_totals=True, grand_total=True)
    assert check(tie).suppressed == {("Sjukfall", "feb"), ("Sjukfall", "mar")}
    no_total = CountTable(["Sjukfall"], ["jan", "feb", "mar"], [[9, 2, 9]])
    assert check(no_total).suppressed == {("Sjukfall", "feb")}


def test_zeros_that_add_up_to_zero_are_not_protected_by_each_other():
    """Two suppressed zeros in a sum whose other cells are shown add up to 0: both are known. A third cell hides."""
    table = CountTable(["Sjukfall"], ["jan", "feb", "mar"], [[0, 0, 10]], grand_total=True)
    published = check(table)
    assert published.suppressed == {("Sjukfall", "jan"), ("Sjukfall", "feb"), ("Sjukfall", "mar")}
    assert published.value(TOTAL, TOTAL) == 10


def test_two_by_two_with_margins_hides_the_whole_square_and_shows_every_margin():
    table = CountTable(["Kvinnor", "Män"], ["2026-01", "2026-02"], [[3, 10], [12, 20]], row_totals=True,
                       column_totals=True, grand_total=True)
    published = check(table)
    assert published.suppressed == {("Kvinnor", "2026-01"), ("Kvinnor", "2026-02"), ("Män", "2026-01"),
                                    ("Män", "2026-02")}
    assert [published.value(*ref) for ref in [("Kvinnor", TOTAL), ("Män", TOTAL), (TOTAL, "2026-01"),
                                              (TOTAL, "2026-02"), (TOTAL, TOTAL)]] == [13, 32, 15, 30, 45]


def test_a_bridge_between_two_hidden_squares_is_protected_beyond_two_per_line():
    """Every row and column has two or more suppressed cells, yet (0, c) = rows 0-1 minus columns a-b: the audit
    hides one more cell so that (0, c) lies on a cycle."""
    table = CountTable(list("0123"), list("abcd"), [[1, 2, 3, 20], [2, 1, 20, 20], [20, 20, 1, 2], [20, 20, 2, 1]],
                       row_totals=True, column_totals=True, grand_total=True)
    published = check(table)
    small = {(r, c) for i, r in enumerate("0123") for j, c in enumerate("abcd") if table.counts[i][j] < 5}
    assert published.suppressed == small | {("0", "d")}


def test_a_hierarchy_protects_a_small_chapter_month_from_the_column_total():
    """Chapter A in January is 3; the "Totalt" row minus chapter B would give it away."""
    table = CountTable(["a1", "a2", "b1", "b2"], ["jan", "feb"], [[1, 10], [2, 12], [20, 15], [30, 25]],
                       row_totals=True, column_totals=True, grand_total=True,
                       groups={"A": ["a1", "a2"], "B": ["b1", "b2"]})
    published = check(table)
    # a1, a2 and A in both months, and the cheapest way to let A's January change: the monthly totals
    assert published.suppressed == {(r, m) for r in ["a1", "a2", "A", TOTAL] for m in ["jan", "feb"]}
    assert published.value("A", TOTAL) == 25 and published.value(TOTAL, TOTAL) == 115
    assert published.value("B", "jan") == 50 and published.value("b1", "jan") == 20


def test_nested_groups_and_a_group_of_one_row():
    table = CountTable(["F30", "F32", "F43", "M54"], ["jan", "feb"], [[2, 9], [6, 8], [40, 35], [1, 12]],
                       row_totals=True, column_totals=True, grand_total=True,
                       groups={"F3": ["F30", "F32"], "F": ["F3", "F43"], "M": ["M54"]})
    published = check(table)
    assert published.value("M", "jan") is SUPPRESSED and published.value("M", TOTAL) == 13
    assert published.value("F", TOTAL) == 100


def test_marked_apart_protects_against_a_reader_who_knows_which_are_at_least_5():
    """Kvinnor 0 and Män 5 in January, total 5: with one marker both hide; marked apart, a reader knows Män >= 5,
    so Män = 5 and Kvinnor = 0; the totals must hide instead."""
    table = CountTable(["Kvinnor", "Män"], ["jan", "feb"], [[0, 9], [5, 30]], row_totals=True, column_totals=True,
                       grand_total=True)
    alike = check(table)
    assert alike.suppressed == {("Kvinnor", "jan"), ("Kvinnor", "feb"), ("Män", "jan"), ("Män", "feb")}
    with pytest.raises(ValueError):
        alike.is_below_threshold("Kvinnor", "jan")
    apart = check(table, marked_apart=True)
    assert apart.value(TOTAL, "jan") is SUPPRESSED
    assert apart.is_below_threshold("Kvinnor", "jan") and not apart.is_below_threshold(TOTAL, "jan")
    assert Reader(table, hidden_sets(table, alike), marked_apart=True).recovered()  # the one-marker result leaks


def test_a_small_total_is_hidden_and_protected():
    table = CountTable(["Kvinnor", "Män"], ["jan", "feb", "mar"], [[1, 0, 2], [12, 9, 30]], row_totals=True,
                       column_totals=True, grand_total=True)
    published = check(table)
    assert published.value("Kvinnor", TOTAL) is SUPPRESSED  # 3
    assert published.value("Män", TOTAL) is SUPPRESSED  # else Kvinnor = grand total - Män


def test_ratios_are_shown_only_with_both_counts():
    assert ratio(7, 20) == 0.35
    assert ratio(12, 4000, per=1000) == 3.0
    assert ratio(SUPPRESSED, 20) is SUPPRESSED
    assert ratio(7, SUPPRESSED) is SUPPRESSED
    assert ratio(3, 20) is SUPPRESSED  # a raw count below 5 is not shown
    assert ratio(publish_count(4), publish_count(40)) is SUPPRESSED
    published = suppress(CountTable(["Komplettering", "Ingen"], ["2026-01"], [[3], [40]], column_totals=True))
    assert ratio(published.value("Komplettering", "2026-01"), published.value(TOTAL, "2026-01"),
                 per=100) is SUPPRESSED
    assert ratio(5, 0) is SUPPRESSED  # a denominator below 5, zero included, is not shown either
    assert publish_count(5) == 5 and publish_count(0) is SUPPRESSED


@pytest.mark.parametrize("kwargs, message", [
    ({"counts": [[1, 2]]}, "one line per row"),
    ({"counts": [[1, -2], [3, 4]]}, "not negative"),
    ({"rows": ["a", TOTAL]}, "margins"),
    ({"groups": {"g": ["a", "x"]}}, "neither a row nor a group"),
    ({"groups": {"g": ["h"], "h": ["g"]}}, "contains itself"),
    ({"sums": {("s", "t"): [("a", "z")]}}, "not a cell"),
    ({"sums": {("a", "x"): [("a", "y"), ("b", "y")]}}, "two values"),
    ({"sums": {("d", "d"): [("a", "x"), ("b", "y")]}}, "two nested families"),
])
def test_malformed_tables_are_refused(kwargs, message):
    base = {"rows": ["a", "b"], "columns": ["x", "y"], "counts": [[1, 2], [3, 4]], "row_totals": True,
            "column_totals": True}
    with pytest.raises(ValueError, match=message):
        suppress(CountTable(**{**base, **kwargs}))
