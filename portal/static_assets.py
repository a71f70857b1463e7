"""Bytes over the wire: compressed answers, and static files under content-hashed names cached for a year.

Well-kept libraries, each doing its one thing:

- **Flask-Static-Digest** copies every file in `static/` to a content-hashed name (`css/portal-<md5>.css`) and
  records the names in `static/cache_manifest.json`; templates ask `static_url_for('static', filename=...)`,
  which answers the hashed URL (the plain one while there is no manifest). The plain names stay and still work.
- **rcssmin** and **rjsmin** minify the hashed CSS and JavaScript copies (the sources stay as written), and
  htmx and `js/portal.js` also go out as one file, `js/bundle.min.js` (see `script_bundle()` in base.html).
- **WhiteNoise** precompresses every file (`.br` brotli 11, `.gz` gzip 9) and serves `static/`: the variant the
  client's Accept-Encoding allows (`Vary: Accept-Encoding`), ETag and Last-Modified with 304s, HEAD and ranges;
  hashed names `public, max-age=31536000, immutable`, plain names a minute and then revalidated.
- **flask-compress** compresses what the app renders (pages, htmx fragments, JSON): brotli or gzip by
  Accept-Encoding, nothing under 500 bytes, nothing compressed already (PDF and XLSX are not on its list).

`python -m portal.static_assets` builds the generated files (gitignored) when a static file is newer than the
manifest; `make setup` runs it, and outside production the app runs it when it starts.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import logging
import re
import sys
import tempfile
from pathlib import Path

import rcssmin  # type: ignore[import-untyped]
import rjsmin  # type: ignore[import-untyped]
from flask import Flask, Response, url_for
from flask_compress import Compress
from flask_static_digest import FlaskStaticDigest, digester  # type: ignore[import-untyped]
from whitenoise import WhiteNoise  # type: ignore[import-untyped]
from whitenoise.compress import Compressor  # type: ignore[import-untyped]

log = logging.getLogger(__name__)

ONE_YEAR = 365 * 24 * 3600
#: Plain (not hashed) static names: cached this long, then revalidated (ETag / Last-Modified, a 304).
SHORT_MAX_AGE = 60
MANIFEST = "cache_manifest.json"
#: Not hashed or precompressed: the PDF fonts (read from disk by WeasyPrint, never sent to browsers; 1.4 MB
#: that brotli 11 would take seconds over) and licence texts.
DIGEST_SKIP = [".ttf", ".txt"]
#: The scripts every page loads, as one file (htmx, then the portal's own script minified): a request fewer on a
#: first visit. The build makes it (gitignored); base.html links the two files while there is none.
SCRIPT_BUNDLE = "js/bundle.min.js"
SCRIPT_BUNDLE_PARTS = ("vendor/htmx-2.0.11.min.js", "js/portal.js")
#: The Content-Security-Policy of a static file: as a stylesheet or script the page's policy applies; opened on its
#: own (an SVG) it may load, run and be framed by nothing.
STATIC_CSP = "default-src 'none'; frame-ancestors 'none'"
#: A name Flask-Static-Digest made: `<name>-<32 hex digits of md5>.<ext>`.
HASHED = re.compile(r"-[0-9a-f]{32}\.[^/]+$")

COMPRESS_SETTINGS = {
    "COMPRESS_ALGORITHM": ["br", "gzip"],  # brotli where the client asks for it, else gzip
    "COMPRESS_ALGORITHM_STREAMING": ["br", "gzip"],
    "COMPRESS_MIN_SIZE": 500,  # smaller answers are not worth a compressor (gzip's own frame is ~20 bytes)
    "COMPRESS_LEVEL": 6,  # gzip
    "COMPRESS_BR_LEVEL": 5,  # brotli: ~10 % smaller than gzip -6 in about 2 ms for a 50 KB page (11 takes 75 ms)
    "COMPRESS_REGISTER": False,  # registered below, after Vary headers are merged into one
    "COMPRESS_MIMETYPES": ["text/html", "text/css", "text/plain", "text/xml", "text/javascript",
                           "application/javascript", "application/json", "application/problem+json",
                           "application/xml", "image/svg+xml"],
}


class StaticFiles(WhiteNoise):
    FOREVER = ONE_YEAR  # WhiteNoise's "immutable" max-age (its own default is ten years)


def sources(folder: Path) -> list[Path]:
    """The static files that get a hashed copy (not the copies, the compressed variants or skipped types)."""
    return [p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST and p.suffix not in (".gz", ".br")
            and p.suffix not in DIGEST_SKIP and not HASHED.search(p.name)]


def stale(folder: Path) -> bool:
    """Whether the manifest is missing or older than a static file (a file edited since the last build)."""
    manifest = folder / MANIFEST
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    return any(p.stat().st_mtime > built for p in sources(folder))


def build(folder: Path, *, force: bool = False) -> bool:
    """When stale (or always with force): the hashed copies (Flask-Static-Digest), the CSS and JavaScript copies
    minified (rcssmin, rjsmin; the plain names stay as written), a .br and .gz of every file a browser gets
    (WhiteNoise's compressor: brotli 11, gzip 9, none where it saves under 5 %), and the manifest last, so that a
    build cut short is done again. Returns whether it built."""
    if not force and not stale(folder):
        return False
    key = hashlib.sha256(str(folder).encode()).hexdigest()[:12]
    lock_file = Path(tempfile.gettempdir()) / f"portal-static-{key}.lock"
    with open(lock_file, "w") as lock:  # one build at a time (test processes, gunicorn workers)
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not force and not stale(folder):  # another process built it meanwhile
            return False
        _build(folder)
    return True


def _build(folder: Path) -> None:
    path = str(folder).rstrip("/") + "/"
    parts = [(folder / p).read_text(encoding="utf-8") for p in SCRIPT_BUNDLE_PARTS]
    (folder / SCRIPT_BUNDLE).write_text("\n;\n".join(t if ".min." in p else rjsmin.jsmin(t)
                                                      for p, t in zip(SCRIPT_BUNDLE_PARTS, parts, strict=True)),
                                        encoding="utf-8")
    manifest, pending = folder / MANIFEST, folder / (MANIFEST + ".pending")
    with contextlib.redirect_stdout(io.StringIO()):  # it prints where the files went
        digester.compile(path, path, DIGEST_SKIP, False, False)
    manifest.replace(pending)
    for source, name in json.loads(pending.read_text()).items():
        if ".min." not in source:  # a vendor's file (and the bundle) is minified already
            minify(folder / name)
    compressor = Compressor(extensions=Compressor.SKIP_COMPRESS_EXTENSIONS + tuple(e[1:] for e in DIGEST_SKIP),
                            quiet=True)
    for file in folder.rglob("*"):
        if file.is_file() and file.suffix not in (".gz", ".br", ".pending") and compressor.should_compress(file.name):
            compressor.compress(str(file))
    pending.replace(manifest)


def minify(file: Path) -> None:
    """A hashed CSS or JavaScript copy minified in place."""
    if file.suffix not in (".css", ".js"):
        return
    text = file.read_text(encoding="utf-8")
    file.write_text(rcssmin.cssmin(text) if file.suffix == ".css" else rjsmin.jsmin(text), encoding="utf-8")


def _static_headers(app: Flask):
    """Headers for the files WhiteNoise answers before the app sees the request (fixed when it reads the folder):
    those of portal.security that matter for a file, kept short since every static answer carries them. A file
    opened as a document (an SVG, say) may load and run nothing."""
    hsts = int(app.config.get("HSTS_SECONDS") or (ONE_YEAR if app.config.get("SESSION_COOKIE_SECURE") else 0))

    def add(headers, path: str, url: str) -> None:
        headers["Content-Security-Policy"] = STATIC_CSP
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Cross-Origin-Resource-Policy"] = "same-origin"
        if hsts:
            headers["Strict-Transport-Security"] = f"max-age={hsts}; includeSubDomains"

    return add


def _one_vary(response: Response) -> None:
    """Merge several Vary headers into one: flask-compress and Flask's session both read only the first
    and then replace them all, which would drop the others (HX-Request, Cookie)."""
    values = response.headers.getlist("Vary")
    if len(values) > 1:
        merged: list[str] = []
        for value in values:
            for item in (v.strip() for v in value.split(",")):
                if item and item.lower() not in (m.lower() for m in merged):
                    merged.append(item)
        response.headers["Vary"] = ", ".join(merged)


def init_app(app: Flask) -> None:
    """Call early in create_app: the compressing after_request then runs after every other one (Flask runs
    them in reverse order of registration), on the answer as the app finally makes it."""
    for key, value in COMPRESS_SETTINGS.items():
        app.config.setdefault(key, value)
    folder = Path(app.static_folder or "static")
    if app.config.get("PORTAL_ENV") == "production":
        if stale(folder):
            log.warning("static/%s is missing or older than a static file: pages link the plain names. "
                        "Run `python -m portal.static_assets` (make setup does) before starting.", MANIFEST)
    else:  # development and tests: a file edited since `make setup` never goes out under an old hash
        try:
            if build(folder):
                log.info("static files digested (%s)", MANIFEST)
        except OSError as e:  # a read-only folder, say: the plain names still work
            log.warning("could not digest the static files: %s", e)
    digest = app.extensions["static_digest"] = FlaskStaticDigest(app)  # the template global static_url_for

    @app.template_global()
    def script_bundle() -> str | None:
        """The hashed URL of the one script file, or None while the build has not made it."""
        name = digest.manifests.get("static", {}).get(SCRIPT_BUNDLE)
        return url_for("static", filename=name) if name else None

    compress = Compress(app)

    @app.after_request
    def _compress(response: Response) -> Response:
        _one_vary(response)
        return compress.after_request(response)

    app.wsgi_app = StaticFiles(  # type: ignore[method-assign]
        app.wsgi_app, root=str(folder), prefix=app.static_url_path or "/static", max_age=SHORT_MAX_AGE,
        allow_all_origins=False, immutable_file_test=lambda path, url: bool(HASHED.search(url)),
        add_headers_function=_static_headers(app))


def main(argv: list[str] | None = None) -> int:
    """`python -m portal.static_assets [--force] [--clean]`: build the hashed static files when stale."""
    from .config import ROOT

    args = sys.argv[1:] if argv is None else argv
    folder = ROOT / "static"
    if "--clean" in args:
        with contextlib.redirect_stdout(io.StringIO()):
            digester.clean(str(folder) + "/", DIGEST_SKIP, True, True)
        (folder / SCRIPT_BUNDLE).unlink(missing_ok=True)
        print(f"static files: generated files removed from {folder}")
        return 0
    built = build(folder, force="--force" in args)
    print(f"static files: {'digested' if built else 'up to date'} ({folder / MANIFEST})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
