"""The accessibility report (issue 16): every crawled page, for every user, in Swedish and English, at 390 and
1280 px, with what an auditor needs to read offline.

    .venv/bin/python -m accessibility.report [--out DIR] [--quick] [--lighthouse public|none] [--update-status]
    make a11y-report            (the same, into build/a11y-report/)

Starts the portal on the small demo data set (as e2e/screenshots.py does: the test app in a thread, a temporary
SQLite file), visits every page accessibility/crawl.py finds, logged in as the crawl's identities, and records per
page × language × viewport:

- axe-core's results for WCAG 2.0/2.1 A and AA (violations, incomplete and passes), grouped by success criterion;
- a full-page screenshot (JPEG, in `shots/` next to the HTML);
- the keyboard tab order: up to TAB_STOPS presses of Tab, each focused element's tag, role and accessible name;
- the accessibility tree as a screen reader gets it (Chromium's, through Playwright's ARIA snapshot) and, from
  it, the headings, landmarks and form fields with their labels;
- the checks beyond axe (accessibility/checks.py): reflow at 320 px, 200 % text, text spacing, forced colours,
  reduced motion, visible focus, target size (at 390 px those that depend on the width);
- a Lighthouse accessibility score for the anonymous (public) pages, mobile at 390 and desktop at 1280 px
  (Lighthouse takes some seconds a page; the logged-in pages are covered by axe, the same engine Lighthouse uses).

Writes DIR/index.html (the summary, the WCAG 2.1 A/AA map from accessibility/wcag.py, a section per page) and
DIR/report.json (the same data). The folder is the report: it opens offline (no script, no remote resource).

The conformance status follows: "full" only with no axe violation anywhere and no known failure in
accessibility/status.json, otherwise "partial". `--update-status` writes it, today's date as `tested_on` and the
number of pages checked into status.json (its other fields kept), which the statement page shows.

`--quick` (accessibility/test_report.py): Swedish at 1280 px only, no Lighthouse, small screenshots; every page.
"""
from __future__ import annotations

import argparse
import html
import json
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from accessibility import checks, crawl, wcag

ROOT = Path(__file__).resolve().parent.parent
STATUS_FILE = ROOT / "accessibility" / "status.json"
LANGS = ("sv", "en")
WIDTHS = (390, 1280)
HEIGHTS = {390: 844, 1280: 900}
TAB_STOPS = 40
QUICK_TAB_STOPS = 12  # --quick (the test's build): the start of each page's tab order
TREE_LINES = 400  # the accessibility tree shown in the HTML is cut here (report.json keeps it whole)
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": crawl.WCAG_TAGS},
               # passes and incomplete with one node each: the full lists would make the report huge
               "resultTypes": ["violations", "incomplete"]}

# the focused element: tag, role and accessible name (aria-labelledby, aria-label, the label, alt, text, title)
FOCUSED_JS = """() => {
  const e = document.activeElement;
  if (!e || e === document.body || e === document.documentElement) return null;
  const clean = s => (s || '').replace(/\\s+/g, ' ').trim();
  const byIds = ids => clean(ids.split(/\\s+/).map(i => {
      const r = document.getElementById(i); return r ? r.innerText || r.textContent : ''; }).join(' '));
  let name = '';
  if (e.getAttribute('aria-labelledby')) name = byIds(e.getAttribute('aria-labelledby'));
  if (!name) name = clean(e.getAttribute('aria-label'));
  if (!name && e.labels && e.labels.length) name = clean(e.labels[0].innerText);
  if (!name) name = clean([...e.querySelectorAll('img[alt], svg title')].map(i => i.alt || i.textContent)
                          .join(' ') + ' ' + (e.innerText || ''));
  if (!name && (e.type === 'submit' || e.type === 'button')) name = clean(e.value);
  if (!name) name = clean(e.getAttribute('title'));
  const tag = e.tagName.toLowerCase();
  const implicit = {a: e.hasAttribute('href') ? 'link' : '', button: 'button', select: 'combobox',
    textarea: 'textbox', summary: 'button', main: 'main', h1: 'heading', h2: 'heading'};
  let role = e.getAttribute('role') || implicit[tag] || '';
  if (tag === 'input') role = ({checkbox: 'checkbox', radio: 'radio', submit: 'button', button: 'button',
    search: 'searchbox', range: 'slider', number: 'spinbutton'})[e.type] || 'textbox';
  const box = e.getBoundingClientRect();
  return {tag, role, name: name.slice(0, 160), id: e.id || '',
          visible: box.width > 0 && box.height > 0};
}"""

