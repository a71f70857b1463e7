"""Regionsstatistik's upload by keyboard, in Swedish and English: the care provider's statistician (T002) logs in
through the test broker, opens the region page, downloads the example file, uploads a file with problems (the
error summary takes the focus and its links lead to the file field; nothing is stored), then a good file (the
confirmation and the new listing show), and then opens the region's report of cases per 1 000 listed patients
from the staff statistics' start page. axe on every state, at 1280 px and at 390 px (no sideways scrolling).
The browser's file dialog cannot be driven: the file is given to the focused input with set_input_files."""
from __future__ import annotations

import pytest
from openpyxl import Workbook
from sqlalchemy import delete, select

from conftest import new_context
from portal import db
from portal.domain import demo
from portal.domain import region_listing as rl
from portal.models import RegionFile, RegionListing

from .keyboard import focused, tab_to
from .test_rehabstod import no_violations
from .test_statistics_staff import statistics_login

pytestmark = pytest.mark.e2e

VG1 = demo.hsa("VG1")
PAGE = f"/statistik/verksamhet/vardgivare/{VG1}/regionsstatistik"
HEADER = ("HSA-id", "Vårdenhet", "Antal listade")


def xlsx(path, rows) -> str:
    wb = Workbook()
    for row in rows:
        wb.active.append(list(row))
    wb.save(path)
    return str(path)


@pytest.fixture
def kept_listing(live):
    """The live server's region files as they were before the test, put back after it (the server is shared)."""
    app = live.app
    with db.new_session(app) as s:
        files = [(f.provider_id, f.file_name, f.uploaded_at, f.uploaded_by) for f in s.scalars(select(RegionFile))]
        rows = [(r.provider_id, r.unit_id, r.unit_name, r.listed) for r in s.scalars(select(RegionListing))]
    yield
    with db.new_session(app) as s:
        s.execute(delete(RegionListing))
        s.execute(delete(RegionFile))
        s.add_all(RegionFile(provider_id=p, file_name=n, uploaded_at=at, uploaded_by=by) for p, n, at, by in files)
        s.flush()
        s.add_all(RegionListing(provider_id=p, unit_id=u, unit_name=n, listed=c) for p, u, n, c in rows)
        s.commit()


def stored_units(app) -> list[tuple[str, int]]:
    with db.new_session(app) as s:
        return sorted((r.unit_id, r.listed) for r in s.scalars(select(RegionListing)
                                                              .where(RegionListing.provider_id == VG1)))


def check_at_both_widths(page) -> None:
    """axe at 1280 px and 390 px, and nothing wider than the phone's screen."""
    no_violations(page)
    page.set_viewport_size({"width": 390, "height": 844})
    no_violations(page)
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    page.set_viewport_size({"width": 1280, "height": 900})


def is_file_field(f: dict) -> bool:
    return f["tag"] == "input" and f["type"] == "file"


def choose_file_and_send(page, path: str, backwards: bool = False) -> None:
    """Tab to the file field (unless there already), give it the file in place of the dialog, Tab on to the upload
    button and press Enter."""
    if not is_file_field(focused(page)):
        tab_to(page, is_file_field, backwards=backwards)
    page.locator("#fil").set_input_files(path)
    tab_to(page, lambda f: f["tag"] == "button" and f["type"] == "submit")
    assert page.evaluate("() => document.activeElement.form.enctype") == "multipart/form-data"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_load_state()


def test_a_region_statistician_uploads_the_listing_by_keyboard(browser, live, lang, tmp_path, kept_listing):
    context = new_context(browser, live.url, lang=lang, width=1280, height=900)
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        statistics_login(page, lang, "T002")
        tab_to(page, lambda f: f["tag"] == "a" and page.evaluate(
            "() => document.activeElement.getAttribute('href')") == PAGE)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert page.locator("h1").count() == 1
        check_at_both_widths(page)

        # the example file: a keyboard away, the provider's units with the counts to fill in
        tab_to(page, lambda f: f["tag"] == "a" and "mall.xlsx" in page.evaluate(
            "() => document.activeElement.getAttribute('href')"))
        with page.expect_download() as info:
            page.keyboard.press("Enter")
        example = rl.parse(open(info.value.path(), "rb").read())
        assert {demo.hsa("VE10"), demo.hsa("VE20")} <= set(rl.unit_ids(example))

        # a file with problems: every one listed, the summary focused, its link leads to the field
        before = stored_units(live.app)
        bad = xlsx(tmp_path / "fel.xlsx", [HEADER, (demo.hsa("VE10"), "Vårdcentralen Norrby", "många"),
                                           ("inte-ett-id", "Fel", 10), (demo.hsa("VE20"), None, 300)])
        choose_file_and_send(page, bad, backwards=True)  # the field is above the example's link
        summary = page.locator(".app-error-summary")
        assert page.evaluate("() => document.activeElement.classList.contains('app-error-summary')")
        assert summary.get_attribute("role") == "alert"
        items = summary.locator("li").all_inner_texts()
        assert len(items) == 3 and all(t.startswith(("Rad ", "Row ")) for t in items)
        assert "många" in items[0] and "INTE-ETT-ID" in items[1]
        assert stored_units(live.app) == before
        check_at_both_widths(page)
        tab_to(page, lambda f: f["tag"] == "a" and f["text"] == items[0])
        page.keyboard.press("Enter")
        page.wait_for_function("() => location.hash === '#fil'")
        assert focused(page)["id"] == "fil"
        assert "fil-error" in page.locator("#fil").get_attribute("aria-describedby")

        # a good file: stored, confirmed, shown
        good = xlsx(tmp_path / "listade.xlsx", [HEADER, (demo.hsa("VE10"), "Vårdcentralen Norrby", "12 000"),
                                                (demo.hsa("VE20"), "Ortopedkliniken Demostad", 3400)])
        choose_file_and_send(page, good)  # from the field the summary's link led to
        assert page.url.endswith(PAGE)
        notice = page.locator(".app-notification--success")
        assert notice.get_attribute("role") == "status" and "listade.xlsx" in notice.inner_text()
        assert stored_units(live.app) == sorted([(demo.hsa("VE10"), 12000), (demo.hsa("VE20"), 3400)])
        table = page.locator("table", has=page.locator("#units-caption"))
        assert table.locator("tbody tr").count() == 2
        assert page.locator(".app-error-summary").count() == 0
        check_at_both_widths(page)

        # the region's report: from the start page (the link back), by keyboard
        tab_to(page, lambda f: f["tag"] == "a" and page.evaluate(
            "() => document.activeElement.getAttribute('href')") == "/statistik/verksamhet", backwards=True)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        report = f"/statistik/verksamhet/region/{VG1}/listade"
        tab_to(page, lambda f: f["tag"] == "a" and page.evaluate(
            "() => document.activeElement.getAttribute('href')") == report, limit=200)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        rows = page.locator("#rate-caption").locator("xpath=..").locator("tbody tr")
        assert rows.count() == 3  # the two units and the region
        assert rows.nth(0).locator("td").nth(0).inner_text().replace("\u00a0", " ").replace(",", " ") in (
            "12 000", "3 400")
        check_at_both_widths(page)
    finally:
        context.close()


