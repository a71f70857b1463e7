"""Checks beyond axe-core (issue 16, item 2), run on a Playwright page as it is now. Each check returns a list of
problems in words (an empty list: the page passes) and leaves the page as it found it (viewport, media emulation,
added styles).

- reflow: at 320 CSS px wide, nothing scrolls the page sideways (WCAG 1.4.10); a table or chart in its own
  scroll region (overflow-x auto or scroll) is allowed;
- text_zoom: at 1280 px, text at 200 % (the root font size doubled, as a browser's text-only zoom does for rem/em
  sizes): no sideways scrolling and no clipped text (1.4.4);
- text_spacing: line height 1.5, letter spacing 0.12 em, word spacing 0.16 em, paragraph spacing 2 em: no text
  clipped (1.4.12);
- forced_colors: Windows high contrast (forced-colors: active): every control has a border or text to show
  it, and every focused element an outline (box shadows and backgrounds vanish in forced colours) (1.4.11, 2.4.7);
- reduced_motion: with prefers-reduced-motion: reduce, nothing animates or moves by transition and scrolling is
  not smooth (2.3.3, 2.2.2);
- focus_visible: every element in the tab order (up to FOCUS_LIMIT), focused as from the keyboard, shows an
  indicator and is on screen, not hidden behind a sticky or fixed element (2.4.7, 2.4.11);
- target_size: every pointer target is at least 24 × 24 CSS px, or spaced so a 24 px circle on it touches no
  other target, or inline in text, or an unstyled browser control (2.5.8).

`swap_feedback` checks one htmx swap: it either moves focus to its new heading (or error summary) or announces its
result in the live region, never both and never neither.

Styles are added as a constructed style sheet (document.adoptedStyleSheets): the CSSOM is not inline style, so the
portal's strict CSP stays as it is.
"""
from __future__ import annotations

from collections.abc import Callable

REFLOW_WIDTH, REFLOW_HEIGHT = 320, 640
ZOOM_WIDTH, ZOOM_HEIGHT = 1280, 900
MIN_TARGET = 24
FOCUS_LIMIT = 200
TEXT_SPACING_CSS = ("*, *::before, *::after { line-height: 1.5 !important; letter-spacing: 0.12em !important;"
                    " word-spacing: 0.16em !important; } p { margin-bottom: 2em !important; }")
TEXT_ZOOM_CSS = "html { font-size: 200% !important; }"

# a short description of an element for a problem: tag#id.class "text"
_DESCRIBE = """
const describe = el => {
  const cls = (el.getAttribute('class') || '').trim().split(/\\s+/).filter(Boolean).slice(0, 2).map(c => '.' + c);
  const text = (el.innerText || el.value || el.getAttribute('aria-label') || '').replace(/\\s+/g, ' ').trim();
  return el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + cls.join('') + (text ? ' "' + text.slice(0, 40) + '"'
    : '');
};
const shown = el => {
  const s = getComputedStyle(el);
  if (s.display === 'none' || s.visibility === 'hidden' || s.visibility === 'collapse') return false;
  const r = el.getBoundingClientRect();
  if (r.width < 2 || r.height < 2) return false;  // the visually hidden text of screen readers
  for (let e = el; e; e = e.parentElement) {
    const es = getComputedStyle(e);
    if (es.clipPath === 'inset(50%)') return false;
    if (es.position === 'absolute' && es.clip && es.clip.startsWith('rect(0')) return false;
    if (e.tagName === 'DETAILS' && !e.open && e !== el && !el.closest('summary')) return false;
  }
  return true;
};
"""

OVERFLOW_JS = "() => {" + _DESCRIBE + """
  const root = document.scrollingElement || document.documentElement;
  const width = root.clientWidth;
  if (root.scrollWidth <= width + 1) return [];
  const inScroller = el => {
    for (let e = el.parentElement; e && e !== document.body; e = e.parentElement) {
      if (['auto', 'scroll'].includes(getComputedStyle(e).overflowX)) return true;
    }
    return false;
  };
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0 || r.right <= width + 1 || inScroller(el)) continue;
    const p = el.parentElement;
    if (p && p !== document.body && p.getBoundingClientRect().right > width + 1 && !inScroller(p)) continue;
    out.push(describe(el) + ' reaches ' + Math.round(r.right) + ' px');
  }
  return [(root.scrollWidth - width) + ' px of sideways scrolling at ' + width + ' px', ...out.slice(0, 5)];
}"""

