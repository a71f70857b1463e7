"""The WCAG 2.1 success criteria of levels A and AA (the 50 that EN 301 549 clause 9 and the law require), each with
its EN 301 549 clause and how the portal tests it (issue 16): the map the accessibility report's summary shows.

A criterion is tested in one or more ways:

- "automatic": axe-core's rules tagged with the criterion (axe tags a rule "wcag111" for 1.1.1) run on every crawled
  page in both languages by accessibility/test_axe.py (and the states in accessibility/test_states.py and e2e/);
  the report names the rules that actually ran, from axe's own tags;
- "scripted": a test that drives the browser and checks the behaviour (a keyboard flow, a reflow measure), named
  as `path::test` or, for the scripted layout checks, by module (`accessibility.checks`);
- "manual": what an auditor must do; the report gives them the material (screenshots, tab order, the tree).

`method` is the strongest way a criterion is covered; an automatic check never proves a criterion met, so most
criteria name a manual part too. The criteria accessibility/status.json lists under `manual_only` are manual here and
nothing else (accessibility/test_report.py keeps the two in step). No Flask, no browser.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

AUTOMATIC, SCRIPTED, MANUAL = "automatic", "scripted", "manual"
AXE_TEST = "accessibility/test_axe.py"
CHECKS = "accessibility.checks"  # reflow, text zoom, text spacing, forced colours, reduced motion, focus, targets
REPORT = "accessibility.report"  # the tab order and the accessibility tree of every page, recorded for review

KEYBOARD_FLOWS = ("e2e/test_login.py::test_citizen_logs_in_and_out_by_keyboard",
                  "e2e/test_login.py::test_doctor_chooses_a_unit_and_switches_by_keyboard",
                  "e2e/test_mina_intyg.py::test_filter_and_sort_the_list_by_keyboard",
                  "e2e/test_mina_intyg.py::test_archive_and_restore_by_keyboard",
                  "e2e/test_statistics.py::test_a_report_by_keyboard_period_comparison_chapter_table_and_excel",
                  "e2e/test_feedback.py::test_report_a_problem_by_keyboard_from_the_statement_and_get_a_receipt",
                  "e2e/test_states_keyboard.py")
ERROR_FLOWS = ("e2e/test_login.py::test_choosing_no_unit_shows_an_error_summary_that_takes_focus",
               "e2e/test_list_filters.py::test_an_invalid_age_typed_with_htmx_shows_the_error_page_with_focus_on_the"
               "_summary",
               "e2e/test_statistics.py::test_a_bad_month_shows_the_error_summary",
               "e2e/test_states_keyboard.py::test_correcting_a_filter_or_sorting_clears_the_errors_with_javascript")


@dataclass(frozen=True)
class Way:
    kind: str  # AUTOMATIC, SCRIPTED or MANUAL
    what: str  # the test (path, path::test or module), or for MANUAL what the auditor does


@dataclass(frozen=True)
class Criterion:
    number: str
    name: str
    level: str  # "A" or "AA"
    ways: tuple[Way, ...]

    @property
    def en301549(self) -> str:
        """EN 301 549 V3.2.1 clause 9 mirrors WCAG 2.1: 1.1.1 is 9.1.1.1."""
        return "9." + self.number

    @property
    def axe_tag(self) -> str:
        return "wcag" + self.number.replace(".", "")

    @property
    def method(self) -> str:
        kinds = {w.kind for w in self.ways}
        return next(k for k in (AUTOMATIC, SCRIPTED, MANUAL) if k in kinds)


def axe_tag_criterion(tag: str) -> str | None:
    """axe's tag for a success criterion ("wcag1410") as its number ("1.4.10"); None for other tags."""
    found = re.fullmatch(r"wcag(\d)(\d)(\d{1,2})", tag)
    return ".".join(found.groups()) if found else None


def _auto(*more: Way) -> tuple[Way, ...]:
    return (Way(AUTOMATIC, AXE_TEST),) + more


def _s(*tests: str) -> tuple[Way, ...]:
    return tuple(Way(SCRIPTED, t) for t in tests)


def _m(text: str) -> Way:
    return Way(MANUAL, text)


NO_MEDIA = _m("Confirm the service still has no audio or video (status.json manual_only: does not apply).")
NO_GESTURES = ("Confirm nothing appears only on hover or focus, there are no single-character shortcuts, no "
               "multi-point or path gestures, no motion actuation, and buttons act on release (status.json "
               "manual_only).")

