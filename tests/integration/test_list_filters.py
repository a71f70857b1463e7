"""The three filtered lists (Mina intyg, Rehabstöd's ongoing cases and läkarutlåtanden) through the Flask
test client: the sort survives a filter change, chosen filters are removable tags, every invalid field has
its own message tied to it, and days are counted in words ("1 dag", "2 dagar")."""
from __future__ import annotations

import html as html_lib
import re
from urllib.parse import parse_qsl, urlsplit

from conftest import session_login
from portal.domain import demo as demo_data

ONGOING, LU = "/rehabstod/sjukfall", "/rehabstod/lakarutlatanden"
COORDINATOR, VE10 = demo_data.hsa("R001"), demo_data.hsa("VE10")


def login(client, app):
    session_login(client, app, "staff", COORDINATOR, unit_id=VE10, role="REHABKOORDINATOR", name=COORDINATOR)


def get(client, url, htmx=False):
    response = client.get(url, headers={"HX-Request": "true"} if htmx else {})
    return response.status_code, response.get_data(as_text=True)


def hidden_sort(page: str, form_id: str) -> list[tuple[str, str]]:
    """The sort fields the filter form sends (they sit in the results block, tied with form=)."""
    return re.findall(r'<input type="hidden" name="(sortera|ordning)" value="([^"]*)" form="%s">' % form_id, page)


def tags(page: str) -> dict[str, list[tuple[str, str]]]:
    """The filter tags: accessible name -> the query its link leads to."""
    out = {}
    for href, inner in re.findall(r'<a class="app-filter-tags__tag" href="([^"]*)">(.*?)</a>', page):
        name = html_lib.unescape(re.sub(r"<span aria-hidden=\"true\">.*?</span>", "", inner))
        out[re.sub(r"<[^>]+>", "", name).strip()] = parse_qsl(urlsplit(html_lib.unescape(href)).query)
    return out


def test_the_ongoing_lists_sort_is_sent_with_the_next_filter_change(demo, client):
    login(client, demo)
    # sorted by a column through htmx: the swapped block carries the sort for the form, outside the form
    status, fragment = get(client, ONGOING + "?sortera=namn&ordning=desc", htmx=True)
    assert status == 200 and fragment.lstrip().startswith('<div id="results"')
    assert hidden_sort(fragment, "sjukfall-filter") == [("sortera", "namn"), ("ordning", "desc")]
    # the whole page (no JavaScript): the form has the id the fields name; the form itself holds no sort
    status, page = get(client, ONGOING + "?sortera=namn&ordning=desc")
    form = page.split('id="sjukfall-filter"')[1].split("</form>")[0]
    assert 'name="sortera"' not in form and hidden_sort(page, "sjukfall-filter")
    # a filter added as the form sends it: still sorted by name, descending
    status, filtered = get(client, ONGOING + "?personuppgifter=0&personuppgifter=1&kapitel=F00-F99"
                                             "&sortera=namn&ordning=desc", htmx=True)
    assert status == 200 and 'data-column="namn" aria-sort="descending"' in filtered
    assert hidden_sort(filtered, "sjukfall-filter") == [("sortera", "namn"), ("ordning", "desc")]
    # every link of the filtered list keeps both the filter and the sort (page links, tags), headers the filter
    assert "kapitel=F00-F99&amp;sortera=namn&amp;ordning=desc" in filtered  # the export links
    assert all("kapitel=F00-F99" in h for h in re.findall(r'class="app-sort" href="([^"]+)"', filtered))


def test_the_default_sort_sends_nothing_extra(demo, client):
    login(client, demo)
    _, page = get(client, ONGOING)
    assert hidden_sort(page, "sjukfall-filter") == []
    _, page = get(client, LU)
    assert hidden_sort(page, "lu-filter") == []


def test_the_lakarutlatanden_sort_is_sent_with_the_next_filter_change(demo, client):
    login(client, demo)
    status, fragment = get(client, LU + "?sortera=alder&ordning=asc", htmx=True)
    assert status == 200 and hidden_sort(fragment, "lu-filter") == [("sortera", "alder"), ("ordning", "asc")]
    status, filtered = get(client, LU + "?personuppgifter=0&personuppgifter=1&typ=FK7800&sortera=alder&ordning=asc",
                           htmx=True)
    assert 'data-column="alder" aria-sort="ascending"' in filtered
    assert hidden_sort(filtered, "lu-filter") == [("sortera", "alder"), ("ordning", "asc")]


