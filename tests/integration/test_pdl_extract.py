"""`portal pdl-extract`: a patient's log extract (loggutdrag) as a PDF and a CSV, with its date filter, on
SQLite and PostgreSQL (the demo data set gives the staff's and units' names)."""
from __future__ import annotations

import csv
import io
import logging
import re
from datetime import timedelta
from pathlib import Path

from pypdf import PdfReader

from conftest import NOW
from portal.domain import demo as demo_data
from portal.domain import pdl
from portal.pdl_cli import pdl_extract_command
from portal.repository import pdl as store

TOLVA = "198503149828"  # Tolva Demosson
OTHER = demo_data.make_pnr(demo_data.date(1950, 6, 1), 985)
VE10, VE20, VE40 = demo_data.hsa("VE10"), demo_data.hsa("VE20"), demo_data.hsa("VE40")
HEADINGS = ["Tidpunkt", "Användare", "Användarens HSA-id", "Titel", "Vårdenhet", "Vårdenhetens HSA-id", "Vårdgivare",
            "Vårdgivarens HSA-id", "Aktivitet", "Uppgifter", "Uppgifternas vårdenhet", "Syfte"]


def user(local: str, title: str, unit: str, unit_name: str, provider: str, provider_name: str) -> dict:
    return {"user_hsa_id": demo_data.hsa(local), "user_title": title, "user_unit_id": unit, "user_unit_name": unit_name,
            "user_provider_id": demo_data.hsa(provider), "user_provider_name": provider_name}


ANNA = user("L001", "Läkare", VE10, "Vårdcentralen Norrby", "VG1", "Region Demoland")
LENA = user("R001", "Rehabkoordinator", VE10, "Vårdcentralen Norrby", "VG1", "Region Demoland")
KARIN = user("L005", "Läkare", VE40, "Exempelkliniken City", "VG2", "Vårdbolaget Exempel AB")


def log(session, who: dict, pnrs: list[str], activity: str, resource: str, data_unit: str, at, key: str) -> None:
    entries = pdl.entries_for(who, [(p, data_unit) for p in pnrs], activity, resource)
    assert store.log(session, entries, session_key=key * 64, now=at) == len(pnrs)


def a_month_of_access(session) -> None:
    log(session, ANNA, [TOLVA, OTHER], pdl.LASA, pdl.SJUKFALL, VE10, NOW - timedelta(days=40), "a")
    log(session, LENA, [TOLVA], pdl.UTSKRIFT, pdl.INTYG, VE10, NOW - timedelta(days=10, hours=2), "b")
    log(session, ANNA, [TOLVA], pdl.SKRIVA, pdl.LAKARUTLATANDE, VE20, NOW - timedelta(minutes=30), "c")
    log(session, KARIN, [TOLVA], pdl.LASA, pdl.INTYG, VE40, NOW - timedelta(days=3), "d")


def extract(app, *args: str):
    result = app.test_cli_runner().invoke(pdl_extract_command, list(args), catch_exceptions=False)
    assert not re.search(r"\d{10}", result.output), result.output  # never the personnummer
    return result


def written(output: str) -> tuple[Path, Path]:
    m = re.search(r": (\S+\.pdf) och (\S+\.csv)$", output.strip())
    assert m, output
    return Path(m.group(1)), Path(m.group(2))


def read_csv(path: Path) -> list[list[str]]:
    raw = path.read_bytes()
    assert raw.startswith("\ufeff".encode("utf-8"))  # Excel reads the Swedish letters right
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))


def read_pdf(path: Path) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(path).pages)


