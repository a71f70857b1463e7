"""Rehabstöd's läkarutlåtanden list and the list exports by keyboard alone, in Swedish and English: a
coordinator filters the läkarutlåtanden (type by htmx, signing date by the form), downloads the
filtered list as PDF and Excel, then does the same on the ongoing sick-leave list; each file is read
back (pypdf, openpyxl) and holds exactly the rows and columns on screen. The axe check runs on every
state, the htmx-swapped and the error state included."""
from __future__ import annotations

import io
import re

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from conftest import new_context
from portal.domain import demo
from portal.export import XLSX_HEADER_ROW

from .keyboard import focused, tab_to
from .test_login import broker_login
from .test_rehabstod import no_violations

pytestmark = pytest.mark.e2e

PNR_RE = re.compile(r"\b(19|20)\d{6}-\d{4}\b")


@pytest.fixture
def staff_page(browser, live, lang):
    context = new_context(browser, live.url, lang=lang, width=1280, height=900)
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


def href(page) -> str:
    return page.evaluate("() => document.activeElement.getAttribute('href') || ''")


def tab_to_link(page, part: str, **kw) -> None:
    """Tab to the link whose href contains ``part`` (link texts may not be translated yet)."""
    for _ in range(kw.get("limit", 120)):
        page.keyboard.press("Shift+Tab" if kw.get("backwards") else "Tab")
        if focused(page)["tag"] == "a" and part in href(page):
            return
    raise AssertionError(f"no link to {part!r} reached by Tab")


def screen_headings(page) -> list[str]:
    """The table's column headings as seen (the sort links' text without the hidden ", sortera")."""
    return page.evaluate("""() => Array.from(document.querySelectorAll('#results thead th')).map(th => {
        const a = th.querySelector('a');
        return (a ? a.firstChild.textContent : th.textContent).trim();
    })""")


def screen_pnrs(page) -> list[str]:
    return [m.group(0) for m in PNR_RE.finditer(page.locator("#results tbody").inner_text())]


def screen_column(page, key: str) -> list[str]:
    """The cells of the column whose heading has data-column=key."""
    return page.evaluate("""key => {
        const index = Array.from(document.querySelectorAll('#results thead th'))
            .findIndex(th => th.dataset.column === key);
        return Array.from(document.querySelectorAll('#results tbody tr'))
            .map(tr => tr.children[index].innerText.trim());
    }""", key)


def download(page, part: str) -> bytes:
    """Tab to the export link and press Enter: the file the browser receives."""
    tab_to_link(page, part)
    with page.expect_download() as info:
        page.keyboard.press("Enter")
    path = info.value.path()
    assert not re.search(r"\d{8}-?\d{4}", info.value.suggested_filename)  # no personnummer in the name
    with open(path, "rb") as fh:
        return fh.read()


def check_files(page, list_path: str) -> None:
    """Both exports of the list on screen hold exactly its rows (in order) and columns."""
    headings, pnrs = screen_headings(page), screen_pnrs(page)
    assert pnrs
    ws = load_workbook(io.BytesIO(download(page, f"{list_path}/export.xlsx"))).active
    rows = list(ws.iter_rows(min_row=XLSX_HEADER_ROW, values_only=True))
    assert list(rows[0]) == headings
    pnr_col = headings.index(headings[1] if headings[0] == "#" else headings[0])
    assert [r[pnr_col] for r in rows[1:]] == pnrs
    pdf = PdfReader(io.BytesIO(download(page, f"{list_path}/export.pdf")))
    text = "\n".join(p.extract_text() for p in pdf.pages)
    assert [m.group(0) for m in PNR_RE.finditer(text)] == pnrs
    flat = " ".join(text.split())
    assert all(h.split()[0] in flat for h in headings)
    assert pdf.pages[0].mediabox.width > pdf.pages[0].mediabox.height


def test_coordinator_filters_lakarutlatanden_and_downloads_both_lists_as_pdf_and_excel(staff_page, lang, live):
    page = staff_page
    broker_login(page, lang, "siths", demo.hsa("R001"))
    # the läkarutlåtanden list
    tab_to_link(page, "/rehabstod/lakarutlatanden")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("h1").count() == 1 and page.locator("#results tbody tr").count() >= 10
    everything = page.locator("#results tbody tr").count()
    no_violations(page)
    # type FK7800: htmx swaps the results, the count is announced
    tab_to(page, lambda f: f["type"] == "checkbox" and f["name"] == "typ" and f["value"] == "FK7800")
    with page.expect_response(lambda r: "typ=FK7800" in r.url):
        page.keyboard.press("Space")
    page.wait_for_function("() => location.search.includes('typ=FK7800')")
    page.wait_for_function("() => document.getElementById('app-live').textContent.length > 0")
    types = screen_column(page, "intygstyp")
    assert 0 < len(types) < everything and all(t.endswith("(FK7800)") for t in types)
    assert "typ=FK7800" in page.locator("#results a[href*='export.xlsx']").get_attribute("href")
    no_violations(page)
    # a signing date range, sent with the Filtrera button
    tab_to(page, lambda f: f["name"] == "signerad_fran")
    page.keyboard.type("2025-06-01")
    tab_to(page, lambda f: f["tag"] == "button" and f["type"] == "submit")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "signerad_fran=2025-06-01" in page.url and "typ=FK7800" in page.url
    days = screen_column(page, "signerad")
    assert days and all(d >= "2025-06-01" for d in days)
    assert all(t.endswith("(FK7800)") for t in screen_column(page, "intygstyp"))
    no_violations(page)
    check_files(page, "/rehabstod/lakarutlatanden")
    # a bad date: a 400 page whose error summary takes the focus
    tab_to(page, lambda f: f["name"] == "signerad_till", backwards=True)
    page.keyboard.type("31/12/2026")
    tab_to(page, lambda f: f["tag"] == "button" and f["type"] == "submit")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.classList.contains('app-error-summary')")
    assert page.locator(".app-error-summary a[href='#signerad_till']").count() == 1
    no_violations(page)

    # the ongoing sick-leave list: a diagnosis chapter, then both files
    tab_to_link(page, "/rehabstod/sjukfall", backwards=True)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    all_cases = page.locator("#results tbody tr").count()
    tab_to(page, lambda f: f["tag"] == "summary")
    page.keyboard.press("Enter")
    tab_to(page, lambda f: f["type"] == "checkbox" and f["name"] == "kapitel" and f["value"] == "M00-M99")
    with page.expect_response(lambda r: "kapitel=M00-M99" in r.url):
        page.keyboard.press("Space")
    page.wait_for_function("() => location.search.includes('kapitel=M00-M99')")
    page.locator("#results a[href*='kapitel=M00-M99']").first.wait_for()
    shown = page.locator("#results tbody tr").count()
    assert 0 < shown < all_cases
    no_violations(page)
    check_files(page, "/rehabstod/sjukfall")
