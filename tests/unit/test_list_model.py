"""The one list model (domain.list_model) and the three lists declared with it: Mina intyg, Rehabstöd's
ongoing cases and läkarutlåtanden. Each list's filters, sorts, columns and page size live in its MODEL;
the query, tags, sort links, parsing, matching, sorting and paging are the same code for all three."""
from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date
from typing import ClassVar

import pytest

from portal.domain import certificates, lakarutlatanden, list_model, ongoing
from portal.domain.filter_params import FROM_AFTER_TO

FILTERS = {"mina-intyg": certificates.Filters, "sjukfall": ongoing.Filters, "lakarutlatanden": lakarutlatanden.Filters}

#: For each list, every filter set to a valid value (as the URL gives it), and the choices given when parsing.
EVERYTHING = {
    "mina-intyg": ({"typ": ["FK7804"], "enhet": ["U1"], "ar": ["2026"], "skickat": ["no"], "sortering": ["oldest"]},
                   {"types": ["FK7804"], "units": ["U1"], "years": ["2026"]}),
    "sjukfall": ({"kapitel": ["F00-F99"], "lakare": ["DR1"], "alder_fran": ["20"], "alder_till": ["60"], "kon": ["F"],
                  "langd": ["90-180"], "slut_fran": ["2026-01-01"], "slut_till": ["2026-12-31"], "grad": ["50"],
                  "arenden": ["1"], "fritext": ["anna"], "sortera": ["namn"], "ordning": ["desc"],
                  "personuppgifter": ["0"]}, {}),
    "lakarutlatanden": ({"typ": ["FK7800"], "kapitel": ["M00-M99"], "lakare": ["DR2"], "signerad_fran": ["2026-01-01"],
                         "signerad_till": ["2026-02-01"], "sortera": ["alder"], "ordning": ["asc"],
                         "personuppgifter": ["0"]}, {"types": ["FK7800"]}),
}


@pytest.mark.parametrize("name", FILTERS)
def test_every_filter_of_every_list_reads_back_from_its_own_query(name):
    cls = FILTERS[name]
    args, allowed = EVERYTHING[name]
    filters, errors = list_model.parse(cls, args, allowed)
    assert errors == []
    assert filters.active and all(getattr(filters, f.name) not in ((), None, "", False) for f in cls.MODEL.fields)
    query = filters.as_query()
    assert sorted(query) == sorted((p, v) for p, vs in args.items() for v in vs)
    again, _ = list_model.parse(cls, {p: [v for q, v in query if q == p] for p, _ in query}, allowed)
    assert again == filters
    # every chosen value is one removable tag, and removing it keeps the sort
    assert len(filters.tags()) == len(cls.MODEL.fields)
    for param, value, rest in filters.tags():
        assert (param, value) not in rest
        assert [p for p in rest if p[0] in cls.MODEL.not_filters] == [p for p in query if p[0] in cls.MODEL.not_filters]


@pytest.mark.parametrize("name", FILTERS)
def test_a_list_without_parameters_is_unfiltered_in_its_default_order(name):
    cls = FILTERS[name]
    filters, errors = list_model.parse(cls, {}, {})
    assert filters == cls() and errors == [] and not filters.active and filters.as_query() == []
    assert filters.sort_key == cls.MODEL.default_sort


def test_a_filters_class_must_have_exactly_its_models_fields():
    @dataclass(frozen=True)
    class Forgot(list_model.ListFilters):
        MODEL: ClassVar[list_model.ListModel] = ongoing.MODEL
        chapters: tuple[str, ...] = ()
        sort: str | None = None

    with pytest.raises(TypeError, match="declares"):
        list_model.check_filters_class(Forgot)
    for cls in FILTERS.values():
        list_model.check_filters_class(cls)  # the three lists are whole
        assert {f.name for f in fields(cls)} >= {f.name for f in cls.MODEL.fields}


def test_a_model_refuses_a_filter_declared_twice_or_an_unknown_default_sort():
    field = ongoing.MODEL.fields[0]
    with pytest.raises(ValueError, match="twice"):
        list_model.ListModel(name="x", fields=(field, field), default_sort="slut", tie_order=list,
                             columns=ongoing.MODEL.columns)
    with pytest.raises(ValueError, match="default sort"):
        list_model.ListModel(name="x", fields=(), default_sort="nope", tie_order=list, columns=ongoing.MODEL.columns)


def test_a_from_after_its_to_is_one_error_on_the_from_and_leaves_both_out():
    filters, errors = list_model.parse(lakarutlatanden.Filters, {"signerad_fran": ["2026-03-01"],
                                                                 "signerad_till": ["2026-02-01"]}, {})
    assert errors == [("signerad_fran", FROM_AFTER_TO)]
    assert filters.signed_from is None and filters.signed_to is None


def test_errors_come_in_the_order_of_the_lists_fields():
    _, errors = list_model.parse(ongoing.Filters, {"fritext": ["x" * 101], "slut_till": ["igår"],
                                                   "alder_fran": ["tjugo"]}, {})
    assert [param for param, _ in errors] == ["alder_fran", "slut_till", "fritext"]


def test_columns_by_role_and_personal_data_come_from_the_model():
    model = ongoing.MODEL
    assert model.visible_columns(coordinator=True) == list(model.column_keys)
    assert "lakare" not in model.visible_columns(coordinator=False)
    hidden = model.visible_columns(coordinator=True, show_personal=False)
    assert "personnummer" not in hidden and "namn" not in hidden and "alder" in hidden
    assert "nr" not in model.sort_keys  # the row number is not sortable
    lu = lakarutlatanden.MODEL
    assert lu.first_order("signerad") == "desc" and lu.first_order("namn") == "asc"


@dataclass(frozen=True)
class Item:
    id: str
    signed: date


def test_named_sorts_go_their_own_way_whatever_the_order_says():
    model = list_model.ListModel(
        name="t", fields=(), default_sort="newest", tie_order=lambda rows: sorted(rows, key=lambda r: r.id),
        named_sorts=(list_model.Sort("newest", lambda r: r.signed, "desc", fixed=True),
                     list_model.Sort("oldest", lambda r: r.signed, "asc", fixed=True)),
        order_param=None, sort_param="sortering")
    rows = [Item("a", date(2026, 1, 1)), Item("b", date(2026, 3, 1)), Item("c", date(2026, 2, 1))]
    assert [r.id for r in list_model.sort_rows(model, rows)] == ["b", "c", "a"]
    assert [r.id for r in list_model.sort_rows(model, rows, "oldest", "desc")] == ["a", "c", "b"]
    assert [r.id for r in list_model.sort_rows(model, rows, "unknown")] == ["b", "c", "a"]
    # Mina intyg's default sort is left out of its links: "sortering=newest" reads as no sort
    assert list_model.parse(certificates.Filters, {"sortering": ["newest"]}, {})[0].as_query() == []


def test_paging_takes_the_nearest_page_and_counts_the_offset():
    items = list(range(230))
    rows, page = list_model.paginate(items, 3, 100)
    assert rows == items[200:] and (page.number, page.count, page.offset) == (3, 3, 200)
    assert list_model.paginate(items, 9, 100)[1].number == 3
    assert list_model.paginate([], 1, 25)[1] == list_model.Page(1, 1, 25)
    assert [list_model.page_number({"sida": [v]}) for v in ("2", "x", "-1", "9" * 20)] == [2, 1, 1, 1]
    assert certificates.PAGE_SIZE == 25 and ongoing.MODEL.page_size == lakarutlatanden.MODEL.page_size == 100
