"""A big Rehabstöd export by keyboard alone, with and without JavaScript, in Swedish and English: the coordinator
asks for the ongoing list as a file, lands on the progress page ("Filen skapas…"), the delivery worker makes the
file, and the page offers it. With JavaScript the page asks again by itself (htmx) and announces the file in the
live region without moving the focus; without it the "Uppdatera" link reloads the page. The downloaded file holds
the list's rows. Axe checks the pending and the done state (with JavaScript: axe needs it)."""
from __future__ import annotations

import io
import re

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from accessibility import crawl
from conftest import new_context
from portal.domain import demo
from portal.export import XLSX_HEADER_ROW
from portal.rehab.exports import build_due

from .keyboard import focused, tab_to
from .test_login import broker_login
from .test_rehab_exports import PNR_RE, href, screen_pnrs, tab_to_link
from .test_rehabstod import no_violations

pytestmark = pytest.mark.e2e

JOB_PATH = re.compile(r"/rehabstod/export/[A-Za-z0-9_-]{43}$")


@pytest.fixture
def big_exports(live):
    """Every export of more than one row is made in the background (for this test)."""
    app = live.app
    app.config.update(EXPORT_INLINE_ROWS=1, EXPORT_INLINE_ROWS_XLSX=1)
    yield app
    for key in ("EXPORT_INLINE_ROWS", "EXPORT_INLINE_ROWS_XLSX"):
        app.config.pop(key, None)


def staff_context(browser, live, lang: str, javascript: bool):
    context = new_context(browser, live.url, lang=lang, width=1280, height=900, javascript=javascript)
    context.set_default_timeout(15_000)
    return context


def to_the_list(page, lang: str, javascript: bool = True) -> list[str]:
    """Log in as the coordinator and open the ongoing list: its personnummer, in order. (The keyboard login
    checks the broker's page with axe, which needs JavaScript; without it the crawl's login is used.)"""
    if javascript:
        broker_login(page, lang, "siths", demo.hsa("R001"))
    else:
        crawl.login(page, "coordinator")
    tab_to_link(page, "/rehabstod/sjukfall")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    pnrs = screen_pnrs(page)
    assert len(pnrs) > 1
    return pnrs


def ask_for(page, fmt: str) -> str:
    """Tab to the list's export link and press Enter: the progress page (its path)."""
    tab_to_link(page, f"/rehabstod/sjukfall/export.{fmt}")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    path = page.evaluate("() => location.pathname")
    assert JOB_PATH.search(path), path
    assert page.locator("#export-status h2").count() == 1
    assert page.locator("#export-status a[href$='/fil']").count() == 0
    return path


def make_the_file(app) -> None:
    """What the delivery worker does: build the pending exports."""
    for _ in range(10):
        if build_due(app) is None:
            return


def download(page) -> bytes:
    tab_to_link(page, "/fil")
    with page.expect_download() as info:
        page.keyboard.press("Enter")
    assert not re.search(r"\d{8}-?\d{4}", info.value.suggested_filename)
    with open(info.value.path(), "rb") as fh:
        return fh.read()


def test_a_big_export_with_javascript_waits_on_the_progress_page_and_is_announced(browser, live, lang, big_exports):
    context = staff_context(browser, live, lang, javascript=True)
    page = context.new_page()
    pnrs = to_the_list(page, lang)
    path = ask_for(page, "pdf")
    assert page.locator("#export-status[hx-trigger]").count() == 1
    assert page.locator("meta[http-equiv]").count() == 0
    no_violations(page)  # pending
    tab_to(page, lambda f: f["id"] == "export-back")  # the keyboard user waits on "Tillbaka till listan"
    with page.expect_response(lambda r: r.url.endswith(path) and r.request.headers.get("hx-request") == "true"):
        pass  # the page asks again by itself (htmx)
    make_the_file(big_exports)
    link = page.locator("#export-status a[href$='/fil']")
    link.wait_for()
    announce = page.locator("#export-status").get_attribute("data-app-announce")
    assert announce
    page.wait_for_function("text => document.getElementById('app-live').textContent === text", arg=announce)
    assert focused(page)["id"] == "export-back"  # the focus stayed where it was
    assert page.locator("#export-status[hx-trigger]").count() == 0  # no more asking
    no_violations(page)  # done
    pdf = PdfReader(io.BytesIO(download(page)))
    text = "\n".join(p.extract_text() for p in pdf.pages)
    assert [m.group(0) for m in PNR_RE.finditer(text)] == pnrs
    context.close()


def test_a_big_export_without_javascript_with_the_update_link(browser, live, lang, big_exports):
    context = staff_context(browser, live, lang, javascript=False)
    page = context.new_page()
    pnrs = to_the_list(page, lang, javascript=False)
    path = ask_for(page, "xlsx")  # (axe needs JavaScript: these states are checked in the test above)
    make_the_file(big_exports)
    assert page.locator("#export-status a[href$='/fil']").count() == 0  # nothing changes by itself
    tab_to(page, lambda f: f["tag"] == "a" and href(page) == path, limit=80)  # "Uppdatera": this very page
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("#export-status a[href$='/fil']").count() == 1
    ws = load_workbook(io.BytesIO(download(page))).active
    rows = list(ws.iter_rows(min_row=XLSX_HEADER_ROW, values_only=True))
    pnr_col = 1 if rows[0][0] == "#" else 0
    assert [r[pnr_col] for r in rows[1:]] == pnrs
    context.close()