CLIPPED_JS = "() => {" + _DESCRIBE + """
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    const s = getComputedStyle(el);
    const cutX = ['hidden', 'clip'].includes(s.overflowX), cutY = ['hidden', 'clip'].includes(s.overflowY);
    if ((!cutX && !cutY) || !shown(el) || !(el.innerText || '').trim()) continue;
    if ((cutX && el.scrollWidth > el.clientWidth + 1) || (cutY && el.scrollHeight > el.clientHeight + 1)) {
      out.push('text clipped in ' + describe(el));
    }
  }
  return out.slice(0, 8);
}"""

CONTROLS_JS = "() => {" + _DESCRIBE + """
  const out = [];
  const sides = ['Top', 'Right', 'Bottom', 'Left'];
  for (const el of document.querySelectorAll('button, input:not([type=hidden]), select, textarea')) {
    if (!shown(el)) continue;
    const s = getComputedStyle(el);
    if (['checkbox', 'radio'].includes(el.type) && s.appearance !== 'none') continue;  // drawn by the system
    const border = sides.some(x => parseFloat(s['border' + x + 'Width']) > 0 && s['border' + x + 'Style'] !== 'none');
    const text = ['BUTTON'].includes(el.tagName) || ['submit', 'button', 'reset'].includes(el.type)
      ? (el.innerText || el.value || '').trim() : '';
    if (!border && !text) out.push('no border or text shows ' + describe(el));
  }
  return out.slice(0, 8);
}"""

# every element in the tab order, focused in turn (after one real Tab, so that the browser shows focus as for the
# keyboard: :focus-visible), and how its focus shows; one round trip instead of a key press per element
FOCUS_ALL_JS = "(limit) => {" + _DESCRIBE + """
  const sel = 'a[href], button, input:not([type=hidden]), select, textarea, summary, [tabindex], iframe';
  const order = [...document.querySelectorAll(sel)].filter(el => el.tabIndex >= 0 && !el.disabled && shown(el));
  const positive = order.filter(el => el.tabIndex > 0).sort((a, b) => a.tabIndex - b.tabIndex);
  const clear = c => /^rgba\\(.*,\\s*0\\)$/.test(c) || c === 'transparent';
  const out = [];
  for (const el of [...positive, ...order.filter(el => el.tabIndex === 0)].slice(0, limit)) {
    el.focus();
    if (document.activeElement !== el) continue;
    const s = getComputedStyle(el);
    const outline = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 1;
    const r = el.getBoundingClientRect();
    let hiddenBy = '';
    const offScreen = r.bottom <= 0 || r.top >= innerHeight || r.right <= 0 || r.left >= innerWidth;
    if (!offScreen && r.width > 0 && r.height > 0) {
      const x = Math.min(Math.max(r.left + r.width / 2, 0), innerWidth - 1);
      const y = Math.min(Math.max(r.top + Math.min(r.height / 2, 8), 0), innerHeight - 1);
      const top = document.elementFromPoint(x, y);
      if (top && top !== el && !el.contains(top) && !top.contains(el)) {
        for (let e = top; e; e = e.parentElement) {
          const p = getComputedStyle(e).position;
          if (p === 'sticky' || p === 'fixed') { hiddenBy = describe(e); break; }
        }
      }
    }
    out.push({what: describe(el), outline, outlineVisible: outline && !clear(s.outlineColor),
              shadow: s.boxShadow !== 'none', size: r.width > 0 && r.height > 0, offScreen, hiddenBy});
  }
  return out;
}"""

# no focus, and the next Tab starts from the top again (a blurred element stays the starting point of Tab)
TO_TOP_JS = """() => {
  if (document.activeElement) document.activeElement.blur();
  const body = document.body, had = body.getAttribute('tabindex');
  body.setAttribute('tabindex', '-1');
  body.focus({preventScroll: true});
  body.blur();
  if (had === null) body.removeAttribute('tabindex'); else body.setAttribute('tabindex', had);
  window.scrollTo(0, 0);
}"""

MOTION_JS = "() => {" + _DESCRIBE + """
  const seconds = list => Math.max(...list.split(',').map(t => t.trim().endsWith('ms') ? parseFloat(t) / 1000
                                                                                      : parseFloat(t) || 0));
  const moving = /(^|,\\s*)(all|transform|translate|rotate|scale|top|left|right|bottom|margin|width|height|inset)/;
  const out = [];
  if (getComputedStyle(document.documentElement).scrollBehavior === 'smooth') out.push('smooth scrolling');
  for (const el of [document.documentElement, ...document.querySelectorAll('*')]) {
    for (const pseudo of [null, '::before', '::after']) {
      const s = getComputedStyle(el, pseudo);
      if (s.animationName !== 'none' && seconds(s.animationDuration) > 0.01) {
        out.push('animation ' + s.animationName + ' on ' + describe(el) + (pseudo || ''));
      } else if (seconds(s.transitionDuration) > 0.01 && moving.test(s.transitionProperty)) {
        out.push('transition of ' + s.transitionProperty + ' on ' + describe(el) + (pseudo || ''));
      }
    }
  }
  return out.slice(0, 8);
}"""

