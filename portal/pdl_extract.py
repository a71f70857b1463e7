"""A patient's log extract (loggutdrag, patientdatalagen 8 kap. 2 §): who in care has read, written or printed
the patient's data here, as a PDF (WeasyPrint, tagged PDF/UA-1, `templates/pdf/pdl_extract.html`) and a CSV.

`portal pdl-extract` (pdl_cli) builds one inside an app context. The extract is for the patient: it is in
Swedish unless asked otherwise, and shows for every record when, who (name, HSA-id and title), from which care
unit and care provider, what (activity), which data (resource, and the unit that owns it) and why (purpose).
Nothing here logs the personnummer; the file names hold the date and time only.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from flask import render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from .domain import access
from .domain import pdl as rules
from .models import Person
from .repository import pdl as store

TIME_FORMAT = "%Y-%m-%d %H:%M"

# the stored words, as the extract's reader reads them (the stored values are Swedish)
WORDS = {
    rules.LASA: _l("Läsa"),
    rules.SKRIVA: _l("Skriva"),
    rules.UTSKRIFT: _l("Utskrift"),
    rules.SJUKFALL: _l("Sjukfall"),
    rules.INTYG: _l("Intyg"),
    rules.LAKARUTLATANDE: _l("Läkarutlåtande"),
    access.PURPOSE_CARE: _l("Vård och behandling"),
    access.ROLE_TITLES[access.LAKARE]: _l("Läkare"),
    access.ROLE_TITLES[access.REHABKOORDINATOR]: _l("Rehabkoordinator"),
}


def word(value: str) -> str:
    found = WORDS.get(value)
    return str(found) if found is not None else value


@dataclass(frozen=True)
class ExtractRow:
    at: datetime
    user_name: str  # the HSA-id when the directory does not know the name
    user_hsa_id: str
    user_title: str
    unit_name: str
    unit_id: str
    provider_name: str
    provider_id: str
    activity: str
    resource: str
    data_unit_name: str
    data_unit_id: str
    purpose: str


@dataclass(frozen=True)
class Extract:
    patient_pnr: str
    patient_name: str | None
    start: date | None
    end: date | None
    provider_id: str | None
    made_at: datetime
    rows: list[ExtractRow]

    @property
    def first(self) -> date | None:
        """The period's first day: as asked, or the first record's."""
        return self.start or (self.rows[0].at.date() if self.rows else None)

    @property
    def last(self) -> date:
        return self.end or self.made_at.date()


def build(session: Session, patient_pnr: str, *, start: date | None, end: date | None, provider_id: str | None,
          now: datetime) -> Extract:
    """The patient's records in the period (inclusive days), with the staff's and units' names."""
    records = store.extract(session, patient_pnr, start=start, end=end, provider_id=provider_id)
    names = store.staff_names(session, {r.user_hsa_id for r in records})
    units = store.unit_names(session, {r.data_unit_id for r in records})
    person = session.get(Person, patient_pnr)
    rows = [ExtractRow(at=r.at, user_name=names.get(r.user_hsa_id) or r.user_hsa_id, user_hsa_id=r.user_hsa_id,
                       user_title=r.user_title, unit_name=r.user_unit_name, unit_id=r.user_unit_id,
                       provider_name=r.user_provider_name, provider_id=r.user_provider_id, activity=r.activity,
                       resource=r.resource_type, data_unit_name=units.get(r.data_unit_id) or r.data_unit_id,
                       data_unit_id=r.data_unit_id, purpose=r.purpose)
            for r in records]
    return Extract(patient_pnr=patient_pnr,
                   patient_name=f"{person.given_name} {person.family_name}" if person is not None else None,
                   start=start, end=end, provider_id=provider_id, made_at=now, rows=rows)


# --- CSV ---------------------------------------------------------------------------------------------------

def csv_headings() -> list[str]:
    return [_("Tidpunkt"), _("Användare"), _("Användarens HSA-id"), _("Titel"), _("Vårdenhet"),
            _("Vårdenhetens HSA-id"), _("Vårdgivare"), _("Vårdgivarens HSA-id"), _("Aktivitet"), _("Uppgifter"),
            _("Uppgifternas vårdenhet"), _("Syfte")]


def to_csv(extract: Extract) -> bytes:
    """One row per record under one row of headings; semicolons, UTF-8 with a byte order mark (as Excel opens
    Swedish text right)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(csv_headings())
    for r in extract.rows:
        writer.writerow([r.at.strftime(TIME_FORMAT), r.user_name, r.user_hsa_id, word(r.user_title), r.unit_name,
                         r.unit_id, r.provider_name, r.provider_id, word(r.activity), word(r.resource),
                         r.data_unit_name, word(r.purpose)])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


# --- PDF ---------------------------------------------------------------------------------------------------

def pdf_html(extract: Extract, lang: str) -> str:
    from .pdf import _css_string, _page_counter_content

    title = _("Loggutdrag")
    head = f"{title} – {extract.patient_name}" if extract.patient_name else title
    return render_template("pdf/pdl_extract.html", extract=extract, lang=lang, word=word, time_format=TIME_FORMAT,
                           page_counter_css=_page_counter_content(), running_head_css=_css_string(head),
                           running_right_css=_css_string(
                               _("Utskrivet %(at)s", at=extract.made_at.strftime(TIME_FORMAT))))


def to_pdf(extract: Extract, lang: str) -> bytes:
    """The extract as a landscape A4 PDF whose heading row repeats on every page (inside an app context)."""
    from weasyprint import HTML

    from .pdf import _static_files_only, _static_root

    static = _static_root()
    document = HTML(string=pdf_html(extract, lang), base_url=static.as_uri() + "/",
                    url_fetcher=_static_files_only(static))
    return document.write_pdf(pdf_variant="pdf/ua-1")


def _free_stem(folder: Path, stem: str) -> str:
    """`stem`, or `stem-2`, `stem-3`… so that neither the PDF nor the CSV of an earlier extract is replaced."""
    candidate, n = stem, 1
    while (folder / f"{candidate}.pdf").exists() or (folder / f"{candidate}.csv").exists():
        n += 1
        candidate = f"{stem}-{n}"
    return candidate


def write(extract: Extract, folder: Path, lang: str = "sv") -> tuple[Path, Path]:
    """Write the PDF and the CSV into `folder` (made if missing) as loggutdrag-<date>-<time>.pdf/.csv: nothing
    personal in the names. Returns their paths."""
    with force_locale(lang):
        pdf, text = to_pdf(extract, lang), to_csv(extract)
    folder.mkdir(parents=True, exist_ok=True)
    stem = _free_stem(folder, f"loggutdrag-{extract.made_at:%Y%m%d-%H%M%S}")
    pdf_path, csv_path = folder / f"{stem}.pdf", folder / f"{stem}.csv"
    pdf_path.write_bytes(pdf)
    csv_path.write_bytes(text)
    return pdf_path, csv_path