LANDMARKS = ("banner", "navigation", "main", "contentinfo", "complementary", "search", "form", "region")
FIELDS = ("textbox", "searchbox", "combobox", "checkbox", "radio", "spinbutton", "slider", "listbox", "switch")


@dataclass(frozen=True)
class Visit:
    page: crawl.Page
    lang: str
    width: int

    @property
    def key(self) -> str:
        return f"{page_id(self.page)} [{self.lang} {self.width}px]"


def page_id(p: crawl.Page) -> str:
    return f"{p.as_user or 'anonymous'} {p.url}"


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:120] or "start"


# --- what one visit records ------------------------------------------------------------------------------------

def _criteria(tags: Iterable[str]) -> list[str]:
    return sorted({c for c in (wcag.axe_tag_criterion(t) for t in tags) if c}, key=_sc_key)


def _sc_key(number: str) -> tuple[int, ...]:
    return tuple(int(x) for x in number.split("."))


def _rule(result: dict, nodes: bool) -> dict:
    out = {"id": result["id"], "impact": result.get("impact"), "help": result["help"],
           "help_url": result.get("helpUrl", ""), "criteria": _criteria(result.get("tags", ())),
           "nodes": len(result.get("nodes", ()))}
    if nodes:
        out["targets"] = [", ".join(map(str, n["target"])) if isinstance(n["target"], list) else str(n["target"])
                          for n in result.get("nodes", ())[:10]]
        out["summaries"] = [n.get("failureSummary", "") for n in result.get("nodes", ())[:3]]
    return out


def axe_results(page) -> dict:
    """axe-core on the page as it is now: violations and incomplete with their nodes, passes and inapplicable by
    rule, each with the success criteria of its tags."""
    found = crawl._axe.run(page, options=AXE_OPTIONS).response
    return {"violations": [_rule(r, True) for r in found["violations"]],
            "incomplete": [_rule(r, True) for r in found["incomplete"]],
            "passes": [_rule(r, False) for r in found["passes"]],
            "inapplicable": [r["id"] for r in found["inapplicable"]]}


def tab_order(page, stops: int = TAB_STOPS) -> list[dict]:
    """Press Tab from the top of the page up to `stops` times; the focused elements in order. Stops when the focus
    leaves the page or comes back to the first element."""
    page.evaluate("() => { document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0); }")
    order: list[dict] = []
    for _ in range(stops):
        page.keyboard.press("Tab")
        now = page.evaluate(FOCUSED_JS)
        if now is None or (order and now == order[0]):
            break
        order.append(now)
    return order


def _tree_outline(snapshot: str) -> dict:
    """Headings (with levels), landmarks and form fields (with their names) read off the ARIA snapshot."""
    headings, landmarks, fields = [], [], []
    for line in snapshot.splitlines():
        m = re.match(r"\s*- (\w+)(?: \"((?:[^\"\\]|\\.)*)\")?(.*)", line)
        if not m:
            continue
        role, name, rest = m.group(1), (m.group(2) or "").replace('\\"', '"'), m.group(3)
        if role == "heading":
            level = re.search(r"\[level=(\d)\]", rest)
            headings.append({"level": int(level.group(1)) if level else None, "name": name})
        elif role in LANDMARKS:
            landmarks.append({"role": role, "name": name})
        elif role in FIELDS:
            fields.append({"role": role, "name": name, "labelled": bool(name)})
    return {"headings": headings, "landmarks": landmarks, "fields": fields}