TARGETS_JS = "(minimum) => {" + _DESCRIBE + """
  const sel = 'a[href], button, input:not([type=hidden]), select, textarea, summary, [role=button], [role=link]';
  const targets = [...document.querySelectorAll(sel)].filter(shown).map(el => ({el, r: el.getBoundingClientRect()}));
  const big = t => t.r.width >= minimum - 0.5 && t.r.height >= minimum - 0.5;
  const inText = el => {
    if (getComputedStyle(el).display !== 'inline') return false;
    const block = el.parentElement;
    return block && (block.innerText || '').replace(/\\s+/g, ' ').trim().length
      > (el.innerText || '').replace(/\\s+/g, ' ').trim().length + 2;
  };
  const native = el => ['checkbox', 'radio'].includes(el.type) && getComputedStyle(el).appearance !== 'none';
  const toRect = (x, y, r) => Math.hypot(Math.max(r.left - x, 0, x - r.right), Math.max(r.top - y, 0, y - r.bottom));
  const out = [];
  for (const t of targets) {
    if (big(t) || inText(t.el) || native(t.el)) continue;
    const x = t.r.left + t.r.width / 2, y = t.r.top + t.r.height / 2;
    const crowded = targets.some(o => o !== t && !o.el.contains(t.el) && !t.el.contains(o.el) &&
      (toRect(x, y, o.r) < minimum / 2 ||
       (!big(o) && Math.hypot(x - (o.r.left + o.r.width / 2), y - (o.r.top + o.r.height / 2)) < minimum)));
    if (crowded) out.push(describe(t.el) + ' is ' + Math.round(t.r.width) + ' × ' + Math.round(t.r.height) +
                          ' px with another target within ' + minimum + ' px');
  }
  return out.slice(0, 8);
}"""


# --- adding and removing styles -------------------------------------------------------------------------------------

def _add_style(page, css: str) -> None:
    page.evaluate("""css => { const sheet = new CSSStyleSheet(); sheet.replaceSync(css);
        window.__a11yCheckSheet = sheet; document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet]; }""",
                  css)


def _remove_style(page) -> None:
    page.evaluate("""() => { document.adoptedStyleSheets = document.adoptedStyleSheets.filter(
        s => s !== window.__a11yCheckSheet); delete window.__a11yCheckSheet; }""")


def _at_width(page, width: int, height: int, then: Callable[[], list[str]]) -> list[str]:
    before = page.viewport_size
    page.set_viewport_size({"width": width, "height": height})
    try:
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        return then()
    finally:
        if before:
            page.set_viewport_size(before)


# --- the checks -----------------------------------------------------------------------------------------------------

def reflow(page) -> list[str]:
    return _at_width(page, REFLOW_WIDTH, REFLOW_HEIGHT, lambda: page.evaluate(OVERFLOW_JS))


def text_zoom(page) -> list[str]:
    """At the desktop width (1280 px), where text is zoomed: 200 % text on a phone is a 195 px wide page, beyond
    what reflow (320 px) asks."""
    def zoomed() -> list[str]:
        _add_style(page, TEXT_ZOOM_CSS)
        try:
            return page.evaluate(OVERFLOW_JS) + page.evaluate(CLIPPED_JS)
        finally:
            _remove_style(page)

    return _at_width(page, ZOOM_WIDTH, ZOOM_HEIGHT, zoomed)


def text_spacing(page) -> list[str]:
    _add_style(page, TEXT_SPACING_CSS)
    try:
        return page.evaluate(CLIPPED_JS) + page.evaluate(OVERFLOW_JS)
    finally:
        _remove_style(page)


def _focus_each(page, limit: int) -> list[dict]:
    """Each element of the tab order (up to `limit`), focused in turn as after a key press; how its focus shows."""
    page.evaluate(TO_TOP_JS)
    page.keyboard.press("Tab")  # the keyboard is the last input: focus is shown as for the keyboard
    try:
        return page.evaluate(FOCUS_ALL_JS, limit)
    finally:
        page.evaluate(TO_TOP_JS)


