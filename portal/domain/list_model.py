"""One list model for the portal's three lists (Mina intyg, Rehabstöd's ongoing cases and its
läkarutlåtanden): each list declares its filters, sorts, columns and page size once, in a ``ListModel``,
and the page, the exports and the filter summary (the removable tags) all read that declaration.

- A filter (``Field``) is a GET parameter, read by its kind (choices, free values, a whole number, a
  date, a flag or a free text), with what it accepts, the words of its removable tag and of its errors,
  and which rows it keeps. A "from" field names its "to" field and the pair is checked together.
- A column (``Column``) has a key, a heading, a cell kind for the exports, who sees it, and, when the
  list can be sorted by it, its sort value and the order a header link asks for first. A list without
  columns (Mina intyg) declares named sorts (``Sort``) with a fixed order instead.
- Paging: ``page_size`` and the ``sida`` parameter; a page out of range means the nearest page.

A list's filters are a frozen dataclass deriving from ``ListFilters`` (typed fields named as the model's
``Field``s, plus ``sort``, and ``order`` / ``show_personal`` when the list has them); ``ListFilters``
gives every list the same query, tags and sort links, and ``parse``, ``apply`` and ``sort_rows`` read
and use them. Texts are Swedish msgids marked with ``N_`` for the catalogue and translated where shown.
Pure: no Flask.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from . import filter_params as fp
from .filter_params import FROM_AFTER_TO, TOO_LONG


def N_(text: str) -> str:
    """Marks a text for the message catalogue; it is translated where it is shown."""
    return text


# --- What a list declares ------------------------------------------------------------------------

CHOICE = "choice"  # several values out of the allowed ones (unknown values are dropped)
VALUES = "values"  # several free values of at most 64 characters (HSA-ids)
INT = "int"  # one whole number in `bounds`
DATE = "date"  # one YYYY-MM-DD
FLAG = "flag"  # "1" or nothing
TEXT = "text"  # one free text, spaces collapsed, at most `max_length` characters

#: Export cell kinds (portal.export reads them).
TEXT_CELL, NUMBER_CELL, DATE_CELL, DAYS_CELL = "text", "number", "date", "days"

ORDERS = ("asc", "desc")
PAGE_PARAM = "sida"
MAX_VALUE_LENGTH = 64


@dataclass(frozen=True)
class Field:
    """One filter. ``matches(row, value)`` is asked only when the filter is set (a non-empty tuple, a
    value, a true flag). ``tag`` is the removable tag's text with ``%(value)s`` (the value's label:
    from ``labels``, from what the page passes, or the value itself). ``errors`` maps an error code of
    ``filter_params`` to its message; ``error`` is the message for any other code."""

    name: str
    param: str
    kind: str
    matches: Callable[[Any, Any], bool]
    tag: str
    allowed: tuple[str, ...] | None = None  # CHOICE: None means given when parsing (the citizen's own)
    as_int: bool = False  # CHOICE values are whole numbers (degrees, years)
    bounds: range | None = None  # INT
    to: str | None = None  # a "from" field: the name of its "to" field
    max_length: int = MAX_VALUE_LENGTH
    labels: Mapping[str, str] = field(default_factory=dict)  # value -> msgid
    error: str = N_("Kontrollera värdet")
    errors: Mapping[str, str] = field(default_factory=dict)  # error code -> msgid


@dataclass(frozen=True)
class Column:
    """One column of a table list. ``sort`` None: not sortable. ``coordinators_only``: not shown to a
    doctor; ``personal``: hidden when "Visa personuppgifter" is off."""

    key: str
    label: str
    cell: str = TEXT_CELL
    sort: Callable[[Any], Any] | None = None
    first: str = "asc"
    coordinators_only: bool = False
    personal: bool = False


@dataclass(frozen=True)
class Sort:
    """A way to sort. A column's sort goes both ways (``first`` is the order a header link asks for
    first); a named sort (Mina intyg's "newest", "oldest") always goes its ``first`` way."""

    key: str
    value: Callable[[Any], Any]
    first: str = "asc"
    fixed: bool = False
    label: str = ""  # a named sort's words in the sort menu (msgid)


@dataclass(frozen=True)
class ListModel:
    """A list's filters, columns, sorts and page size. ``tie_order`` puts rows in the order ties keep;
    rows without a sort value come last either way."""

    name: str
    fields: tuple[Field, ...]
    default_sort: str
    tie_order: Callable[[list[Any]], list[Any]]
    columns: tuple[Column, ...] = ()
    named_sorts: tuple[Sort, ...] = ()
    default_order: str = "asc"
    page_size: int = 100
    sort_param: str = "sortera"
    order_param: str | None = "ordning"  # None: the sorts are named, each with its own order
    personal_param: str | None = None  # "Visa personuppgifter"

    def __post_init__(self) -> None:
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names) or len({f.param for f in self.fields}) != len(names):
            raise ValueError(f"{self.name}: a filter declared twice")
        if self.default_sort not in self.sort_keys:
            raise ValueError(f"{self.name}: unknown default sort {self.default_sort!r}")

    @property
    def sorts(self) -> dict[str, Sort]:
        out = {s.key: s for s in self.named_sorts}
        out.update({c.key: Sort(c.key, c.sort, c.first) for c in self.columns if c.sort is not None})
        return out

    @property
    def sort_keys(self) -> tuple[str, ...]:
        return tuple(self.sorts)

    @property
    def column_keys(self) -> tuple[str, ...]:
        return tuple(c.key for c in self.columns)

    def column(self, key: str) -> Column:
        return next(c for c in self.columns if c.key == key)

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    def by_param(self, param: str) -> Field | None:
        return next((f for f in self.fields if f.param == param), None)

    @property
    def params(self) -> dict[str, str]:
        """The GET parameter names, by ``Filters`` field (the sort, order and switch included)."""
        extra = {"sort": self.sort_param, "order": self.order_param, "show_personal": self.personal_param}
        return {f.name: f.param for f in self.fields} | {k: v for k, v in extra.items() if v}

    @property
    def not_filters(self) -> frozenset[str]:
        """The parameters that are not filters (never tags): the sort, the order, the personal switch."""
        return frozenset(p for p in (self.sort_param, self.order_param, self.personal_param) if p)

    def visible_columns(self, *, coordinator: bool, show_personal: bool = True) -> list[str]:
        """The column keys a viewer sees, in order: the page and the exports use the same."""
        return [c.key for c in self.columns
                if (coordinator or not c.coordinators_only) and (show_personal or not c.personal)]

    def first_order(self, key: str) -> str:
        sort = self.sorts.get(key)
        return sort.first if sort else "asc"


