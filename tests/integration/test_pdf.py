"""Certificate PDFs (portal/pdf.py): every variant of the demo certificates, rendered with WeasyPrint and
read back with pypdf; what each copy leaves out; the "already sent" warning; metadata and tagging; the
file cache; the download file name."""
from __future__ import annotations

import dataclasses
import io
import re
import stat
import statistics
import time
from datetime import datetime
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from conftest import _clean, load_demo, make_test_app
from portal import db, pdf
from portal.domain import certificate_types as ct
from portal.domain.certificates import CertificateView, SendView
from portal.models import CareUnit, Certificate, Person

DELIVERED = datetime(2026, 11, 20, 14, 5)
SENT_SV = ("Intyget är redan skickat elektroniskt till Försäkringskassan den 20 november 2026. "
           "Skicka inte den här utskriften till Försäkringskassan.")


# --- fixtures and helpers ------------------------------------------------------------------------

@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def demo_app(request, tmp_path_factory):
    """The portal with the small demo data set, once per database for this module, and its own PDF cache."""
    url = request.getfixturevalue(f"{request.param}_url")
    app = make_test_app(url, PDF_CACHE_DIR=str(tmp_path_factory.mktemp("pdf-cache")))
    _clean(db.get_engine(app))
    load_demo(app)
    yield app
    _clean(db.get_engine(app))
    db.get_engine(app).dispose()


def view_of(row: Certificate, **changes) -> CertificateView:
    """A CertificateView from a certificate row with its unit, provider and signing doctor."""
    unit = row.unit
    view = CertificateView(
        id=row.id, type_code=row.type_code, type_version=row.type_version, patient_pnr=row.patient_pnr,
        signed_at=row.signed_at, content=row.content, unit_id=row.unit_id, unit_name=unit.name,
        provider_name=unit.provider.name, staff_name=row.staff.name, unit_address=unit.address,
        unit_postal_code=unit.postal_code, unit_city=unit.city, unit_phone=unit.phone, revoked_at=row.revoked_at)
    return dataclasses.replace(view, **changes)


def demo_certificate(app, code: str, where=lambda content: True) -> tuple[CertificateView, str]:
    """The first (by id) not revoked demo certificate of a type whose content matches, and the patient's
    full name (which must never be printed)."""
    with db.new_session(app) as s:
        rows = s.scalars(select(Certificate).where(Certificate.type_code == code, Certificate.revoked_at.is_(None))
                         .options(joinedload(Certificate.unit).joinedload(CareUnit.provider),
                                  joinedload(Certificate.staff))
                         .order_by(Certificate.id)).unique().all()
        row = next(r for r in rows if where(r.content))
        person = s.get(Person, row.patient_pnr)
        return view_of(row), f"{person.given_name} {person.family_name}"


def delivered(cert: CertificateView, recipient: str = "FK") -> CertificateView:
    return dataclasses.replace(cert, sends=(SendView(recipient, "DELIVERED", DELIVERED, DELIVERED),))


def ctype_of(app, code: str) -> ct.CertificateType:
    return app.extensions["certificate_types"][code]


def render(app, cert: CertificateView, variant: str = "full", lang: str = "sv") -> bytes:
    with app.test_request_context():
        return pdf.render_pdf(ctype_of(app, cert.type_code), cert, variant, lang)


def text_of(data: bytes) -> str:
    """All pages' text with whitespace runs (line breaks included) made single spaces."""
    reader = PdfReader(io.BytesIO(data))
    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in reader.pages))


def has_diagnoses(content) -> bool:
    return bool(content.get("diagnoses"))


def fk7804_with_texts(content) -> bool:
    return bool(content.get("diagnoses") and (content.get("functional_impairment") or {}).get("text"))


# --- variants (pure) ----------------------------------------------------------------------------------

def test_each_type_offers_its_pdf_variants():
    registry = ct.load_registry()
    assert pdf.variants_for(registry["FK7804"]) == ["full", "periods"]
    assert pdf.variants_for(registry["AG7804"]) == ["full", "employer", "employer_no_diagnosis"]
    assert pdf.variants_for(registry["AG1-14"]) == ["full", "employer", "employer_no_diagnosis"]
    for code in ("TSTRK1007", "TSTRK1031", "FK7800", "FK7263"):
        assert pdf.variants_for(registry[code]) == ["full"]


