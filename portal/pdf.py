"""Certificate PDFs: the variants a citizen can download, rendering with WeasyPrint, and a file cache.

No routes and nothing DB-related: the citizen blueprint builds the CertificateView and calls
`cached_pdf(app, ctype, cert, variant, lang)` (or `render_pdf` inside an app/request context).
The PDF is `templates/pdf/certificate.html`, which shows the certificate body with the one shared
renderer (`templates/certificates/_render.html`), leaving out the questions `hidden_questions` names.

The variants ("full", "employer", "employer_no_diagnosis", "periods") and what each leaves out are in
domain/copies.py (shared with the links a citizen gives the employer, domain/sharing.py).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from flask import Flask, current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _

from . import recipient_name
from .domain import certificate_types as ct
from .domain.certificates import CARE, CertificateView, SendView
from .domain.copies import (  # noqa: F401 - the variants are part of this module's interface
    EMPLOYER,
    EMPLOYER_NO_DIAGNOSIS,
    FULL,
    PERIODS,
    PERIODS_COPY_TYPES,
    hidden_questions,
    variants_for,
)

log = logging.getLogger(__name__)
# WeasyPrint logs every rendering step at INFO; keep its warnings and errors only.
logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)

# Bump whenever templates/pdf/*, static/css/pdf.css, the shared renderer or this module change what a
# PDF looks like: it is part of every cache key, so old cached PDFs are simply never read again.
TEMPLATE_VERSION = "2026-11-23.2"

_FILENAME_SUFFIX = {
    FULL: {"sv": "", "en": ""},
    EMPLOYER: {"sv": "kopia-arbetsgivare", "en": "employer-copy"},
    EMPLOYER_NO_DIAGNOSIS: {"sv": "kopia-arbetsgivare-utan-diagnos", "en": "employer-copy-without-diagnosis"},
    PERIODS: {"sv": "sjukskrivningsperioder", "en": "sick-leave-periods"},
}


def _lang(lang: str) -> str:
    """The PDF languages are the portal's: English, or Swedish for anything else."""
    return "en" if lang == "en" else "sv"


def filename(ctype: ct.CertificateType, cert: CertificateView, variant: str, lang: str) -> str:
    """e.g. "FK7804-2026-11-02.pdf", "AG7804-2026-11-02-kopia-arbetsgivare.pdf": ASCII, type and signing
    date only (no personnummer, no names, nothing from the content)."""
    code = re.sub(r"[^A-Za-z0-9-]", "", ctype.code) or "intyg"
    suffix = _FILENAME_SUFFIX.get(variant, {}).get(_lang(lang), "")
    return f"{code}-{cert.signed_at:%Y-%m-%d}{'-' + suffix if suffix else ''}.pdf"


# --- rendering -------------------------------------------------------------------------------------

def _css_string(text: str) -> str:
    """A CSS string literal; quotes, backslashes, control characters and <>& escaped (it goes in <style>)."""
    out = []
    for ch in text:
        out.append(f"\\{ord(ch):x} " if ch in '"\\<>&' or ord(ch) < 32 or ord(ch) == 127 else ch)
    return '"' + "".join(out) + '"'


def _page_counter_content() -> str:
    """`content:` for "Sida N av M" / "Page N of M", from one translatable sentence."""
    marked = _("Sida %(page)s av %(pages)s", page="\x00", pages="\x01")
    parts = []
    for piece in re.split(r"([\x00\x01])", str(marked)):
        if piece == "\x00":
            parts.append("counter(page)")
        elif piece == "\x01":
            parts.append("counter(pages)")
        elif piece:
            parts.append(_css_string(piece))
    return " ".join(parts)


def _variant_title(variant: str) -> str | None:
    if variant in (EMPLOYER, EMPLOYER_NO_DIAGNOSIS):
        return _("Kopia till arbetsgivaren")
    if variant == PERIODS:
        return _("Kopia med endast sjukskrivningsperioder")
    return None


def _sent(cert: CertificateView) -> list[SendView]:
    """What the "already sent" notices say: per recipient the certificate was delivered to electronically,
    the send that delivered it (by the citizen or by care; `send_to` picks the first), in recipient order."""
    return [s for s in (cert.send_to(r) for r in sorted(set(cert.delivered_to))) if s is not None]


def _sent_notices(cert: CertificateView) -> list[dict]:
    """One per recipient the certificate was delivered to electronically: name, delivery time, and whether
    care sent it."""
    return [{"code": s.recipient, "name": recipient_name(s.recipient), "at": s.delivered_at or s.requested_at,
             "by_care": s.by == CARE} for s in _sent(cert)]


def _static_root() -> Path:
    """The portal's static folder (create_app always names one)."""
    folder = current_app.static_folder
    if folder is None:  # pragma: no cover
        raise RuntimeError("the app has no static folder")
    return Path(folder).resolve()


def _static_files_only(root: Path):
    """A WeasyPrint URL fetcher that reads files under the static folder and nothing else (no network,
    no other files), whatever a certificate's text might contain."""
    from weasyprint.urls import URLFetcher

    class StaticFilesOnly(URLFetcher):
        def fetch(self, url, headers=None):
            parts = urlsplit(url)
            path = Path(url2pathname(parts.path)).resolve() if parts.scheme == "file" else None
            if path is None or not path.is_relative_to(root):
                raise ValueError(f"PDF rendering reads only the portal's static files, not {url!r}")
            return super().fetch(url, headers)

    return StaticFilesOnly(allowed_protocols={"file"}, fail_on_errors=True)