def test_the_extract_lists_every_access_to_the_patients_data(demo, session, tmp_path, caplog):
    a_month_of_access(session)
    with caplog.at_level(logging.INFO):
        result = extract(demo, "19850314-9828", "--out", str(tmp_path))
    assert result.exit_code == 0
    pdf_path, csv_path = written(result.output)
    assert result.output.startswith("Loggutdrag med 4 poster: ")
    assert pdf_path.parent == tmp_path and pdf_path.name == "loggutdrag-20261123-100000.pdf"
    assert TOLVA not in caplog.text and "19850314" not in caplog.text

    table = read_csv(csv_path)
    assert table[0] == HEADINGS
    assert table[1:] == [
        ["2026-10-14 10:00", "Anna Berglund", demo_data.hsa("L001"), "Läkare", "Vårdcentralen Norrby", VE10,
         "Region Demoland", demo_data.hsa("VG1"), "Läsa", "Sjukfall", "Vårdcentralen Norrby", "Vård och behandling"],
        ["2026-11-13 08:00", "Lena Forsberg", demo_data.hsa("R001"), "Rehabkoordinator", "Vårdcentralen Norrby",
         VE10, "Region Demoland", demo_data.hsa("VG1"), "Utskrift", "Intyg", "Vårdcentralen Norrby",
         "Vård och behandling"],
        ["2026-11-20 10:00", "Karin Nyström", demo_data.hsa("L005"), "Läkare", "Exempelkliniken City", VE40,
         "Vårdbolaget Exempel AB", demo_data.hsa("VG2"), "Läsa", "Intyg", "Exempelkliniken City",
         "Vård och behandling"],
        ["2026-11-23 09:30", "Anna Berglund", demo_data.hsa("L001"), "Läkare", "Vårdcentralen Norrby", VE10,
         "Region Demoland", demo_data.hsa("VG1"), "Skriva", "Läkarutlåtande", "Ortopedkliniken Demostad",
         "Vård och behandling"],
    ]

    text = read_pdf(pdf_path)
    assert PdfReader(pdf_path).metadata.title == "Loggutdrag – Tolva Demosson"
    for expected in ("Loggutdrag", "patientdatalagen (2008:355) 8 kap. 2 §", "Tolva Demosson, 19850314-9828",
                     "14 oktober 2026 – 23 november 2026", "Antal poster", "Tidpunkt", "Användare", "Vårdenhet",
                     "Vårdgivare", "Aktivitet", "Syfte", "Anna Berglund", "Lena Forsberg", "Karin Nyström",
                     "Rehabkoordinator", "Exempelkliniken City", "Vårdbolaget Exempel AB", "Utskrift",
                     "Läkarutlåtande", "från Ortopedkliniken Demostad", "2026-11-13 08:00", "Sida 1 av 1"):
        assert expected in text, expected
    assert OTHER not in text and demo_data.hsa("L001") in text


def test_the_date_filter_keeps_the_days_asked_for(demo, session, tmp_path):
    a_month_of_access(session)
    result = extract(demo, TOLVA, "--from", "2026-11-13", "--to", "2026-11-20", "--out", str(tmp_path))
    assert result.exit_code == 0 and result.output.startswith("Loggutdrag med 2 poster: ")
    pdf_path, csv_path = written(result.output)
    assert [row[0] for row in read_csv(csv_path)[1:]] == ["2026-11-13 08:00", "2026-11-20 10:00"]
    text = read_pdf(pdf_path)
    assert "13 november 2026 – 20 november 2026" in text
    assert "Lena Forsberg" in text and "Karin Nyström" in text
    assert "Anna Berglund" not in text and "2026-10-14" not in text and "Läkarutlåtande" not in text

    # the last day is whole; a second extract in the same folder gets a name of its own
    again = extract(demo, TOLVA, "--from", "2026-11-23", "--to", "2026-11-23", "--out", str(tmp_path))
    pdf_again, csv_again = written(again.output)
    assert pdf_again.name == "loggutdrag-20261123-100000-2.pdf" and pdf_path.exists()
    assert [row[8] for row in read_csv(csv_again)[1:]] == ["Skriva"]


def test_the_extract_can_be_one_care_providers(demo, session, tmp_path):
    a_month_of_access(session)
    result = extract(demo, TOLVA, "--provider", demo_data.hsa("VG2"), "--out", str(tmp_path))
    _pdf, csv_path = written(result.output)
    assert [row[1] for row in read_csv(csv_path)[1:]] == ["Karin Nyström"]


def test_an_extract_without_records_says_so(demo, tmp_path):
    result = extract(demo, TOLVA, "--out", str(tmp_path))
    assert result.exit_code == 0 and result.output.startswith("Loggutdrag med 0 poster: ")
    pdf_path, csv_path = written(result.output)
    assert read_csv(csv_path) == [HEADINGS]
    assert "Ingen i vården har tagit del av dina uppgifter i Intygsportalen under perioden." in read_pdf(pdf_path)


def test_a_bad_personnummer_or_period_is_refused_without_repeating_it(demo, tmp_path):
    result = extract(demo, "19850314-9829", "--out", str(tmp_path))  # wrong check digit
    assert result.exit_code == 2 and "Ogiltigt personnummer" in result.output and "9829" not in result.output
    result = extract(demo, TOLVA, "--from", "2026-11-20", "--to", "2026-11-13", "--out", str(tmp_path))
    assert result.exit_code == 2 and "--from är senare än --to" in result.output
    assert list(tmp_path.iterdir()) == []
