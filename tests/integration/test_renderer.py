"""The one renderer shows any certificate from its type definition, including a type added as a file."""
from __future__ import annotations

from flask import render_template_string

from conftest import make_test_app

NEW_TYPE = """
code: XX1234
version: "1.0"
name: {sv: "Intyg om provtyp", en: "Certificate of a test type"}
recipient: null
citizen_visible: true
sick_leave: false
rehab: none
sections:
  - id: bedomning
    title: {sv: "Bedömning", en: "Assessment"}
    questions:
      - id: summary
        label: {sv: "Sammanfattning", en: "Summary"}
        kind: text
        required: true
        max_length: 100
      - id: fit
        label: {sv: "Bedöms lämplig", en: "Judged fit"}
        kind: yes_no
        required: true
      - id: valid_period
        label: {sv: "Giltighetstid", en: "Valid"}
        kind: date_range
  - id: tom
    title: {sv: "Tomt avsnitt", en: "Empty section"}
    questions:
      - id: note
        label: {sv: "Anteckning", en: "Note"}
        kind: text
"""

RENDER = '{% import "certificates/_render.html" as c %}{{ c.render(ctype, content) }}'


def test_a_type_added_as_a_file_is_validated_and_rendered(tmp_path, sqlite_url):
    folder = tmp_path / "types"
    folder.mkdir()
    (folder / "xx1234.yaml").write_text(NEW_TYPE, encoding="utf-8")
    app = make_test_app(sqlite_url, CERTIFICATE_TYPE_DIRS=[str(folder)])
    from portal.domain import certificate_types as ct

    ctype = app.extensions["certificate_types"]["XX1234"]
    good = {"summary": "Inga hinder", "fit": False, "valid_period": {"start": "2026-11-01", "end": "2027-10-31"}}
    assert ct.validate(ctype, good) == []
    assert [str(p) for p in ct.validate(ctype, {"summary": "x" * 101})] == [
        "content.summary: is 101 characters; at most 100 allowed", "content.fit: is required"]
    with app.test_request_context():
        html = render_template_string(RENDER, ctype=ctype, content=good)
    assert '<h2 class="app-heading-m" id="cert-bedomning">Bedömning</h2>' in html
    assert "<dt class=\"app-summary-list__key\">Bedöms lämplig</dt>" in html
    assert ">Nej</dd>" in html
    assert "1 november 2026 – 31 oktober 2027" in html
    assert "Tomt avsnitt" not in html  # sections without answers are left out
    # and the type has its own page, like the built-in ones
    assert "Intyg om provtyp" in app.test_client().get("/intygstyper/XX1234").get_data(as_text=True)


def test_fk7804_rendered_in_english_with_periods_table(sqlite_url):
    app = make_test_app(sqlite_url)
    ctype = app.extensions["certificate_types"]["FK7804"]
    content = {"diagnoses": [{"code": "M54.5", "text": "Lumbago"}],
               "sick_leave_periods": [{"start": "2026-11-16", "end": "2026-11-29", "degree": 50},
                                      {"start": "2026-11-02", "end": "2026-11-15", "degree": 100}],
               "occupation": ["NUVARANDE_ARBETE"], "smittbararpenning": False}
    with app.test_request_context(headers={"Cookie": "lang=en"}):
        html = render_template_string(RENDER, ctype=ctype, content=content)
    assert "Diagnosis" in html and "M54.5</span> Lumbago" in html
    assert "Current job" in html
    rows = html.split("<tbody>")[1]
    assert rows.index("100 %") < rows.index("50 %")  # periods in date order
    assert "2 November 2026" in rows
    assert "Disease carrier allowance" not in html  # an unticked checkbox is not shown