def forced_colors(page, stops: int = FOCUS_LIMIT) -> list[str]:
    page.emulate_media(forced_colors="active")
    try:
        problems = page.evaluate(CONTROLS_JS)
        for f in _focus_each(page, stops):
            if not f["outline"]:
                problems.append(f"no outline on focus in forced colours: {f['what']}")
        return problems
    finally:
        page.emulate_media(forced_colors="none")


def reduced_motion(page) -> list[str]:
    page.emulate_media(reduced_motion="reduce")
    try:
        return page.evaluate(MOTION_JS)
    finally:
        page.emulate_media(reduced_motion="no-preference")


def focus_visible(page, stops: int = FOCUS_LIMIT) -> list[str]:
    problems = []
    for f in _focus_each(page, stops):
        if not f["size"]:
            problems.append(f"focused but not shown: {f['what']}")
        elif f["offScreen"]:
            problems.append(f"focused off screen: {f['what']}")
        elif f["hiddenBy"]:
            problems.append(f"focus hidden behind {f['hiddenBy']}: {f['what']}")
        elif not (f["outlineVisible"] or f["shadow"]):
            problems.append(f"no visible focus indicator: {f['what']}")
    return problems


def target_size(page) -> list[str]:
    return page.evaluate(TARGETS_JS, MIN_TARGET)


CHECKS: dict[str, Callable[..., list[str]]] = {
    "reflow": reflow, "text_zoom": text_zoom, "text_spacing": text_spacing, "forced_colors": forced_colors,
    "reduced_motion": reduced_motion, "focus_visible": focus_visible, "target_size": target_size,
}

#: the WCAG 2.1 (and 2.2) success criteria each check stands for
CRITERIA: dict[str, tuple[str, ...]] = {
    "reflow": ("1.4.10",), "text_zoom": ("1.4.4",), "text_spacing": ("1.4.12",), "forced_colors": ("1.4.11", "2.4.7"),
    "reduced_motion": ("2.2.2", "2.3.3"), "focus_visible": ("2.4.7", "2.4.11"), "target_size": ("2.5.8",),
}


#: the checks whose result depends on the page's own width (reflow and text zoom set theirs; motion has none)
AT_EACH_WIDTH = ("text_spacing", "forced_colors", "focus_visible", "target_size")


def run_all(page, stops: int = FOCUS_LIMIT, only: tuple[str, ...] | None = None) -> dict[str, list[str]]:
    """Every check (or those named in `only`) on the page as it is now: check name -> problems."""
    out = {}
    for name, check in CHECKS.items():
        if only is None or name in only:
            out[name] = check(page, stops) if name in ("forced_colors", "focus_visible") else check(page)
    return out


# --- an htmx swap: focus or announcement ----------------------------------------------------------------------------

WATCH_JS = """() => {
  window.__a11ySwap = {settled: 0, announced: []};
  document.addEventListener('htmx:afterSettle', () => { window.__a11ySwap.settled += 1; });
  const live = document.getElementById('app-live');
  if (live) new MutationObserver(() => {
    const t = live.textContent.trim(); if (t) window.__a11ySwap.announced.push(t);
  }).observe(live, {childList: true, characterData: true, subtree: true});
}"""

AFTER_SWAP_JS = "() => {" + _DESCRIBE + """
  const el = document.activeElement;
  const heading = el && (/^H[1-6]$/.test(el.tagName) || el.getAttribute('role') === 'heading' ||
                         el.classList.contains('app-error-summary'));
  return {settled: window.__a11ySwap.settled, announced: window.__a11ySwap.announced,
          focused: heading ? describe(el) : '', where: el ? describe(el) : ''};
}"""


def swap_feedback(page, act: Callable[[], None], timeout_ms: int = 10_000) -> tuple[dict, list[str]]:
    """Do `act` (which starts one htmx request), wait for the swap to settle and the announcement to be made; what
    happened and the problems: an htmx swap moves focus to its new heading or announces, exactly one of the two."""
    page.evaluate(WATCH_JS)
    act()
    page.wait_for_function("() => window.__a11ySwap && window.__a11ySwap.settled > 0", timeout=timeout_ms)
    page.wait_for_timeout(250)  # portal.js announces 50 ms after the swap
    seen = page.evaluate(AFTER_SWAP_JS)
    problems = []
    if seen["focused"] and seen["announced"]:
        problems.append(f"both moved focus to {seen['focused']} and announced {seen['announced']!r}")
    elif not seen["focused"] and not seen["announced"]:
        problems.append(f"neither moved focus to a heading nor announced (focus on {seen['where'] or 'nothing'})")
    return seen, problems