def test_what_each_variant_leaves_out():
    registry = ct.load_registry()
    fk, ag, ag114 = registry["FK7804"], registry["AG7804"], registry["AG1-14"]
    assert pdf.hidden_questions(fk, "full") == set()
    assert pdf.hidden_questions(ag, "employer") == set()
    # the diagnoses, and the question whether the employer may know them, go; the assessment stays
    for ctype in (ag, ag114):
        hidden = pdf.hidden_questions(ctype, "employer_no_diagnosis")
        assert {"diagnoses", "diagnosis_to_employer"} <= hidden
        assert not hidden & {"basis", "occupation_description", "other_information"}
    assert "sick_leave_periods" not in pdf.hidden_questions(ag, "employer_no_diagnosis")
    assert "reduction_period" not in pdf.hidden_questions(ag114, "employer_no_diagnosis")
    # periods: everything but the sick-leave periods
    assert pdf.hidden_questions(fk, "periods") == {q.id for q in fk.questions()} - {"sick_leave_periods"}
    with pytest.raises(ValueError):
        pdf.hidden_questions(fk, "employer")
    with pytest.raises(ValueError):
        pdf.hidden_questions(registry["TSTRK1007"], "periods")


# --- the PDFs -------------------------------------------------------------------------------------------

def test_fk7804_full_pdf_is_a_tagged_copy_with_issuer_signature_and_page_numbers(demo_app):
    cert, patient_name = demo_certificate(demo_app, "FK7804", fk7804_with_texts)
    data = render(demo_app, cert)
    reader = PdfReader(io.BytesIO(data))
    text = text_of(data)

    assert reader.metadata.title == "Läkarintyg för sjukpenning – FK7804"
    root = reader.trailer["/Root"]
    assert root["/Lang"] == "sv"
    assert bool(root["/MarkInfo"]["/Marked"]) and "/StructTreeRoot" in root  # tagged (PDF/UA-1)
    assert reader.pdf_header == "%PDF-1.7"
    fonts = {f["/BaseFont"] for page in reader.pages for f in page["/Resources"]["/Font"].values()}
    assert any("DejaVu-Sans" in f for f in fonts)  # the bundled font, embedded

    assert "Läkarintyg för sjukpenning (FK7804)" in text
    assert f"Intygs-id: {cert.id}" in text
    assert f"{cert.patient_pnr[:8]}-{cert.patient_pnr[8:]}" in text
    assert patient_name not in text  # the personnummer only, never the name
    assert f"Intyget är elektroniskt signerat av {cert.staff_name}, {cert.unit_name}" in text
    assert cert.unit_address in text and cert.unit_phone in text
    diagnosis = cert.content["diagnoses"][0]
    assert f"{diagnosis['code']} {diagnosis['text']}" in text
    assert cert.content["functional_impairment"]["text"].split("\n")[0][:40] in text
    pages = len(reader.pages)
    assert f"Sida 1 av {pages}" in text and f"Sida {pages} av {pages}" in text
    # not sent, not replaced, not a copy: no notices
    assert "redan skickat" not in text and "ersatts" not in text and "Kopia" not in text


def test_fk7804_periods_copy_has_only_periods_and_degrees(demo_app):
    cert, _ = demo_certificate(demo_app, "FK7804", fk7804_with_texts)
    text = text_of(render(demo_app, cert, "periods"))

    assert "Kopia med endast sjukskrivningsperioder" in text
    with demo_app.test_request_context():
        from portal.i18n import long_date

        for p in cert.content["sick_leave_periods"]:
            start, end = long_date(ct.parse_date(p["start"])), long_date(ct.parse_date(p["end"]))
            assert f"{p['degree']} % {start} {end}" in text
    assert "Från och med" in text and "Till och med" in text
    # the administrative header stays
    assert cert.id in text and "elektroniskt signerat" in text and cert.unit_name in text
    # nothing medical beyond the periods
    for d in cert.content["diagnoses"]:
        assert d["code"] not in text and d["text"] not in text
    assert cert.content["functional_impairment"]["text"].split("\n")[0][:30] not in text
    assert "Funktionsnedsättning" not in text and "Aktivitetsbegränsning" not in text and "Prognos" not in text
    if cert.content.get("treatment"):
        assert cert.content["treatment"][:30] not in text