# --- A list's filters ------------------------------------------------------------------------------

def _is_set(value: Any) -> bool:
    return value is not None and value != () and value is not False and value != ""


def _pairs(f: Field, value: Any) -> list[tuple[str, str]]:
    if not _is_set(value):
        return []
    if f.kind in (CHOICE, VALUES):
        return [(f.param, str(v)) for v in value]
    if f.kind == DATE:
        return [(f.param, value.isoformat())]
    if f.kind == FLAG:
        return [(f.param, "1")]
    return [(f.param, str(value))]


class ListFilters:
    """What every list's filters can do, from its ``MODEL``. Subclasses are frozen dataclasses with a
    field per ``Field`` (by name) and ``sort``; ``order`` and ``show_personal`` when the model has them.
    ``sort`` None is the model's default sort."""

    MODEL: ClassVar[ListModel]
    sort: str | None

    @property
    def order_value(self) -> str:
        return getattr(self, "order", self.MODEL.default_order)

    @property
    def personal(self) -> bool:
        return bool(getattr(self, "show_personal", True))

    @property
    def active(self) -> bool:
        """True when any filter restricts the list (the sort and the personal-data switch do not)."""
        return any(_is_set(getattr(self, f.name)) for f in self.MODEL.fields)

    def as_query(self, *, sort: bool = True) -> list[tuple[str, str]]:
        """The filters as (parameter, value) pairs for links, defaults left out; ``parse`` gives back
        the same filters. ``sort=False`` leaves out the sort and order."""
        model = self.MODEL
        pairs = [pair for f in model.fields for pair in _pairs(f, getattr(self, f.name))]
        if sort and self.sort is not None:
            pairs.append((model.sort_param, self.sort))
        if sort and model.order_param and self.order_value != model.default_order:
            pairs.append((model.order_param, self.order_value))
        if model.personal_param and not self.personal:
            pairs.append((model.personal_param, "0"))
        return pairs

    def without(self, param: str, value: str | None = None) -> list[tuple[str, str]]:
        """``as_query()`` without one chosen value (or every value of ``param``): a filter tag's link."""
        return fp.without(self.as_query(), param, value)

    def tags(self) -> list[tuple[str, str, list[tuple[str, str]]]]:
        """Each chosen filter value as (parameter, value, the query without it): the removable tags (the
        sort and the personal-data switch are not filters and stay in every tag's query)."""
        return fp.tags(self.as_query(), self.without, self.MODEL.not_filters)

    @property
    def sort_key(self) -> str:
        """The effective sort."""
        return self.sort or self.MODEL.default_sort

    def sort_query(self, key: str) -> list[tuple[str, str]]:
        """A column header's link: sort by ``key``, its first order first, and the other way when the
        list is already sorted by it that way."""
        first = self.MODEL.first_order(key)
        other = "asc" if first == "desc" else "desc"
        order = other if self.sort_key == key and self.order_value == first else first
        changes: dict[str, Any] = {"sort": key}
        if self.MODEL.order_param:
            changes["order"] = order
        return dataclasses.replace(self, **changes).as_query()  # type: ignore[type-var]

    def sort_state(self, key: str) -> str | None:
        """"ascending" / "descending" for the column the list is sorted by (``aria-sort``)."""
        if key != self.sort_key:
            return None
        return "ascending" if self.order_value == "asc" else "descending"


