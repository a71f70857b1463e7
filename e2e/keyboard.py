"""Keyboard-only helpers for the e2e tests: no clicks, only Tab, arrows, Space and Enter."""
from __future__ import annotations


def focused(page) -> dict:
    return page.evaluate("""() => {
        const e = document.activeElement;
        return {tag: e.tagName.toLowerCase(), id: e.id || '', type: e.type || '', value: e.value || '',
                name: e.name || '', text: (e.innerText || e.value || e.textContent || '').trim(),
                label: e.labels && e.labels.length ? e.labels[0].innerText.trim() : ''};
    }""")


def tab_to(page, match, limit: int = 60, backwards: bool = False) -> dict:
    """Press Tab until the focused element matches (a function of the focused() dict)."""
    for _ in range(limit):
        page.keyboard.press("Shift+Tab" if backwards else "Tab")
        now = focused(page)
        if match(now):
            return now
    raise AssertionError(f"nothing matching was reached by {'Shift+' if backwards else ''}Tab; last: {focused(page)}")


def tab_to_text(page, text: str, **kw) -> dict:
    return tab_to(page, lambda f: f["text"] == text or f["label"] == text, **kw)


def activate(page, text: str, navigates: bool = True, **kw) -> None:
    """Tab to a link or button by its text and press Enter (and wait for the page it leads to)."""
    tab_to_text(page, text, **kw)
    if navigates:
        with page.expect_navigation():
            page.keyboard.press("Enter")
        page.wait_for_load_state()
    else:
        page.keyboard.press("Enter")


def choose_radio(page, value: str, name: str) -> None:
    """Tab into a radio group and move with the arrow keys until the radio with this value is chosen."""
    tab_to(page, lambda f: f["type"] == "radio" and f["name"] == name)
    for _ in range(40):
        if focused(page)["value"] == value:
            page.keyboard.press("Space")
            return
        page.keyboard.press("ArrowDown")
    raise AssertionError(f"no radio {name}={value}")


def type_into(page, label: str, text: str) -> None:
    tab_to(page, lambda f: f["label"] == label and f["tag"] in ("input", "textarea"))
    page.keyboard.type(text)