def test_mina_intyg_sends_its_sort_with_the_form(demo, client):
    ordinary = next(c for c in demo_data.demo_citizens(demo.extensions["clock"].today()) if c.key == "ordinary")
    session_login(client, demo, "citizen", ordinary.personnummer)
    _, page = get(client, "/mina-intyg/?sortering=oldest&skickat=no")
    form = page.split('role="search"')[1].split("</form>")[0]
    assert '<option value="oldest" selected>' in form  # the sort is a field of the form itself
    found = tags(page)
    assert found == {"Ta bort filter: Inte skickade": [("sortering", "oldest")]}


def test_each_tag_removes_exactly_one_filter_value_and_keeps_the_rest_and_the_sort(demo, client):
    login(client, demo)
    url = ONGOING + "?kapitel=F00-F99&kapitel=M00-M99&kon=F&alder_fran=20&sortera=langd&ordning=desc"
    status, page = get(client, url)
    assert status == 200
    found = tags(page)
    assert set(found) == {"Ta bort filter: Diagnoskapitel F00-F99", "Ta bort filter: Diagnoskapitel M00-M99",
                          "Ta bort filter: Kön: Kvinna", "Ta bort filter: Ålder från 20"}
    everything = parse_qsl(urlsplit(url).query)
    for name, query in found.items():
        removed = [pair for pair in everything if pair not in query]
        assert len(removed) == 1 and len(query) == len(everything) - 1, name
        assert ("sortera", "langd") in query and ("ordning", "desc") in query
    assert [p for p in everything if p not in found["Ta bort filter: Diagnoskapitel F00-F99"]] == [
        ("kapitel", "F00-F99")]
    # following a tag: that filter is gone, the other chapter is still chosen
    tag = re.search(r'<a class="app-filter-tags__tag" href="([^"]*)"><span class="app-visually-hidden">'
                    r'Ta bort filter: </span>Diagnoskapitel F00-F99', page)
    href = html_lib.unescape(tag.group(1))
    _, after = get(client, href)
    assert "Ta bort filter: </span>Diagnoskapitel F00-F99" not in after
    assert 'value="M00-M99" checked' in after and 'value="F00-F99" checked' not in after


def test_lakarutlatanden_tags_in_english(demo, client):
    login(client, demo)
    client.set_cookie("lang", "en")
    _, page = get(client, LU + "?typ=FK7800&signerad_fran=2025-01-01")
    names = set(tags(page))
    assert any(n.startswith("Remove filter: Certificate type: ") for n in names)
    assert "Remove filter: Signed from 2025-01-01" in names


def test_no_tags_without_filters(demo, client):
    login(client, demo)
    _, page = get(client, ONGOING + "?sortera=namn")
    assert "app-filter-tags" not in page


def field_error(page: str, field: str) -> str:
    """The field's own error message, checked to be tied to the field by aria-describedby."""
    tag = re.search(r'<input[^>]*\bid="%s"[^>]*>' % field, page).group(0)
    described = re.search(r'aria-describedby="([^"]*)"', tag).group(1).split()
    assert f"{field}-error" in described and 'aria-invalid="true"' in tag and "app-input--error" in tag
    message = re.search(r'<p class="app-error-message" id="%s-error">(.*?)</p>' % field, page).group(1)
    return re.sub(r"<[^>]+>", "", message).replace("Fel:", "").strip()


def panel_open(page: str) -> bool:
    return re.search(r'<details class="app-filter__details"( open)?>', page).group(1) is not None


def test_an_invalid_age_has_its_own_message_and_opens_the_panel(demo, client):
    login(client, demo)
    status, page = get(client, ONGOING + "?alder_fran=abc")
    assert status == 400 and panel_open(page)
    assert field_error(page, "alder_fran") == "Ange en ålder mellan 0 och 120"
    assert 'href="#alder_fran"' in page and 'id="alder_till-error"' not in page
    assert 'value="abc"' in page  # what was typed stays, to be corrected
    _, fine = get(client, ONGOING)
    assert not panel_open(fine)


def test_each_invalid_field_has_its_own_message(demo, client):
    login(client, demo)
    status, page = get(client, ONGOING + "?alder_fran=abc&alder_till=200&slut_fran=2026-13-45&slut_till=igår")
    assert status == 400 and panel_open(page)
    summary = page.split('class="app-error-summary"')[1].split("</div>")[0]
    assert re.findall(r'href="#([a-z_]+)"', summary) == ["alder_fran", "alder_till", "slut_fran", "slut_till"]
    assert field_error(page, "alder_till") == "Ange en ålder mellan 0 och 120"
    assert field_error(page, "slut_fran") == field_error(page, "slut_till") == "Ange ett datum som ÅÅÅÅ-MM-DD"
    assert page.count('class="app-error-message"') == 4