def render_html(ctype: ct.CertificateType, cert: CertificateView, variant: str, lang: str) -> str:
    """The PDF's HTML (inside an app or request context)."""
    if cert.type_code != ctype.code:
        raise ValueError(f"certificate {cert.id} is {cert.type_code}, not {ctype.code}")
    if cert.revoked_at is not None:
        raise ValueError(f"certificate {cert.id} is revoked and is never printed")
    hidden = hidden_questions(ctype, variant)
    lang = _lang(lang)
    with force_locale(lang):
        name = ctype.name.get(lang)
        variant_title = _variant_title(variant)
        return render_template(
            "pdf/certificate.html", ctype=ctype, cert=cert, variant=variant, lang=lang, hidden=hidden,
            type_name=name, title=f"{name} – {ctype.code}", variant_title=variant_title,
            sent=_sent_notices(cert), replaced=bool(cert.replaced_by),
            page_counter_css=_page_counter_content(),
            running_head_css=_css_string(f"{name} ({ctype.code})"),
            running_right_css=_css_string(variant_title or ""),
            running_id_css=_css_string(_("Intygs-id: %(id)s", id=cert.id)))


def render_pdf(ctype: ct.CertificateType, cert: CertificateView, variant: str, lang: str) -> bytes:
    """The certificate as a tagged PDF (PDF/UA-1) in `lang`. Call inside an app/request context."""
    from weasyprint import HTML

    html = render_html(ctype, cert, variant, lang)
    static = _static_root()
    document = HTML(string=html, base_url=static.as_uri() + "/", url_fetcher=_static_files_only(static))
    return document.write_pdf(pdf_variant="pdf/ua-1")


# --- cache -----------------------------------------------------------------------------------------

_definition_digests: dict[int, tuple[ct.CertificateType, str]] = {}


def _definition_digest(ctype: ct.CertificateType) -> str:
    """A digest of the whole type definition (labels included): editing a type file without changing its
    version still gives new PDFs."""
    hit = _definition_digests.get(id(ctype))
    if hit is None or hit[0] is not ctype:
        hit = (ctype, hashlib.sha256(repr(ctype).encode("utf-8")).hexdigest())
        _definition_digests[id(ctype)] = hit
    return hit[1]


def cache_key(ctype: ct.CertificateType, cert: CertificateView, variant: str, lang: str) -> str:
    """sha256 of everything a PDF depends on. Signed certificates never change; what can change is
    whether one was sent (where, when, and by whom: the citizen or care; as the notices print it), whether
    it was replaced, the templates, and (rarely) the type definition or the issuing unit's and doctor's
    directory data printed in the header."""
    parts = {
        "template": TEMPLATE_VERSION,
        "id": cert.id,
        "type": ctype.code,
        "type_version": cert.type_version,
        "definition_version": ctype.version,
        "definition": _definition_digest(ctype),
        "variant": variant,
        "lang": _lang(lang),
        "sent": [[s.recipient, s.by, (s.delivered_at or s.requested_at).isoformat()] for s in _sent(cert)],
        "replaced": bool(cert.replaced_by),
        "issuer": [cert.staff_name, cert.unit_name, cert.provider_name, cert.unit_address,
                   cert.unit_postal_code, cert.unit_city, cert.unit_phone],
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


class PdfCache:
    """Rendered PDFs on disk, one file per key (`<dir>/<2 hex>/<key>.pdf`), written atomically (a temp
    file in the same folder, then os.replace), readable only by the portal's user (0600/0700: the
    files hold health data). Nothing is ever evicted: keys change instead (TEMPLATE_VERSION, sent,
    replaced); old files can be removed by age at any time."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)

    @classmethod
    def for_app(cls, app: Flask) -> PdfCache:
        return cls(app.config.get("PDF_CACHE_DIR") or Path(app.instance_path) / "pdf-cache")

    def path(self, key: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{64}", key):
            raise ValueError("a cache key is a sha256 hex digest")
        return self.directory / key[:2] / f"{key}.pdf"

    def get(self, key: str) -> bytes | None:
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError:
            return None

    def put(self, key: str, data: bytes) -> None:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".pdf")  # mode 0600
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise


def cached_pdf(app: Flask, ctype: ct.CertificateType, cert: CertificateView, variant: str, lang: str) -> bytes:
    """The PDF from the cache, rendering (and storing) it on a miss. Call inside a request/app context
    of `app`. A cache that cannot be written is logged, never an error for the citizen."""
    cache = PdfCache.for_app(app)
    key = cache_key(ctype, cert, variant, lang)
    try:
        data = cache.get(key)
    except OSError:
        log.warning("PDF cache unreadable for certificate %s", cert.id, exc_info=True)
        data = None
    if data is not None:
        return data
    data = render_pdf(ctype, cert, variant, lang)
    try:
        cache.put(key, data)
    except OSError:
        log.warning("PDF cache not written for certificate %s", cert.id, exc_info=True)
    return data
