"""A statistics report as what may be shown: counts from the statistics tables put in a months × categories
table with its totals, published through domain/suppression.py, a year earlier beside it when asked, the charts'
geometry, and the same table for Excel. No request handling here; the blueprint calls `build` and `as_export`.

A published figure is a count (int) or one of two marks (`suppression.suppress(..., marked_apart=True)`):
LOW, a count below 5, shown as "färre än 5"; HIDDEN, a larger count hidden because the totals would otherwise
give a count below 5 away, shown as "dolt". Marking them apart tells the reader that a hidden figure is 5 or
more; the suppression is computed knowing that, so it stays safe.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Union

from flask_babel import gettext as _
from sqlalchemy import select

from ..domain import charts
from ..domain import statistics as st
from ..i18n import month_name
from ..repository import statistics as store

LOW, HIDDEN = "LOW", "HIDDEN"
Figure = Union[int, str]  # a count, LOW or HIDDEN


@dataclass
class Published:
    """A months × categories table as it may be shown."""

    months: list[date]
    cells: list[list[Figure]]  # [month][category]
    month_totals: list[Figure] | None  # None: a month's figures do not add up (the flows)
    category_totals: list[Figure]
    total: Figure | None


@dataclass
class Ratio:
    """One row of a share report: the certificates, those with a request, and the share (None: not shown)."""

    key: str
    label: str
    count: Figure
    of: Figure
    share: float | None


@dataclass
class Rate:
    """One unit of a region's listing: its listed patients, its sick-leave cases in the period and per 1 000 listed
    (None: not shown), and the same a year earlier when compared."""

    key: str
    label: str
    listed: int
    cases: Figure
    per_1000: float | None
    previous_cases: Figure | None = None
    previous_per_1000: float | None = None


@dataclass
class Built:
    columns: list[tuple[str, str]]
    table: Published
    previous: Published | None = None  # the same months a year earlier (when compared)
    ratios: list[Ratio] = field(default_factory=list)
    rates: list[Rate] = field(default_factory=list)
    chart_months: charts.BarChart | None = None
    chart_categories: charts.BarChart | None = None
    suppressed_any: bool = False


def _published(table, marked) -> Any:
    """A reader of one suppress() result: (row, column) -> the count, LOW or HIDDEN."""
    from ..domain import suppression as sp

    def figure(row: str, column: str) -> Figure:
        value = marked.value(row, column)
        if value is sp.SUPPRESSED:
            return LOW if marked.is_below_threshold(row, column) else HIDDEN
        return int(value)

    return figure


def publish(session, months: list[date], keys: list[str], matrix: list[list[int]],
            month_totals: bool = True) -> Published:
    """The table with its category totals (and month totals and the total when a month's figures add up),
    through the suppression rules."""
    from ..domain import suppression as sp

    rows = [m.isoformat() for m in months]
    table = sp.CountTable(rows=rows, columns=keys, counts=matrix, row_totals=month_totals, column_totals=True,
                          grand_total=month_totals)
    figure = _published(table, store.suppressed(session, table, marked_apart=True))
    return Published(months, [[figure(r, k) for k in keys] for r in rows],
                     [figure(r, sp.TOTAL) for r in rows] if month_totals else None,
                     [figure(sp.TOTAL, k) for k in keys], figure(sp.TOTAL, sp.TOTAL) if month_totals else None)


def _matrix(counts: dict[tuple[date, str], int], months: list[date], keys: list[str]) -> list[list[int]]:
    return [[counts.get((m, k), 0) for k in keys] for m in months]


def _where(rep: st.Report, filters: st.Filters) -> dict:
    """The cube's limits: the filters', and for the reports by category the chapter or the chosen diagnoses."""
    where = dict(filters.where())
    if rep.id == "inom-kapitel":
        where["chapter"] = (st.chapter_within(filters, {}),)
    elif rep.id == "jamfor-diagnoser":
        where["category"] = filters.diagnoses or st.DEFAULT_DIAGNOSES
    return where


def _counts(session, rep: st.Report, scope: store.Scope, filters: st.Filters, first: date,
            last: date) -> dict[tuple[date, str], int]:
    if rep.source in (st.CASES, st.CATEGORIES, st.COUNTIES, st.DOCTORS):
        return store.case_counts(session, scope, first, last, rep.by or "all", _where(rep, filters))
    if rep.source == st.FLOWS:
        return store.flow_counts(session, scope, first, last, filters.where())
    if rep.source == st.QUESTIONS:
        return store.question_counts(session, scope, first, last)
    return {k: n for k, (n, _k) in store.certificate_counts(session, scope, first, last).items()}


def _ratios(session, scope: store.Scope, filters: st.Filters, codes: list[str]) -> list[Ratio]:
    """Per type: certificates, those that got a komplettering request, and the share. Published as one table
    (asked / not asked per type, with each type's total), so that no count below 5 follows from total − asked."""
    from ..domain import suppression as sp

    counts = store.certificate_counts(session, scope, filters.first, filters.last)
    totals = {code: sum(n for (_m, c), (n, _k) in counts.items() if c == code) for code in codes}
    asked = {code: sum(k for (_m, c), (_n, k) in counts.items() if c == code) for code in codes}
    used = [code for code in codes if totals[code]]
    out = [Ratio(code, code, LOW, LOW, None) for code in codes if not totals[code]]
    if used:
        table = sp.CountTable(rows=("asked", "not_asked"), columns=used,
                              counts=([asked[c] for c in used], [totals[c] - asked[c] for c in used]),
                              column_totals=True)
        marked = store.suppressed(session, table, marked_apart=True)
        figure = _published(table, marked)
        for code in used:
            share = sp.ratio(marked.value("asked", code), marked.value(sp.TOTAL, code))
            out.append(Ratio(code, code, figure("asked", code), figure(sp.TOTAL, code),
                             None if share is sp.SUPPRESSED else float(share)))  # type: ignore[arg-type]
    order = {code: i for i, code in enumerate(codes)}
    return sorted(out, key=lambda r: order[r.key])


def _rates(session, listing: list[tuple[str, str, int]], filters: st.Filters) -> list[Rate]:
    """Per listed unit (id, name, listed): the cases in the period and per 1 000 listed, published as one column of
    counts with its total (the region's), so no count below 5 follows from the total."""
    from ..domain import suppression as sp

    if not listing:
        return []
    units = {sub: unit for unit, _name, _listed in listing for sub in store.unit_and_subunits(session, unit)}
    keys = [unit for unit, _name, _listed in listing]
    listed = {unit: n for unit, _name, n in listing}

    def published(first: date, last: date) -> tuple[Any, Any]:
        counts = store.cases_in_period(session, units, first, last, filters.where())
        table = sp.CountTable(rows=keys, columns=["cases"], counts=[[counts.get(k, 0)] for k in keys],
                              row_totals=False, column_totals=True)
        marked = store.suppressed(session, table, marked_apart=True)
        return _published(table, marked), marked

    def per_1000(figure: Figure, of: int) -> float | None:
        return figure * 1000 / of if isinstance(figure, int) and of else None

    figure, _marked = published(filters.first, filters.last)
    earlier = None
    if filters.compare:
        earlier, _m = published(st.year_earlier(filters.first), st.year_earlier(filters.last))
    out = []
    for unit, name, n in listing:
        rate = Rate(unit, name, n, figure(unit, "cases"), per_1000(figure(unit, "cases"), n))
        if earlier is not None:
            rate.previous_cases = earlier(unit, "cases")
            rate.previous_per_1000 = per_1000(rate.previous_cases, n)
        out.append(rate)
    total_listed = sum(listed.values())
    total = Rate(sp.TOTAL, _("Hela regionen"), total_listed, figure(sp.TOTAL, "cases"),
                 per_1000(figure(sp.TOTAL, "cases"), total_listed))
    if earlier is not None:
        total.previous_cases = earlier(sp.TOTAL, "cases")
        total.previous_per_1000 = per_1000(total.previous_cases, total_listed)
    return out + [total]


def build(session, rep: st.Report, scope: store.Scope, filters: st.Filters, lang: str, registry,
          listing: list[tuple[str, str, int]] | None = None) -> Built:
    """The report for the scope and filters; `listing` (unit id, name, listed patients) for the report per 1 000
    listed (a region's)."""
    months = filters.months
    if rep.source == st.LISTED:
        rates = _rates(session, listing or [], filters)
        figures = [r.cases for r in rates] + [r.previous_cases for r in rates if r.previous_cases is not None]
        built = Built([], Published(months, [], [], [], 0), rates=rates,
                      suppressed_any=any(not isinstance(v, int) for v in figures))
        built.chart_categories = charts.bar_chart(
            [(r.key, r.label, round(r.per_1000 or 0)) for r in rates[:-1]])
        return built
    codes = list(registry.codes()) if rep.source in (st.CERTIFICATES, st.KOMPLETTERING) else []
    units = store.scope_units(session, scope) if rep.by == "unit_id" else []
    columns = st.categories(rep, lang, codes, units)
    if rep.source == st.CATEGORIES:
        columns = _category_columns(session, rep, scope, filters)
    if rep.source == st.KOMPLETTERING:
        ratios = _ratios(session, scope, filters, codes)
        for r in ratios:
            ctype = registry.get(r.key)
            r.label = f"{ctype.name.get(lang)} ({r.key})" if ctype else r.key
        return Built(columns, Published(months, [], [], [], 0), ratios=ratios,
                     suppressed_any=any(not isinstance(r.count, int) or not isinstance(r.of, int) for r in ratios))
    chosen = {"chapter": filters.chapters, "age_group": filters.age_groups,
              "degree": tuple(str(d) for d in filters.degrees),
              "group": tuple(st.chapter_group(c) for c in filters.chapters),
              "unit_id": filters.units}.get(rep.by or "", ())
    if chosen:  # a report split by what the filter limits: only the chosen columns (the others are not zeros)
        columns = [(k, label) for k, label in columns if k in chosen]
    keys = [k for k, _label in columns]
    counts = _counts(session, rep, scope, filters, months[0], months[-1])
    table = publish(session, months, keys, _matrix(counts, months, keys), rep.has_month_totals)
    previous = None
    if filters.compare:
        earlier = [st.year_earlier(m) for m in months]
        counts = _counts(session, rep, scope, filters, earlier[0], earlier[-1])
        previous = publish(session, earlier, keys, _matrix(counts, earlier, keys), rep.has_month_totals)
    built = Built(columns, table, previous)
    built.suppressed_any = _any_suppressed(table) or (previous is not None and _any_suppressed(previous))
    built.chart_months = _month_chart(table, previous) if rep.has_month_totals else None
    built.chart_categories = charts.bar_chart(
        [(k, label, _bar(table.category_totals[i])) for i, (k, label) in enumerate(columns)])
    return built


def _category_columns(session, rep: st.Report, scope: store.Scope, filters: st.Filters) -> list[tuple[str, str]]:
    """The columns of a report by ICD-10 category: the chosen diagnoses, in the order given; within a chapter, the
    categories with cases in the period (or the year before, when compared), in code order."""
    if rep.id == "jamfor-diagnoser":
        return [(c, c) for c in filters.diagnoses or st.DEFAULT_DIAGNOSES]
    months = filters.months
    found = {k for _m, k in _counts(session, rep, scope, filters, months[0], months[-1])}
    if filters.compare:
        found |= {k for _m, k in _counts(session, rep, scope, filters, st.year_earlier(months[0]),
                                           st.year_earlier(months[-1]))}
    return [(c, c) for c in sorted(found)]


def prewarm(session, registry, today: date) -> int:
    """The default view (the last 18 months, no filter) of every national report and of every care provider's,
    published once, so the first reader of each after the job need not wait for its suppression
    (store.suppressed keeps it). Needs a request context (labels). Returns the reports built."""
    from ..models import CareProvider

    filters, _errors = st.parse_filters({}, today)
    scopes = [(st.NATION, store.Scope())] + [(st.PROVIDER, store.Scope(provider_id=p))
                                             for p in session.scalars(select(CareProvider.hsa_id).order_by(
                                                 CareProvider.hsa_id))]
    built = 0
    for kind, scope in scopes:
        for rep in st.reports_for(kind):
            if rep.source != st.LISTED:
                build(session, rep, scope, filters, "sv", registry)
                built += 1
    return built


def _bar(value: Figure) -> int:
    return value if isinstance(value, int) else 0


def _any_suppressed(p: Published) -> bool:
    figures = [v for row in p.cells for v in row] + (p.month_totals or []) + p.category_totals + [p.total or 0]
    return any(not isinstance(v, int) for v in figures)


def _month_chart(table: Published, previous: Published | None) -> charts.BarChart:
    items: list[tuple[str, str, int]] = []
    assert table.month_totals is not None
    for i, month in enumerate(table.months):
        items.append((month.isoformat(), month_name(month), _bar(table.month_totals[i])))
        if previous is not None and previous.month_totals is not None:
            items.append((previous.months[i].isoformat() + "-earlier",
                          _("%(month)s (ett år tidigare)", month=month_name(previous.months[i])),
                          _bar(previous.month_totals[i])))
    return charts.bar_chart(items, wrap=30, to_largest=True)


def figure_text(value: Figure) -> str:
    """A published figure as text: the count in the reader's language, "färre än 5" or "dolt" (the pages' filter
    `stat_figure`, called for every cell of a table, so a count is formatted once per process: i18n.number)."""
    from ..i18n import number

    if isinstance(value, int):
        return number(value)
    return _("färre än 5") if value == LOW else _("dolt")


def as_export(built: Built, rep: st.Report, filters: st.Filters, lang: str, scope_name: str, now: datetime):
    """The report as the Excel file shows it: the same figures, suppressed the same way (as text)."""
    from .. import export

    title = rep.title[lang == "en"]
    period = _("%(first)s – %(last)s", first=month_name(filters.first), last=month_name(filters.last))
    rows: list[list[Any]]
    if rep.source == st.LISTED:
        columns = [export.Column("unit", rep.split[lang == "en"]),
                   export.Column("listed", _("Listade patienter"), export.NUMBER),
                   export.Column("cases", _("Sjukfall i perioden"), export.NUMBER),
                   export.Column("per_1000", _("Per 1 000 listade"), export.TEXT)]
        if filters.compare:
            columns += [export.Column("previous", _("Sjukfall ett år tidigare"), export.NUMBER),
                        export.Column("previous_per_1000", _("Per 1 000 listade ett år tidigare"), export.TEXT)]
        rows = []
        for r in built.rates:
            row = [r.label, r.listed, _cell(r.cases), _rate_text(r.per_1000, r.cases)]
            if filters.compare:
                row += [_cell(r.previous_cases or 0), _rate_text(r.previous_per_1000, r.previous_cases or 0)]
            rows.append(row)
    elif rep.source == st.KOMPLETTERING:
        columns = [export.Column("type", rep.split[lang == "en"]),
                   export.Column("of", _("Antal intyg"), export.NUMBER),
                   export.Column("count", _("Med begäran om komplettering"), export.NUMBER),
                   export.Column("share", _("Andel (%)"), export.TEXT)]
        rows = [[r.label, _cell(r.of), _cell(r.count),
                 figure_text(HIDDEN) if r.share is None else f"{r.share * 100:.1f}"] for r in built.ratios]
    else:
        totals = rep.has_month_totals
        columns = [export.Column("month", _("Månad"))] + [
            export.Column(k, label, export.NUMBER) for k, label in built.columns] + (
            [export.Column("total", _("Totalt"), export.NUMBER)] if totals else [])
        rows = []
        for p in [built.table] + ([built.previous] if built.previous else []):
            for i, month in enumerate(p.months):
                rows.append([month_name(month)] + [_cell(v) for v in p.cells[i]]
                            + ([_cell(p.month_totals[i])] if p.month_totals is not None else []))
            span = _("%(first)s – %(last)s", first=month_name(p.months[0]), last=month_name(p.months[-1]))
            rows.append([_("Totalt %(period)s", period=span)] + [_cell(v) for v in p.category_totals]
                        + ([_cell(p.total)] if p.total is not None else []))
    return export.Table(title=title, unit_name=scope_name, printed_at=now, printed_by="Intygsstatistik",
                        count_text=period, columns=columns, rows=rows, extra_text=[NOTE()])


def NOTE() -> str:  # noqa: N802 - a sentence, in the reader's language
    return _("Antal under 5 visas som ”färre än 5”. Ett värde som annars skulle göra det möjligt att räkna ut ett "
             "sådant antal från summorna visas som ”dolt” (det är 5 eller mer).")


def _rate_text(rate: float | None, cases: Figure) -> str:
    from ..i18n import number

    if rate is None:
        return figure_text(cases if cases == LOW else HIDDEN)
    return number(round(rate, 1))


def _cell(value: Figure) -> Any:
    return value if isinstance(value, int) else figure_text(value)
