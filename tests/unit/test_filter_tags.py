"""The filter tags' links: each chosen filter value, and the query of the same list without it."""
from __future__ import annotations

from portal.domain import certificates, lakarutlatanden, rehab


def test_ongoing_tags_remove_one_value_each_and_keep_the_sort_and_the_switch():
    filters, errors = rehab.parse_filters({"kapitel": ["F00-F99", "M00-M99"], "alder_fran": ["20"], "arenden": ["1"],
                                           "sortera": ["namn"], "ordning": ["desc"], "personuppgifter": ["0"]})
    assert errors == []
    tags = filters.tags()
    assert [(p, v) for p, v, _ in tags] == [("kapitel", "F00-F99"), ("kapitel", "M00-M99"), ("alder_fran", "20"),
                                            ("arenden", "1")]
    for param, value, rest in tags:
        assert (param, value) not in rest and len(rest) == len(filters.as_query()) - 1
        assert ("sortera", "namn") in rest and ("ordning", "desc") in rest and ("personuppgifter", "0") in rest
        # the link gives back the same filters less that one value
        again, _ = rehab.parse_filters({p: [v for q, v in rest if q == p] for p, _ in rest})
        assert again.as_query() == rest


def test_no_filters_no_tags():
    assert rehab.Filters(sort="namn", order="desc", show_personal=False).tags() == []
    assert lakarutlatanden.Filters(sort="alder").tags() == []
    assert certificates.Filters(sort="oldest").tags() == []


def test_lakarutlatanden_and_mina_intyg_tags():
    lu, _ = lakarutlatanden.parse_filters({"typ": ["FK7800", "FK7801"], "signerad_fran": ["2026-01-01"],
                                           "sortera": ["alder"], "ordning": ["asc"]})
    assert [(p, v) for p, v, _ in lu.tags()] == [("typ", "FK7800"), ("typ", "FK7801"), ("signerad_fran", "2026-01-01")]
    assert lu.tags()[0][2] == [("typ", "FK7801"), ("signerad_fran", "2026-01-01"), ("sortera", "alder"),
                               ("ordning", "asc")]
    mine = certificates.Filters(types=("FK7804",), years=(2026,), sort="oldest")
    assert mine.tags() == [("typ", "FK7804", [("ar", "2026"), ("sortering", "oldest")]),
                           ("ar", "2026", [("typ", "FK7804"), ("sortering", "oldest")])]