def accessibility_tree(page) -> dict:
    snapshot = page.locator("body").aria_snapshot()
    return {"snapshot": snapshot, **_tree_outline(snapshot)}


def visit(page, v: Visit, out: Path, quality: int, tab_stops: int) -> dict:
    response = page.goto(v.page.url)
    status = response.status if response else None
    page.wait_for_load_state()
    shot = Path("shots") / f"{slug(page_id(v.page))}-{v.lang}-{v.width}.jpg"
    page.screenshot(path=str(out / shot), full_page=True, type="jpeg", quality=quality)
    record = {"key": v.key, "endpoint": v.page.endpoint, "url": v.page.url, "user": v.page.as_user,
              "lang": v.lang, "width": v.width, "http_status": status, "title": page.title(),
              "html_lang": page.locator("html").get_attribute("lang"), "screenshot": shot.as_posix(),
              "axe": axe_results(page), "tree": accessibility_tree(page),
              "checks": checks.run_all(page, only=None if v.width >= 1280 else checks.AT_EACH_WIDTH)}
    record["tab_order"] = tab_order(page, tab_stops)  # last: tabbing may open things (details, the skip link)
    return record


# --- the crawl ---------------------------------------------------------------------------------------------------

def collect(app, base_url: str, browser, out: Path, *, langs=LANGS, widths=WIDTHS, quality: int = 60,
            tab_stops: int = TAB_STOPS, progress=print, only=None) -> tuple[list[crawl.Page], list[dict], dict]:
    """Visit every crawled page (or those `only(page)` keeps) for every user in each language and width; the pages,
    the visit records and axe's own facts (version, the WCAG rules it has and their criteria)."""
    from conftest import new_context

    (out / "shots").mkdir(parents=True, exist_ok=True)
    found = [p for p in crawl.pages(app) if only is None or only(p)]
    users = sorted({p.as_user for p in found}, key=str)
    records: list[dict] = []
    axe_facts: dict = {}
    for lang in langs:
        for width in widths:
            for user in users:
                context = new_context(browser, base_url, lang=lang, width=width, height=HEIGHTS.get(width, 900))
                page = context.new_page()
                page.set_default_timeout(20_000)
                if user:
                    crawl.login(page, user)
                for p in (p for p in found if p.as_user == user):
                    records.append(visit(page, Visit(p, lang, width), out, quality, tab_stops))
                    if not axe_facts:
                        axe_facts = page.evaluate("""tags => ({version: axe.version,
                            rules: axe.getRules(tags).map(r => ({id: r.ruleId, tags: r.tags, help: r.help}))})""",
                                                  crawl.WCAG_TAGS)
                progress(f"  {lang} {width}px {user or 'anonymous'}: "
                         f"{sum(1 for p in found if p.as_user == user)} pages")
                context.close()
    return found, records, axe_facts


# --- Lighthouse (the public pages) ---------------------------------------------------------------------------