F = TypeVar("F", bound=ListFilters)


def _read(f: Field, args: Mapping[str, Sequence[str]], allowed: Mapping[str, Sequence[str]],
          errors: list[tuple[str, str]]) -> Any:
    if f.kind == CHOICE:
        options = f.allowed if f.allowed is not None else tuple(str(v) for v in allowed.get(f.name, ()))
        picked = fp.choices(args, f.param, options)
        return tuple(int(v) for v in picked) if f.as_int else picked
    if f.kind == VALUES:
        return tuple(v for v in fp.values(args, f.param) if len(v) <= f.max_length)
    if f.kind == INT:
        return fp.parse_int(fp.first(args, f.param), f.param, f.bounds or range(0, 10**6), errors)
    if f.kind == DATE:
        return fp.parse_date(fp.first(args, f.param), f.param, errors)
    if f.kind == FLAG:
        return fp.first(args, f.param) == "1"
    text = " ".join((fp.first(args, f.param) or "").split())
    if len(text) > f.max_length:
        errors.append((f.param, TOO_LONG))
        return ""
    return text


def parse(cls: type[F], args: Mapping[str, Sequence[str]],
          allowed: Mapping[str, Sequence[str]] | None = None) -> tuple[F, list[tuple[str, str]]]:
    """A list's filters from GET parameters (``request.args.to_dict(flat=False)``), and the errors as
    (parameter, code of ``filter_params``). Invalid values are left out, so the list is shown by the
    valid ones; a "from" after its "to" is an error on the "from" and leaves both out. Unknown choice,
    sort and order values are dropped silently; one-value parameters take their first non-empty value;
    "Visa personuppgifter" takes the last (the form sends a hidden 0, then 1 when ticked).
    ``allowed`` gives the choices of fields declared without them, by field name."""
    model = cls.MODEL
    errors: list[tuple[str, str]] = []
    values: dict[str, Any] = {}
    for f in model.fields:
        values[f.name] = _read(f, args, allowed or {}, errors)
    for f in model.fields:
        if f.to and values[f.name] is not None and values[f.to] is not None and values[f.name] > values[f.to]:
            errors.append((f.param, FROM_AFTER_TO))
            values[f.name] = values[f.to] = None
    errors.sort(key=lambda e: [x.param for x in model.fields].index(e[0]))
    sort = fp.first(args, model.sort_param)
    values["sort"] = sort if sort in model.sort_keys and (model.order_param or sort != model.default_sort) else None
    if model.order_param:
        order = fp.first(args, model.order_param)
        values["order"] = order if order in ORDERS else model.default_order
    if model.personal_param:
        raw = args.get(model.personal_param) or []
        values["show_personal"] = "0" not in ([raw] if isinstance(raw, str) else list(raw))[-1:]
    return cls(**values), errors


