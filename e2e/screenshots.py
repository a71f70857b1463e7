"""Screenshots of pages at phone (390 px) and desktop (1280 px) width, in both languages.

    .venv/bin/python -m e2e.screenshots [[USER:]PATH ...]   (default: the public pages)

USER is citizen, doctor or coordinator: the script logs in through the test broker first.

Writes PNGs to screenshots/ (not committed). Starts its own server on the demo data.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from accessibility import crawl
from conftest import CHROMIUM, CHROMIUM_ARGS, LiveServer, free_port, load_demo, make_test_app, new_context

OUT = Path(__file__).resolve().parent.parent / "screenshots"


def main(paths: list[str]) -> None:
    OUT.mkdir(exist_ok=True)
    tmp = Path(tempfile.mkdtemp())
    app = make_test_app(f"sqlite:///{tmp / 'shots.sqlite'}", AUTO_MIGRATE=True,
                        PUBLIC_BASE_URL=f"http://127.0.0.1:{free_port()}")
    load_demo(app)
    with LiveServer(app) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for lang in ("sv", "en"):
            for width in (390, 1280):
                context = new_context(browser, server.url, lang=lang, width=width, height=844 if width == 390 else 900)
                page = context.new_page()
                logged_in = None
                for path in paths:
                    as_user = ":" in path and not path.startswith("/testbroker")
                    who, _, path = path.rpartition(":") if as_user else ("", "", path)
                    if who and who != logged_in:
                        crawl.login(page, who)
                        logged_in = who
                    page.goto(path)
                    name = (who + "_" if who else "") + (path.strip("/").replace("/", "_").split("?")[0] or "start")
                    file = OUT / f"{name}-{lang}-{width}.png"
                    page.screenshot(path=str(file), full_page=True)
                    print(file)
                context.close()
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1:] or ["/", "/tillganglighet", "/intygstyper", "/intygstyper/FK7804", "/finns-inte"])