def lighthouse_scores(base_url: str, pages: list[crawl.Page], langs: Iterable[str], folder: Path,
                      progress=print) -> dict[str, int | None]:
    """Lighthouse's accessibility score for each anonymous page, mobile (≈390 px) and desktop (1280 px), in each
    language; keyed like the visits (Visit.key)."""
    import os
    import subprocess

    from bench import lighthouse as lh

    if not lh.LIGHTHOUSE.exists():
        progress("  Lighthouse is not installed (make lighthouse): no scores")
        return {}
    home = folder / "chromium-home"
    home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, CHROME_PATH=lh.CHROMIUM, HOME=str(home), XDG_CONFIG_HOME=str(home / "config"),
               XDG_CACHE_HOME=str(home / "cache"), TMPDIR=str(home))
    scores: dict[str, int | None] = {}
    for p in (p for p in pages if p.as_user is None):
        for lang in langs:
            for width, preset in ((390, ["--form-factor=mobile"]), (1280, ["--preset=desktop"])):
                report = folder / "lh.json"
                report.unlink(missing_ok=True)
                args = [str(lh.LIGHTHOUSE), base_url + p.url, "--output=json", f"--output-path={report}", "--quiet",
                        "--only-categories=accessibility", "--chrome-flags=" + " ".join(lh.CHROME_FLAGS),
                        "--max-wait-for-load=30000", "--disable-full-page-screenshot",
                        "--extra-headers=" + json.dumps({"Cookie": f"lang={lang}"}), *preset]
                score = None
                for _ in range(2):
                    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
                    if done.returncode == 0 and report.exists():
                        got = json.loads(report.read_text())["categories"]["accessibility"]["score"]
                        score = None if got is None else round(got * 100)
                        break
                scores[Visit(p, lang, width).key] = score
        progress(f"  lighthouse {p.url}")
    return scores


# --- the summary ---------------------------------------------------------------------------------------------

def known_failures(status_file: Path = STATUS_FILE) -> list[dict]:
    return json.loads(status_file.read_text(encoding="utf-8")).get("known_failures", [])


def check_problems(record: dict) -> int:
    return sum(len(found) for found in record.get("checks", {}).values())


def derive_status(records: list[dict], failures: list) -> str:
    """"full" only with no axe violation and no problem of the checks beyond axe on any page, and no known failure;
    otherwise "partial"."""
    clean = not any(r["axe"]["violations"] or check_problems(r) for r in records)
    return "full" if not failures and clean else "partial"


def criteria_map(records: list[dict], axe_facts: dict, status_file: Path = STATUS_FILE) -> list[dict]:
    """Every WCAG 2.1 A/AA criterion: how it is tested, the axe rules that ran for it and what they found, and
    its state here (fails: a violation or a known failure; review: only axe's "incomplete"; else tested)."""
    data = json.loads(status_file.read_text(encoding="utf-8"))
    failing = {f["criterion"] for f in data.get("known_failures", [])}
    manual_only = {c for m in data.get("manual_only", []) for c in m["criteria"]}
    rules: dict[str, list[str]] = {}
    ran = {r["id"] for rec in records for kind in ("violations", "incomplete", "passes") for r in rec["axe"][kind]}
    ran |= {i for rec in records for i in rec["axe"]["inapplicable"]}
    for r in axe_facts.get("rules", []):
        for c in _criteria(r["tags"]) if r["id"] in ran else ():
            rules.setdefault(c, []).append(r["id"])
    counts: dict[str, Counter] = {}
    for rec in records:
        for kind in ("violations", "incomplete", "passes"):
            for r in rec["axe"][kind]:
                for c in r["criteria"]:
                    counts.setdefault(c, Counter())[kind] += 1
        for name, found in rec.get("checks", {}).items():  # a check beyond axe counts as a rule of its criteria
            for c in checks.CRITERIA[name]:
                counts.setdefault(c, Counter())["violations" if found else "passes"] += 1
    out = []
    for c in wcag.CRITERIA:
        n = counts.get(c.number, Counter())
        state = ("fails" if n["violations"] or c.number in failing else
                 "review" if n["incomplete"] else "passes" if n["passes"] else
                 "not-applicable" if rules.get(c.number) else "not-automated")
        out.append({"criterion": c.number, "name": c.name, "level": c.level, "en301549": c.en301549,
                    "method": c.method, "ways": [{"kind": w.kind, "what": w.what} for w in c.ways],
                    "axe_rules": sorted(rules.get(c.number, [])), "violations": n["violations"],
                    "incomplete": n["incomplete"], "passes": n["passes"], "known_failure": c.number in failing,
                    "manual_only": c.number in manual_only, "state": state})
    return out