def apply(rows: Iterable[Any], filters: ListFilters) -> list[Any]:
    """The rows that pass every filter, in their order. Several values of one filter are alternatives;
    different filters must all hold; ranges are inclusive (each bound is its own field)."""
    fields = [(f, getattr(filters, f.name)) for f in filters.MODEL.fields]
    chosen = [(f, value) for f, value in fields if _is_set(value)]
    return [row for row in rows if all(f.matches(row, value) for f, value in chosen)]


def sort_rows(model: ListModel, rows: Iterable[Any], key: str | None = None,
              order: str | None = None) -> list[Any]:
    """The rows sorted by one of the model's sorts ("asc" or "desc"). An unknown or missing key is the
    default sort; an unknown order is the sort's first order. Rows without a value come last either
    way; ties keep the model's ``tie_order``."""
    sorts = model.sorts
    sort = sorts.get(key or "") or sorts[model.default_sort]
    if sort.fixed or order not in ORDERS:
        order = sort.first
    tie_ordered = model.tie_order(list(rows))
    present = [r for r in tie_ordered if sort.value(r) is not None]
    missing = [r for r in tie_ordered if sort.value(r) is None]
    return sorted(present, key=sort.value, reverse=order == "desc") + missing


# --- Paging ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Page:
    number: int
    count: int  # number of pages
    size: int = 100

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.count

    @property
    def offset(self) -> int:
        """How many rows come before this page's first (for row numbers)."""
        return (self.number - 1) * self.size


def page_number(args: Mapping[str, Sequence[str]]) -> int:
    """The page the query asks for (``sida``, its first non-empty value); anything but a whole number of
    ASCII digits (``"²".isdigit()`` is True, but ``int("²")`` fails) of at most six is page 1."""
    value = fp.first(args, PAGE_PARAM) or "1"
    return int(value) if fp.WHOLE_NUMBER.fullmatch(value) and len(value) <= 6 else 1


def paginate(items: list, number: int, size: int) -> tuple[list, Page]:
    """One page of a list (page numbers start at 1; out of range means the nearest page)."""
    count = max(1, -(-len(items) // size))
    number = min(max(1, number), count)
    return items[(number - 1) * size: number * size], Page(number, count, size)


def check_filters_class(cls: type[ListFilters]) -> None:
    """A list's filters class has exactly its model's fields (and the sort, order and switch it uses):
    called where each list is declared, so a filter is never declared in one place and not the other."""
    model = cls.MODEL
    expected = {f.name for f in model.fields} | {"sort"}
    expected |= {"order"} if model.order_param else set()
    expected |= {"show_personal"} if model.personal_param else set()
    found = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    if found != expected:
        raise TypeError(f"{cls.__name__}: fields {sorted(found)} but model {model.name} declares {sorted(expected)}")


__all__ = ["CHOICE", "DATE", "DATE_CELL", "DAYS_CELL", "FLAG", "INT", "NUMBER_CELL", "ORDERS", "PAGE_PARAM", "TEXT",
           "TEXT_CELL", "VALUES", "Column", "Field", "ListFilters", "ListModel", "N_", "Page", "Sort", "apply",
           "check_filters_class", "page_number", "paginate", "parse", "sort_rows"]
