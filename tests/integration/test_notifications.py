"""The notification banner macro: one place for the markup of every banner in Mina intyg and Rehabstöd.

Each variant the pages use is rendered here and its markup asserted: the role (alert, region named by
its title, status for a flashed confirmation), the title's id and heading level, an optional title,
and a body given as escaped text, raw html or the body of a {% call %} block.
"""
from __future__ import annotations

import re

import pytest
from flask import render_template_string

from conftest import make_test_app

IMPORT = '{% from "components/macros.html" import notification %}'


@pytest.fixture(scope="module")
def render(sqlite_url):
    app = make_test_app(sqlite_url)

    def render(source: str, **context) -> str:
        with app.test_request_context("/"):
            return render_template_string(IMPORT + source, **context)

    return render


def opening_tag(html: str) -> str:
    return re.match(r"\s*(<div [^>]*>)", html).group(1)


def test_a_warning_is_an_alert_with_its_title_as_an_h2_and_the_text_escaped(render):
    html = render('{{ notification({"type": "warning", "id": "refusal", "title": "Det går inte", "text": t}) }}',
                  t="<b>fet</b>")
    assert opening_tag(html) == '<div class="app-notification app-notification--warning" role="alert">'
    assert '<h2 class="app-notification__title" id="refusal-title">Det går inte</h2>' in html
    assert '<div class="app-notification__body"><p>&lt;b&gt;fet&lt;/b&gt;</p></div>' in html


def test_an_error_is_an_alert_too(render):
    html = render('{{ notification({"type": "error", "id": "pu", "title": "Svarar inte", "text": "Försök igen."}) }}')
    assert opening_tag(html) == '<div class="app-notification app-notification--error" role="alert">'
    assert 'id="pu-title"' in html


def test_success_and_info_are_regions_named_by_their_title(render):
    html = render('{{ notification({"type": "success", "id": "sent", "title": "Skickat", "text": "Klart."}) }}')
    assert opening_tag(html) == ('<div class="app-notification app-notification--success" role="region" '
                                 'aria-labelledby="sent-title">')
    assert '<h2 class="app-notification__title" id="sent-title">Skickat</h2>' in html
    html = render('{{ notification({"id": "sending", "title": "Skickas…", "text": "På väg."}) }}')
    assert opening_tag(html) == ('<div class="app-notification app-notification--info" role="region" '
                                 'aria-labelledby="sending-title">')


def test_an_explicit_role_overrides_the_default_for_the_type(render):
    html = render('{{ notification({"type": "warning", "role": "region", "id": "replaced", "title": "Ersatt",'
                  ' "text": "Använd det nya."}) }}')
    assert opening_tag(html) == ('<div class="app-notification app-notification--warning" role="region" '
                                 'aria-labelledby="replaced-title">')


def test_a_flashed_confirmation_is_a_status_without_a_title(render):
    html = render('{{ notification({"type": "success", "role": "status", "text": "Inställningarna är sparade."}) }}')
    assert html == ('<div class="app-notification app-notification--success" role="status">\n'
                    '  <div class="app-notification__body"><p>Inställningarna är sparade.</p></div>\n</div>')
    assert "<h2" not in html and "aria-labelledby" not in html


def test_the_heading_level_can_be_set_for_a_banner_inside_a_section(render):
    html = render('{{ notification({"type": "warning", "role": "region", "id": "note", "heading_level": 3,'
                  ' "title": "Kan inte besvaras", "text": "Ett nytt intyg behövs."}) }}')
    assert '<h3 class="app-notification__title" id="note-title">Kan inte besvaras</h3>' in html
    assert "<h2" not in html


def test_a_call_block_gives_a_body_of_several_paragraphs_and_links(render):
    html = render('{% call notification({"type": "warning", "id": "replaced", "title": "Ersatt", "text": "unused"}) %}'
                  '<p>Använd det nya intyget.</p><p><a href="/intyg/{{ cid }}">Visa det nya intyget</a></p>'
                  '{% endcall %}', cid="a&b")
    assert ('<div class="app-notification__body"><p>Använd det nya intyget.</p>'
            '<p><a href="/intyg/a&amp;b">Visa det nya intyget</a></p></div>') in html
    assert "unused" not in html


def test_html_is_inserted_as_it_is(render):
    html = render('{% set body %}<p>Ett</p><p>Två</p>{% endset %}'
                  '{{ notification({"type": "info", "id": "x", "title": "T", "html": body}) }}')
    assert '<div class="app-notification__body"><p>Ett</p><p>Två</p></div>' in html


def test_classes_and_attributes_are_added_to_the_banner(render):
    html = render('{{ notification({"type": "success", "role": "status", "classes": "app-no-print",'
                  ' "attributes": {"data-x": "1"}, "text": "Klart."}) }}')
    assert opening_tag(html) == ('<div class="app-notification app-notification--success app-no-print" '
                                 'role="status" data-x="1">')