CRITERIA: tuple[Criterion, ...] = (
    Criterion("1.1.1", "Non-text Content", "A", _auto(
        *_s("e2e/test_statistics.py::test_a_report_by_keyboard_period_comparison_chapter_table_and_excel"),
        _m("Judge each image's and chart's text alternative in the accessibility tree: does it say what the image "
           "says? Decorative images must be hidden."))),
    Criterion("1.2.1", "Audio-only and Video-only (Prerecorded)", "A", (NO_MEDIA,)),
    Criterion("1.2.2", "Captions (Prerecorded)", "A", (NO_MEDIA,)),
    Criterion("1.2.3", "Audio Description or Media Alternative (Prerecorded)", "A", (NO_MEDIA,)),
    Criterion("1.2.4", "Captions (Live)", "AA", (NO_MEDIA,)),
    Criterion("1.2.5", "Audio Description (Prerecorded)", "AA", (NO_MEDIA,)),
    Criterion("1.3.1", "Info and Relationships", "A", _auto(
        _m("Read each page's accessibility tree: headings, lists, tables (caption, header cells), fieldsets and "
           "labels must carry the structure the screenshot shows."))),
    Criterion("1.3.2", "Meaningful Sequence", "A", (
        _m("Read the accessibility tree top to bottom beside the screenshot: the reading order must make sense."),)),
    Criterion("1.3.3", "Sensory Characteristics", "A", (
        _m("Read the instructions (forms, help pages): none may rely on shape, colour, size, position or sound "
           "alone."),)),
    Criterion("1.3.4", "Orientation", "AA", _s(CHECKS) + (
        _m("Compare the 390 px (portrait) and 1280 px (landscape) screenshots; rotate a phone on two pages."),)),
    Criterion("1.3.5", "Identify Input Purpose", "AA", _auto(
        _m("Fields asking for the user's own data (name, e-mail, phone in the feedback form) must have the right "
           "autocomplete token."))),
    Criterion("1.4.1", "Use of Color", "A", _auto(
        _m("In the screenshots, check that no status, error, chart series or link is told by colour alone."))),
    Criterion("1.4.2", "Audio Control", "A", _auto(NO_MEDIA)),
    Criterion("1.4.3", "Contrast (Minimum)", "AA", _auto(
        _m("Check text over images or gradients and text in SVG charts, which axe cannot measure (incomplete)."))),
    Criterion("1.4.4", "Resize Text", "AA", _s(
        "e2e/test_public_pages.py::test_text_zoomed_to_200_percent_still_fits", CHECKS)),
    Criterion("1.4.5", "Images of Text", "AA", (
        _m("Check in the screenshots that no text is an image (the logo excepted)."),)),
    Criterion("1.4.10", "Reflow", "AA", _s(
        "e2e/test_public_pages.py::test_no_horizontal_scrolling_and_large_enough_targets",
        "e2e/test_rehabstod.py::test_the_wide_list_scrolls_inside_its_region_not_the_page", CHECKS)),
    Criterion("1.4.11", "Non-text Contrast", "AA", (
        _m("Measure the focus indicator, field borders and chart elements against their background: at least "
           "3:1 (status.json manual_only)."),)),
    Criterion("1.4.12", "Text Spacing", "AA", _auto(*_s(CHECKS))),
    Criterion("1.4.13", "Content on Hover or Focus", "AA", (_m(NO_GESTURES),)),
    Criterion("2.1.1", "Keyboard", "A", _auto(*_s(*KEYBOARD_FLOWS, REPORT))),
    Criterion("2.1.2", "No Keyboard Trap", "A", _s(
        "e2e/test_login.py::test_idle_timeout_dialog_by_keyboard", REPORT) + (
        _m("The report's tab order of each page must run to the end of the page (not stop in a widget)."),)),
    Criterion("2.1.4", "Character Key Shortcuts", "A", (_m(NO_GESTURES),)),
    Criterion("2.2.1", "Timing Adjustable", "A", _auto(*_s("e2e/test_login.py::test_idle_timeout_dialog_by_keyboard",
                                                          "tests/integration/test_sessions_lifetime.py"))),
    Criterion("2.2.2", "Pause, Stop, Hide", "A", _auto(
        _m("Confirm nothing moves, blinks or updates by itself for more than five seconds (export progress "
           "pages: the updates can be stopped or are announced politely)."))),
    Criterion("2.3.1", "Three Flashes or Below Threshold", "A", (
        _m("Confirm nothing flashes (there is no animation beyond transitions, which reduced motion removes)."),)),
    Criterion("2.4.1", "Bypass Blocks", "A", _auto(*_s(
        "e2e/test_public_pages.py::test_skip_link_is_the_first_tab_stop_and_moves_focus_to_main"))),
    Criterion("2.4.2", "Page Titled", "A", _auto(
        _m("Judge the titles: each names the page and the service, and differs between pages."))),
    Criterion("2.4.3", "Focus Order", "A", _s(*KEYBOARD_FLOWS, REPORT) + (
        _m("Read each page's tab order in the report beside its screenshot: it must follow the visual order."),)),
    Criterion("2.4.4", "Link Purpose (In Context)", "A", _auto(
        _m("Read the link names in the tab order: each says where it leads, with its context."))),
    Criterion("2.4.5", "Multiple Ways", "AA", (
        _m("Confirm each page can be reached in two ways (the menu, the help index, lists and links)."),)),
    Criterion("2.4.6", "Headings and Labels", "AA", (
        _m("Read the headings and the field labels in the accessibility tree: they describe topic or purpose."),)),
    Criterion("2.4.7", "Focus Visible", "AA", _s(CHECKS, *KEYBOARD_FLOWS[:2]) + (
        _m("Tab through two pages of each area and see the focus everywhere."),)),
    Criterion("2.5.1", "Pointer Gestures", "A", (_m(NO_GESTURES),)),
    Criterion("2.5.2", "Pointer Cancellation", "A", (_m(NO_GESTURES),)),
    Criterion("2.5.3", "Label in Name", "A", (
        _m("Compare the visible label with the accessible name in the tab order (axe's rule for it is "
           "experimental and not run): the name must contain the visible words."),)),
    Criterion("2.5.4", "Motion Actuation", "A", (_m(NO_GESTURES),)),
    Criterion("3.1.1", "Language of Page", "A", _auto(*_s(
        "e2e/test_public_pages.py::test_keyboard_user_reaches_the_statement_and_switches_language_on_the_same_page"))),
    Criterion("3.1.2", "Language of Parts", "AA", _auto(
        _m("Find words in the other language (the language switch, English names) and check their lang."))),
    Criterion("3.2.1", "On Focus", "A", _s(*KEYBOARD_FLOWS) + (
        _m("Confirm that tabbing (the report's tab order) never submits, opens or moves anything."),)),
    Criterion("3.2.2", "On Input", "A", _s(
        "e2e/test_list_filters.py::test_sort_then_filter_keeps_the_sort_and_a_tag_removes_the_filter",
        "e2e/test_mina_intyg.py::test_filter_and_sort_the_list_by_keyboard") + (
        _m("Change each filter and option: nothing changes context until a button is pressed."),)),
    Criterion("3.2.3", "Consistent Navigation", "AA", (
        _m("Compare the header, menu and footer across the screenshots of an area: the same order everywhere."),)),
    Criterion("3.2.4", "Consistent Identification", "AA", (
        _m("Compare the names of repeated controls (download, send, search) across pages in the tab orders."),)),
    Criterion("3.3.1", "Error Identification", "A", _s(*ERROR_FLOWS) + (
        _m("Submit each form empty and with wrong values: the error summary and the field message say what."),)),
    Criterion("3.3.2", "Labels or Instructions", "A", _auto(
        _m("Read the form fields with their labels in the accessibility tree: formats (personnummer, dates) "
           "are explained."))),
    Criterion("3.3.3", "Error Suggestion", "AA", _s(*ERROR_FLOWS) + (
        _m("Read each error message: it says how to put the value right, in the page's language."),)),
    Criterion("3.3.4", "Error Prevention (Legal, Financial, Data)", "AA", (
        _m("Send a certificate and share one with an employer: a confirmation step comes first; an archived "
           "certificate can be restored (status.json manual_only)."),)),
    Criterion("4.1.1", "Parsing", "A", (
        _m("Always satisfied for HTML under the WCAG 2.1 errata (2023); axe no longer tests it. Nothing to do."),)),
    Criterion("4.1.2", "Name, Role, Value", "A", _auto(
        _m("Check the custom parts (the idle-timeout dialog, sortable headers, tabs) with a screen reader."))),
    Criterion("4.1.3", "Status Messages", "AA", _s(
        "e2e/test_list_filters.py::test_sort_then_filter_keeps_the_sort_and_a_tag_removes_the_filter",
        "e2e/test_export_jobs.py") + (
        _m("With a screen reader, filter a list and watch an export: the count and the progress are read out "
           "without moving focus."),)),
)

BY_NUMBER = {c.number: c for c in CRITERIA}
