"""Staff rights are checked again against the HSA directory every STAFF_RIGHTS_RECHECK_SECONDS (5 minutes),
not only at the unit choice: a staff member whose commission was removed or ended, or whose system role
was taken away, is logged out, or sent back to choose a unit, with a message that says why."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, select

from conftest import NOW, session_login
from portal import db
from portal.auth import sessions
from portal.domain import demo
from portal.models import AuthSession, Commission, Staff

ANNA = demo.hsa("L001")  # doctor on VE10 and VE20
ERIK = demo.hsa("L002")  # doctor on VE10
OMAR = demo.hsa("L004")  # doctor, rehab coordinator on VE30 by system role
MARIA = demo.hsa("R002")  # coordinator on VE20 by system role only
VE10, VE20, VE30 = demo.hsa("VE10"), demo.hsa("VE20"), demo.hsa("VE30")


def login(client, app, hsa_id: str, unit: str, role: str) -> str:
    session_login(client, app, "staff", hsa_id, unit_id=unit, role=role, name=hsa_id)
    with client.session_transaction() as s:
        return s["_user_id"]


def row(app, sid: str) -> AuthSession | None:
    with db.new_session(app) as s:
        return s.get(AuthSession, sessions._hash(sid))


def change_directory(app, change) -> None:
    with db.new_session(app) as s:
        change(s)
        s.commit()


def remove_commissions(hsa_id: str, unit: str | None = None):
    def change(s):
        where = [Commission.staff_id == hsa_id] + ([Commission.unit_id == unit] if unit else [])
        s.execute(delete(Commission).where(*where))
    return change


def end_commission(hsa_id: str, unit: str):
    def change(s):
        for c in s.scalars(select(Commission).where(Commission.staff_id == hsa_id, Commission.unit_id == unit)):
            c.valid_to = NOW.date() - timedelta(days=1)
    return change


def remove_system_roles(hsa_id: str):
    def change(s):
        s.get(Staff, hsa_id).system_roles = []
    return change


def test_a_removed_commission_logs_out_at_the_next_request_after_five_minutes(demo, client, clock):
    sid = login(client, demo, ERIK, VE10, "LAKARE")
    assert client.get("/rehabstod/").status_code == 200
    change_directory(demo, remove_commissions(ERIK))
    clock.advance(minutes=4, seconds=59)
    assert client.get("/rehabstod/").status_code == 200  # not checked again yet
    clock.advance(seconds=1)
    response = client.get("/rehabstod/")
    assert response.status_code == 303 and response.headers["Location"].endswith("/utloggad/behorighet")
    assert row(demo, sid) is None  # the session's row is gone
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Din behörighet har upphört" in page and "medarbetaruppdrag" in page
    assert client.get("/session/status").json["logged_in"] is False
    assert client.get("/rehabstod/").headers["Location"].endswith("/inloggning/siths")


@pytest.mark.parametrize("who, unit, role, change", [
    (ERIK, VE10, "LAKARE", end_commission(ERIK, VE10)),
    (MARIA, VE20, "REHABKOORDINATOR", remove_system_roles(MARIA)),
], ids=["commission-ended", "system-role-removed"])
def test_without_any_unit_left_the_session_ends(demo, client, clock, who, unit, role, change):
    sid = login(client, demo, who, unit, role)
    change_directory(demo, change)
    clock.advance(minutes=5)
    response = client.get("/rehabstod/")
    assert response.headers["Location"].endswith("/utloggad/behorighet") and row(demo, sid) is None


def test_an_ended_commission_on_the_unit_in_use_sends_back_to_the_unit_choice(demo, client, clock):
    sid = login(client, demo, ANNA, VE20, "LAKARE")
    change_directory(demo, end_commission(ANNA, VE20))
    clock.advance(minutes=5)
    response = client.get("/rehabstod/")
    assert response.status_code == 303 and "/valj-vardenhet?next=/rehabstod/" in response.headers["Location"]
    left = row(demo, sid)
    assert left is not None and (left.unit_id, left.role) == (None, None)
    page = client.get("/valj-vardenhet?next=/rehabstod/").get_data(as_text=True)
    assert "Din behörighet har ändrats" in page
    assert "Du har inte längre samma behörighet på Ortopedkliniken Demostad" in page
    assert f'value="{VE10}"' in page and f'value="{VE20}"' not in page
    assert "Din behörighet har ändrats" not in client.get("/valj-vardenhet").get_data(as_text=True)  # said once
    page = client.get("/valj-vardenhet").get_data(as_text=True)
    token = page.split('name="csrf-token" content="')[1].split('"')[0]
    chosen = client.post("/valj-vardenhet", data={"csrf_token": token, "unit": VE10, "next": "/rehabstod/"})
    assert chosen.status_code == 303 and client.get("/rehabstod/").status_code == 200


def test_a_removed_system_role_changes_the_role_so_the_unit_is_chosen_again(demo, client, clock):
    sid = login(client, demo, OMAR, VE30, "REHABKOORDINATOR")
    change_directory(demo, remove_system_roles(OMAR))
    clock.advance(minutes=5)
    response = client.get("/rehabstod/", headers={"HX-Request": "true"})
    assert response.status_code == 303 and "/valj-vardenhet" in response.headers["HX-Redirect"]
    page = client.get("/valj-vardenhet").get_data(as_text=True)
    assert "Psykiatrimottagningen Söder" in page and "läkare" in page  # offered again, as doctor now
    assert row(demo, sid).role is None


def test_unchanged_rights_are_checked_again_without_a_sound(demo, client, clock):
    sid = login(client, demo, ERIK, VE10, "LAKARE")
    clock.advance(minutes=6)
    assert client.get("/rehabstod/").status_code == 200
    assert row(demo, sid).rights_checked_at == clock.now()


def test_the_status_poll_finds_it_and_the_timeout_page_tells_why(demo, client, clock):
    """With JavaScript the page polls /session/status and goes to /utloggad/inaktivitet when logged out."""
    sid = login(client, demo, ERIK, VE10, "LAKARE")
    change_directory(demo, remove_commissions(ERIK))
    clock.advance(minutes=5)
    assert client.get("/session/status").json["logged_in"] is False
    assert row(demo, sid) is None
    landing = client.get("/utloggad/inaktivitet")
    assert landing.status_code == 303 and landing.headers["Location"].endswith("/utloggad/behorighet")
    assert "Din behörighet har upphört" in client.get("/utloggad/behorighet").get_data(as_text=True)