def build(app, base_url: str, browser, out: Path, *, quick: bool = False, lighthouse: str = "public",
          status_file: Path = STATUS_FILE, progress=print, only=None) -> dict:
    """Crawl, and write out/report.json and out/index.html; the report's data. `only` (a test's): the pages kept."""
    started = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    langs, widths = (("sv",), (1280,)) if quick else (LANGS, WIDTHS)
    found, records, axe_facts = collect(app, base_url, browser, out, langs=langs, widths=widths,
                                        quality=20 if quick else 60, tab_stops=QUICK_TAB_STOPS if quick else TAB_STOPS,
                                        progress=progress, only=only)
    scores: dict[str, int | None] = {}
    if lighthouse == "public" and not quick:
        with tempfile.TemporaryDirectory(prefix="a11y-lighthouse-") as folder:
            scores = lighthouse_scores(base_url, found, langs, Path(folder), progress)
    for rec in records:
        rec["lighthouse_accessibility"] = scores.get(rec["key"])
    failures = known_failures(status_file)
    report = {
        "generated_on": date.today().isoformat(), "quick": quick, "languages": list(langs), "widths": list(widths),
        "axe_version": axe_facts.get("version"), "axe_tags": crawl.WCAG_TAGS,
        "lighthouse": ("accessibility score of the anonymous pages, mobile (390) and desktop (1280)"
                       if scores else "not run" + (" (--quick)" if quick else "")),
        "pages": [{"id": page_id(p), "endpoint": p.endpoint, "url": p.url, "user": p.as_user} for p in found],
        "visits": records, "known_failures": failures,
        "status": derive_status(records, failures),
        "criteria": criteria_map(records, axe_facts, status_file),
        "seconds": round(time.monotonic() - started),
    }
    (out / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    (out / "index.html").write_text(render(report), encoding="utf-8")
    return report


def update_status(report: dict, status_file: Path = STATUS_FILE) -> dict:
    """Write the report's date, status and page count into status.json, keeping its other fields."""
    data = json.loads(status_file.read_text(encoding="utf-8"))
    data["tested_on"] = report["generated_on"]
    data["status"] = report["status"]
    data["pages_checked"] = len(report["pages"])
    status_file.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return data


# --- HTML --------------------------------------------------------------------------------------------------------

CSS = """
body{font:16px/1.5 system-ui,sans-serif;margin:0 auto;max-width:78rem;padding:1rem;color:#111}
table{border-collapse:collapse;margin:1rem 0}th,td{border:1px solid #888;padding:.25rem .5rem;text-align:left;
vertical-align:top}caption{text-align:left;font-weight:bold}.bad{background:#fdd}.warn{background:#ffc}
.ok{background:#dfd}img{max-width:100%;border:1px solid #888}pre{white-space:pre-wrap;font-size:.8rem;
max-height:40rem;overflow:auto;background:#f4f4f4;padding:.5rem}section{border-top:2px solid #333;margin-top:2rem}
details{margin:.5rem 0}summary{cursor:pointer;font-weight:bold}.shots{display:flex;gap:1rem;flex-wrap:wrap}
.shots figure{margin:0;flex:1 1 18rem;max-width:40rem}a:focus,summary:focus{outline:3px solid #000;
outline-offset:2px}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _rules_table(rules: list[dict], caption: str) -> str:
    if not rules:
        return f"<p>{_e(caption)}: none.</p>"
    rows = "".join(
        f"<tr><td>{_e(r['id'])}</td><td>{_e(', '.join(r['criteria']) or '–')}</td><td>{_e(r.get('impact'))}</td>"
        f"<td>{_e(r['help'])}</td><td>{r['nodes']}</td><td>{'<br>'.join(_e(t) for t in r.get('targets', []))}</td>"
        "</tr>" for r in rules)
    return (f"<table><caption>{_e(caption)}</caption><thead><tr><th scope=col>rule</th><th scope=col>criteria</th>"
            "<th scope=col>impact</th><th scope=col>what</th><th scope=col>nodes</th><th scope=col>where</th>"
            f"</tr></thead><tbody>{rows}</tbody></table>")


def _visit_html(rec: dict) -> str:
    axe = rec["axe"]
    passes: dict[str, list[str]] = {}
    for r in axe["passes"]:
        for c in r["criteria"] or ["–"]:
            passes.setdefault(c, []).append(r["id"])
    tree = rec["tree"]
    lines = tree["snapshot"].splitlines()
    cut = "\n…" if len(lines) > TREE_LINES else ""
    tabs = "".join(f"<li>{_e(t['role'] or t['tag'])} <q>{_e(t['name'])}</q>"
                   f"{'' if t['visible'] else ' (not visible)'}</li>" for t in rec["tab_order"])
    heads = "".join(f"<li>h{_e(h['level'])} {_e(h['name'])}</li>" for h in tree["headings"])
    marks = "".join(f"<li>{_e(m['role'])} {_e(m['name'])}</li>" for m in tree["landmarks"])
    fields = "".join(f"<li{'' if f['labelled'] else ' class=bad'}>{_e(f['role'])} "
                     f"<q>{_e(f['name'] or 'NO NAME')}</q></li>" for f in tree["fields"])
    lh = rec.get("lighthouse_accessibility")
    found_by_checks = "".join(
        f"<li{' class=bad' if found else ''}>{_e(name)} ({_e(', '.join(checks.CRITERIA[name]))}): "
        + (_e("; ".join(found)) if found else "passes") + "</li>" for name, found in rec.get("checks", {}).items())
    return (
        f"<h3>{_e(rec['lang'])}, {rec['width']} px</h3>"
        f"<p>HTTP {_e(rec['http_status'])}, title <q>{_e(rec['title'])}</q>, lang <code>{_e(rec['html_lang'])}</code>"
        f", axe: {len(axe['violations'])} violations, {len(axe['incomplete'])} incomplete, {len(axe['passes'])} "
        f"rules passed" + (f", Lighthouse accessibility {lh}" if lh is not None else "") + ".</p>"
        f"<figure><a href='{_e(rec['screenshot'])}'><img loading=lazy src='{_e(rec['screenshot'])}' "
        f"alt='Screenshot of {_e(rec['url'])}, {_e(rec['lang'])}, {rec['width']} px'></a></figure>"
        + _rules_table(axe["violations"], "Violations") + _rules_table(axe["incomplete"], "Incomplete (review)")
        + f"<h4>Checks beyond axe</h4><ul>{found_by_checks or '<li>not run</li>'}</ul>"
        + "<details><summary>Rules passed, by criterion</summary><ul>"
        + "".join(f"<li>{_e(c)}: {_e(', '.join(ids))}</li>" for c, ids in sorted(passes.items()))
        + f"</ul></details><details><summary>Tab order ({len(rec['tab_order'])} stops)</summary><ol>{tabs}</ol>"
        f"</details><details><summary>Headings, landmarks, form fields</summary><h4>Headings</h4><ul>{heads}</ul>"
        f"<h4>Landmarks</h4><ul>{marks}</ul><h4>Form fields</h4><ul>{fields or '<li>none</li>'}</ul></details>"
        f"<details><summary>Accessibility tree</summary><pre>{_e(chr(10).join(lines[:TREE_LINES]) + cut)}</pre>"
        "</details>")


def render(report: dict) -> str:
    visits: dict[str, list[dict]] = {}
    for rec in report["visits"]:
        visits.setdefault(f"{rec['user'] or 'anonymous'} {rec['url']}", []).append(rec)
    combos = [(lang, w) for lang in report["languages"] for w in report["widths"]]
    head = "".join(f"<th scope=col>{lang} {w}px</th>" for lang, w in combos)
    rows = []
    for p in report["pages"]:
        cells = []
        for lang, w in combos:
            rec = next((r for r in visits.get(p["id"], []) if r["lang"] == lang and r["width"] == w), None)
            n = len(rec["axe"]["violations"]) + check_problems(rec) if rec else None
            i = len(rec["axe"]["incomplete"]) if rec else 0
            lh = rec.get("lighthouse_accessibility") if rec else None
            cells.append(f"<td class={'bad' if n else 'warn' if i else 'ok'}>{'–' if n is None else n} / {i}"
                         + (f" · LH {lh}" if lh is not None else "") + "</td>")
        rows.append(f"<tr><th scope=row><a href='#{slug(p['id'])}'>{_e(p['url'])}</a></th>"
                    f"<td>{_e(p['user'] or 'anonymous')}</td><td>{_e(p['endpoint'])}</td>{''.join(cells)}</tr>")
    crit_rows = "".join(
        f"<tr class={ {'fails': 'bad', 'review': 'warn', 'passes': 'ok'}.get(c['state'], '')}>"
        f"<th scope=row>{_e(c['criterion'])}</th><td>{_e(c['name'])}</td><td>{_e(c['level'])}</td>"
        f"<td>{_e(c['en301549'])}</td><td>{_e(c['method'])}</td><td><ul>"
        + "".join(f"<li>{_e(w['kind'])}: {_e(w['what'])}</li>" for w in c["ways"])
        + f"</ul></td><td>{_e(', '.join(c['axe_rules']) or '–')}</td>"
        f"<td>{c['violations']} / {c['incomplete']} / {c['passes']}</td><td>{_e(c['state'])}"
        + (" (known failure)" if c["known_failure"] else "") + "</td></tr>" for c in report["criteria"])
    sections = []
    for p in report["pages"]:
        body = "".join(_visit_html(r) for r in visits.get(p["id"], []))
        sections.append(f"<section id='{slug(p['id'])}'><h2>{_e(p['url'])} ({_e(p['user'] or 'anonymous')})</h2>"
                        f"<p>Endpoint <code>{_e(p['endpoint'])}</code>. <a href='#summary'>Back to the summary</a>"
                        f"</p>{body}</section>")
    total = sum(len(r["axe"]["violations"]) for r in report["visits"])
    checked = sum(check_problems(r) for r in report["visits"])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Accessibility report – Intygsportalen – {_e(report['generated_on'])}</title><style>{CSS}</style></head>
<body><header><p><a href="#main">Skip to the report</a></p></header><main id="main">
<h1>Accessibility report: Intygsportalen</h1>
<p>Made {_e(report['generated_on'])} by <code>make a11y-report</code> (accessibility/report.py) in
{report['seconds']} s{' – QUICK run: one language, one width, no Lighthouse' if report['quick'] else ''}.
axe-core {_e(report['axe_version'])} with the tags {_e(', '.join(report['axe_tags']))}; Lighthouse:
{_e(report['lighthouse'])}. {len(report['pages'])} pages and states (every page of accessibility/crawl.py for each
user it is crawled as), {len(report['visits'])} visits, {total} axe violations and {checked} problems of the checks
beyond axe (accessibility/checks.py: reflow at 320 px, 200 % text at 1280 px, text spacing, forced colours, reduced
motion, visible focus, target size) in all.</p>
<p><strong>Conformance status derived: {_e(report['status'])}</strong> ("full" only with no violation, no problem
of the checks and no known failure in accessibility/status.json; {len(report['known_failures'])} known failures
listed there).</p>
<nav aria-label="Contents"><ul><li><a href="#summary">Pages</a></li><li><a href="#criteria">WCAG 2.1 A/AA
and EN 301 549</a></li><li><a href="#pages">Each page</a></li></ul></nav>
<h2 id="summary">Pages</h2>
<table><caption>Problems (axe violations and problems of the checks beyond axe) / axe incomplete per page,
language and width (LH: Lighthouse accessibility score)</caption><thead><tr><th scope=col>page</th>
<th scope=col>user</th><th scope=col>endpoint</th>{head}</tr>
</thead><tbody>{''.join(rows)}</tbody></table>
<h2 id="criteria">WCAG 2.1 A and AA, EN 301 549 clause 9</h2>
<p>How each success criterion is tested here (accessibility/wcag.py): <em>automatic</em> (axe-core on every page,
accessibility/test_axe.py), <em>scripted</em> (the named test drives the browser), <em>manual</em> (what the
auditor does, with the screenshots, tab orders and trees below). The counts are rule results over all visits
(violations / incomplete / passes). State: fails (a violation or a known failure), review (only axe's
"incomplete"), passes (axe's rules passed; a manual part may remain), not-applicable (axe's rules found
nothing to test), not-automated (no axe rule: see the scripted and manual ways).</p>
<table><caption>Success criteria</caption><thead><tr><th scope=col>SC</th><th scope=col>name</th>
<th scope=col>level</th><th scope=col>EN 301 549</th><th scope=col>method</th><th scope=col>how</th>
<th scope=col>axe rules</th><th scope=col>v / i / p</th><th scope=col>state</th></tr></thead>
<tbody>{crit_rows}</tbody></table>
<h2 id="pages">Each page</h2>
<p>The tab order is up to {TAB_STOPS} presses of Tab from the top; the names are computed in the page
(aria-labelledby, aria-label, label, alt, text, title), an approximation of the accessible name. The accessibility
tree is Chromium's, as Playwright's ARIA snapshot gives it (cut at {TREE_LINES} lines; report.json has it all).</p>
{''.join(sections)}
</main></body></html>
"""


# --- the command ----------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    import logging

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "a11y-report")
    parser.add_argument("--quick", action="store_true", help="Swedish at 1280 px, no Lighthouse, small screenshots")
    parser.add_argument("--lighthouse", choices=("public", "none"), default="public")
    parser.add_argument("--update-status", action="store_true",
                        help="write the date, the status and the page count into accessibility/status.json")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from playwright.sync_api import sync_playwright

    from conftest import CHROMIUM, CHROMIUM_ARGS, LiveServer, free_port, load_demo, make_test_app

    logging.getLogger().setLevel(logging.WARNING)
    tmp = Path(tempfile.mkdtemp(prefix="a11y-report-"))
    print("Loading the demo data …")
    app = make_test_app(f"sqlite:///{tmp / 'portal.sqlite'}", AUTO_MIGRATE=True,
                        PUBLIC_BASE_URL=f"http://127.0.0.1:{free_port()}")
    load_demo(app)
    for name in ("werkzeug", "portal", "portal.access"):  # the crawl's requests are not news
        logging.getLogger(name).setLevel(logging.WARNING)
    home = tmp / "chromium-home"
    home.mkdir()
    env = {"HOME": str(home), "XDG_CONFIG_HOME": str(home / "config"), "XDG_CACHE_HOME": str(home / "cache"),
           "TMPDIR": str(home), "PATH": "/usr/bin:/bin"}
    with LiveServer(app) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, env=env)
        report = build(app, server.url, browser, args.out, quick=args.quick, lighthouse=args.lighthouse)
        browser.close()
    print(f"{len(report['pages'])} pages, {len(report['visits'])} visits, "
          f"{sum(len(r['axe']['violations']) for r in report['visits'])} violations; status {report['status']}; "
          f"{report['seconds']} s")
    if args.update_status:
        data = update_status(report)
        print(f"accessibility/status.json: tested_on {data['tested_on']}, status {data['status']}")
        if data["status"] != "full" and not data.get("known_failures"):
            print("  the report found violations: list them as known_failures in accessibility/status.json, or fix "
                  "them (the statement's test checks the status against the known failures)")
    print(f"Open {(args.out / 'index.html').resolve()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