@pytest.mark.parametrize("code", ["AG7804", "AG1-14"])
def test_employer_copies_with_and_without_diagnosis(demo_app, code):
    cert, patient_name = demo_certificate(demo_app, code, has_diagnoses)
    diagnosis = cert.content["diagnoses"][0]

    full = text_of(render(demo_app, cert, "full"))
    employer = text_of(render(demo_app, cert, "employer"))
    hidden = text_of(render(demo_app, cert, "employer_no_diagnosis"))

    assert diagnosis["code"] in full and diagnosis["text"] in full and "Kopia till arbetsgivaren" not in full
    assert "Kopia till arbetsgivaren" in employer
    assert diagnosis["code"] in employer and diagnosis["text"] in employer
    assert "Kopia till arbetsgivaren" in hidden
    assert "Diagnosen är utelämnad i den här kopian på patientens begäran." in hidden
    for d in cert.content["diagnoses"]:
        assert d["code"] not in hidden and d["text"] not in hidden
    assert "Önskar patienten förmedla information om diagnos" not in hidden
    # the rest of the certificate is still there
    assert cert.content["occupation_description"][:30] in hidden
    assert cert.id in hidden and "elektroniskt signerat" in hidden
    for text in (full, employer, hidden):
        assert patient_name not in text


def test_ts_certificate_pdf_and_its_own_recipient_in_the_sent_warning(demo_app):
    cert, _ = demo_certificate(demo_app, "TSTRK1007")
    ctype = ctype_of(demo_app, "TSTRK1007")
    unsent = text_of(render(demo_app, cert))
    assert ctype.name.sv[:40] in unsent and cert.id in unsent and "elektroniskt signerat" in unsent
    assert "redan skickat" not in unsent

    sent = text_of(render(demo_app, delivered(cert, "TS")))
    assert ("Intyget är redan skickat elektroniskt till Transportstyrelsen den 20 november 2026. "
            "Skicka inte den här utskriften till Transportstyrelsen.") in sent


def test_already_sent_warning_only_when_delivered_and_at_the_top(demo_app):
    cert, _ = demo_certificate(demo_app, "FK7804", fk7804_with_texts)
    pending = dataclasses.replace(cert, sends=(SendView("FK", "PENDING", DELIVERED),))
    failed = dataclasses.replace(cert, sends=(SendView("FK", "FAILED", DELIVERED, failed_at=DELIVERED),))
    for not_delivered in (cert, pending, failed):
        assert "redan skickat" not in text_of(render(demo_app, not_delivered))

    data = render(demo_app, delivered(cert))
    first_page = re.sub(r"\s+", " ", PdfReader(io.BytesIO(data)).pages[0].extract_text())
    assert SENT_SV in first_page
    assert first_page.index(SENT_SV) < first_page.index("Intygsuppgifter")  # before the certificate itself
    # and on the copies too (nobody should forward any printout to FK)
    assert SENT_SV in text_of(render(demo_app, delivered(cert), "periods"))


def test_replaced_certificate_says_so(demo_app):
    cert, _ = demo_certificate(demo_app, "FK7804")
    text = text_of(render(demo_app, dataclasses.replace(cert, replaced_by="a-newer-certificate")))
    assert "Det här intyget har ersatts av ett nyare intyg." in text


def test_english_pdf_is_in_english(demo_app):
    cert, _ = demo_certificate(demo_app, "FK7804", fk7804_with_texts)
    data = render(demo_app, delivered(cert), "periods", "en")
    reader = PdfReader(io.BytesIO(data))
    text = text_of(data)

    assert reader.metadata.title == "Medical certificate for sickness benefit – FK7804"
    assert reader.trailer["/Root"]["/Lang"] == "en"
    assert "Medical certificate for sickness benefit (FK7804)" in text
    assert "Copy with sick-leave periods only" in text
    assert "The certificate has already been sent electronically to Försäkringskassan" in text
    assert "20 November 2026" in text
    assert "Page 1 of 1" in text
    assert "The certificate is electronically signed by" in text
    assert "My assessment of the reduction in the patient's capacity for work" in text
    for swedish in ("Sida 1", "redan skickat", "elektroniskt signerat", "Intygsuppgifter", "Bedömning"):
        assert swedish not in text