def test_an_end_date_range_the_wrong_way_round(demo, client):
    login(client, demo)
    status, page = get(client, ONGOING + "?slut_fran=2026-12-31&slut_till=2026-01-01&sortera=namn")
    assert status == 400 and panel_open(page)
    assert field_error(page, "slut_fran") == "Datumet i Från får inte vara efter datumet i Till"
    assert 'href="#slut_fran"' in page
    status, page = get(client, ONGOING + "?alder_fran=60&alder_till=20")
    assert status == 400 and field_error(page, "alder_fran") == "Åldern i Från får inte vara högre än åldern i Till"


def test_a_too_long_search_is_tied_to_the_search_field(demo, client):
    """The search is a POST (its term never in a URL, tests/integration/test_search_privacy.py): a refused term
    comes back once, in the field, with its message, on the list's own address."""
    login(client, demo)
    _, page = get(client, ONGOING + "?sortera=namn")
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    too_long = "a" * 101
    form = {"fritext": too_long, "csrf_token": token, "sortera": "namn"}
    response = client.post(ONGOING + "/sok", data=form)
    assert response.status_code == 303 and response.headers["Location"] == ONGOING + "?sortera=namn"
    status, page = get(client, response.headers["Location"])
    assert status == 400 and field_error(page, "fritext") == "Skriv högst 100 tecken i sökfältet"
    assert 'href="#fritext"' in page and f'value="{too_long}"' in page and not panel_open(page)
    assert "Sök:" not in page  # nothing was searched for
    status, page = get(client, ONGOING + "?sortera=namn")
    assert status == 200 and "app-error-message" not in page  # once only
    # with htmx: the whole page is loaded, to show the error summary and move focus to it
    response = client.post(ONGOING + "/sok", data=form, headers={"HX-Request": "true"})
    assert response.status_code == 200 and response.headers["HX-Redirect"] == ONGOING + "?sortera=namn"
    status, page = get(client, ONGOING + "?sortera=namn")
    assert status == 400 and field_error(page, "fritext") == "Skriv högst 100 tecken i sökfältet"


def test_lakarutlatanden_errors_in_english(demo, client):
    login(client, demo)
    client.set_cookie("lang", "en")
    status, page = get(client, LU + "?signerad_fran=2026-06-01&signerad_till=2026-01-01")
    assert status == 400 and 'href="#signerad_fran"' in page
    assert field_error(page, "signerad_fran") != ""
    assert "Ange" not in field_error(page, "signerad_fran")


def test_days_are_counted_in_words(demo, client):
    login(client, demo)
    _, page = get(client, ONGOING)
    days = re.findall(r"<td>(\d+) (dag|dagar)</td>", page)
    assert days and all((word == "dag") == (n == "1") for n, word in days)
    client.set_cookie("lang", "en")
    _, page = get(client, ONGOING)
    days = re.findall(r"<td>(\d+) (day|days)</td>", page)
    assert days and all((word == "day") == (n == "1") for n, word in days)


def test_the_days_macro_says_one_day_and_two_days(demo):
    with demo.test_request_context("/"):
        from flask import render_template_string

        text = render_template_string('{% from "rehab/_macros.html" import days %}{{ days(1) }}|{{ days(2) }}')
        assert text == "1 dag|2 dagar"
    with demo.test_request_context("/", headers={"Cookie": "lang=en"}):
        text = render_template_string('{% from "rehab/_macros.html" import days %}{{ days(1) }}|{{ days(2) }}')
        assert text == "1 day|2 days"


def test_the_components_page_shows_every_component_in_both_languages(client):
    status, page = get(client, "/komponenter")
    assert status == 200
    for marker in ('class="app-pagination"', 'aria-current="page"', 'aria-sort="ascending"',
                   'class="app-results__count"', 'class="app-filter-tags__tag"', 'class="app-error-message"',
                   "<legend", 'aria-invalid="true"',
                   "1 dag<", "2 dagar<"):
        assert marker in page, marker
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids))  # every example has ids of its own
    client.set_cookie("lang", "en")
    _, page = get(client, "/komponenter")
    assert "Components" in page and "Remove filter:" in page and "1 day<" in page