def test_certificate_text_is_printed_as_text_never_as_markup(demo_app):
    cert, _ = demo_certificate(demo_app, "FK7804", fk7804_with_texts)
    content = dict(cert.content, other_information='<b>fet</b> <img src="file:///etc/passwd"> & "citat"')
    text = text_of(render(demo_app, dataclasses.replace(cert, content=content)))
    assert '<b>fet</b> <img src="file:///etc/passwd"> & "citat"' in text


def test_a_revoked_certificate_is_never_printed(demo_app):
    cert, _ = demo_certificate(demo_app, "FK7804")
    with pytest.raises(ValueError):
        render(demo_app, dataclasses.replace(cert, revoked_at=datetime(2026, 11, 21)))


def test_long_certificate_breaks_over_pages_without_losing_text(demo_app):
    cert, _ = demo_certificate(demo_app, "FK7804", fk7804_with_texts)
    long_text = " ".join(f"Mening {i} om patientens besvär." for i in range(130))[:4000]
    periods = [{"start": f"2026-0{m}-01", "end": f"2026-0{m}-2{m}", "degree": d}
               for m, d in ((1, 100), (2, 75), (3, 50), (4, 25))]
    content = dict(cert.content, functional_impairment={"text": long_text, "categories": ["b130"]},
                   activity_limitation={"text": long_text, "categories": ["d230"]}, sick_leave_periods=periods)
    data = render(demo_app, dataclasses.replace(cert, content=content))
    reader = PdfReader(io.BytesIO(data))
    text = text_of(data)
    assert len(reader.pages) >= 3
    assert "Mening 0 om" in text and "Mening 120 om" in text
    assert f"Sida {len(reader.pages)} av {len(reader.pages)}" in text
    assert text.count("Intyget är elektroniskt signerat av") == 1


# --- the cache and the file name --------------------------------------------------------------------------

def test_cache_returns_the_same_bytes_and_is_keyed_on_variant_language_and_sent_state(demo_app, monkeypatch):
    cert, _ = demo_certificate(demo_app, "FK7804", fk7804_with_texts)
    cert = dataclasses.replace(cert, id=f"{cert.id}-cache-test")  # not cached by any other test: a cold render
    ctype = ctype_of(demo_app, "FK7804")
    cache_dir = Path(demo_app.config["PDF_CACHE_DIR"])

    keys = {
        "full-sv": pdf.cache_key(ctype, cert, "full", "sv"),
        "full-en": pdf.cache_key(ctype, cert, "full", "en"),
        "periods-sv": pdf.cache_key(ctype, cert, "periods", "sv"),
        "sent": pdf.cache_key(ctype, delivered(cert), "full", "sv"),
        "replaced": pdf.cache_key(ctype, dataclasses.replace(cert, replaced_by="x"), "full", "sv"),
    }
    assert len(set(keys.values())) == len(keys)
    # a pending send does not change the PDF (only a delivered one does), nor do archive marks or events
    assert pdf.cache_key(ctype, dataclasses.replace(cert, sends=(SendView("FK", "PENDING", DELIVERED),),
                                                    archived=True), "full", "sv") == keys["full-sv"]
    assert pdf.cache_key(ctype, cert, "full", "sv") == keys["full-sv"]

    with demo_app.test_request_context():
        first = pdf.cached_pdf(demo_app, ctype, cert, "full", "sv")
        stored = cache_dir / keys["full-sv"][:2] / f"{keys['full-sv']}.pdf"
        assert stored.read_bytes() == first
        assert stat.S_IMODE(stored.stat().st_mode) == 0o600
        assert not list(cache_dir.rglob(".tmp-*"))  # written atomically, nothing left behind

        def must_not_render(*args, **kwargs):
            raise AssertionError("a cached PDF was rendered again")

        monkeypatch.setattr(pdf, "render_pdf", must_not_render)
        assert pdf.cached_pdf(demo_app, ctype, cert, "full", "sv") == first
        monkeypatch.undo()

        # once delivered, the same certificate gets a new PDF that warns
        sent = pdf.cached_pdf(demo_app, ctype, delivered(cert), "full", "sv")
        assert sent != first and SENT_SV in text_of(sent)
        assert "redan skickat" not in text_of(pdf.cached_pdf(demo_app, ctype, cert, "full", "sv"))


def test_cache_lives_in_the_instance_folder_by_default(sqlite_url):
    app = make_test_app(sqlite_url)
    assert pdf.PdfCache.for_app(app).directory == Path(app.instance_path) / "pdf-cache"


def test_cache_write_failure_still_gives_the_pdf(demo_app, tmp_path):
    cert, _ = demo_certificate(demo_app, "TSTRK1031")
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder should be")
    app = make_test_app(demo_app.config["DATABASE_URL"], PDF_CACHE_DIR=str(blocked))
    with app.test_request_context():
        data = pdf.cached_pdf(app, ctype_of(app, "TSTRK1031"), cert, "full", "sv")
    assert data.startswith(b"%PDF-")
    db.get_engine(app).dispose()


def test_file_name_is_ascii_type_date_and_variant_without_personal_data(demo_app):
    fk, _ = demo_certificate(demo_app, "FK7804")
    ag, patient_name = demo_certificate(demo_app, "AG1-14", has_diagnoses)
    day_fk, day_ag = f"{fk.signed_at:%Y-%m-%d}", f"{ag.signed_at:%Y-%m-%d}"
    fk_type, ag_type = ctype_of(demo_app, "FK7804"), ctype_of(demo_app, "AG1-14")
    assert pdf.filename(fk_type, fk, "full", "sv") == f"FK7804-{day_fk}.pdf"
    assert pdf.filename(fk_type, fk, "periods", "sv") == f"FK7804-{day_fk}-sjukskrivningsperioder.pdf"
    assert pdf.filename(fk_type, fk, "periods", "en") == f"FK7804-{day_fk}-sick-leave-periods.pdf"
    assert pdf.filename(ag_type, ag, "employer", "sv") == f"AG1-14-{day_ag}-kopia-arbetsgivare.pdf"
    assert (pdf.filename(ag_type, ag, "employer_no_diagnosis", "en")
            == f"AG1-14-{day_ag}-employer-copy-without-diagnosis.pdf")
    for cert, ctype in ((fk, fk_type), (ag, ag_type)):
        for variant in pdf.variants_for(ctype):
            for lang in ("sv", "en"):
                name = pdf.filename(ctype, cert, variant, lang)
                assert name.isascii() and re.fullmatch(r"[A-Za-z0-9.-]+", name)
                digits = re.sub(r"\D", "", name)
                pnr = cert.patient_pnr
                assert pnr[:8] not in digits and pnr[2:8] not in digits and pnr[-4:] not in name
                assert cert.id not in name
    for part in patient_name.split():
        assert part.lower() not in pdf.filename(ag_type, ag, "employer", "sv").lower()


def test_timing_cold_and_cached(demo_app, capsys):
    """Measured, not asserted tightly: a cold render and a cache hit for an FK7804 (see bench/pdf_timing.py)."""
    cert, _ = demo_certificate(demo_app, "FK7804", fk7804_with_texts)
    ctype = ctype_of(demo_app, "FK7804")
    colds, hits = [], []
    with demo_app.test_request_context():
        for i in range(3):
            fresh = dataclasses.replace(cert, id=f"{cert.id}-timing-{i}-{time.time_ns()}")
            t0 = time.perf_counter()
            pdf.cached_pdf(demo_app, ctype, fresh, "full", "sv")
            colds.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            pdf.cached_pdf(demo_app, ctype, fresh, "full", "sv")
            hits.append(time.perf_counter() - t0)
    with capsys.disabled():
        print(f"\n[pdf timing, {demo_app.config['DATABASE_URL'].split(':')[0]}] FK7804 full: "
              f"cold median {statistics.median(colds) * 1000:.0f} ms, "
              f"cached median {statistics.median(hits) * 1000:.2f} ms")
    assert statistics.median(hits) < statistics.median(colds)
