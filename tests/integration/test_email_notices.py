"""E-mail notices when Försäkringskassan writes (issue 17), on SQLite and PostgreSQL, against a real SMTP server
running in the test process (aiosmtpd on a free port): what arrived is read back and checked.

A coordinator names the unit's address (a bad one is a 400 with the error summary and changes nothing; a doctor
cannot change it); FK's question through the API, a question and a reminder through the batch intake, and FK's
answer to the unit's own question each queue a notice in the message's transaction; the delivery worker sends it
once, with no personal data in the mail, the mail table or the log; it retries while the SMTP server is down and
sends once when it is back; two workers racing send each notice once; gives up after MAIL_MAX_ATTEMPTS; a 550 is
final; a removed address stops queued notices; the embedded default writes a mailbox file."""
from __future__ import annotations

import copy
import email
import email.policy
import json
import logging
import mailbox
import re
import threading
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from conftest import NOW, session_login
from portal import db, notices, worker
from portal.models import MailNotice, Message, UnitSettings
from portal.repository import intake
from portal.repository import notices as store
from tests.api_support import EXAMPLE, PATIENT, UNIT, bearer, registration, token
from tests.pgcluster import free_port

SIGNED = NOW - timedelta(days=2)
ADDRESS = "rehab.api@region-api.se"
COORDINATOR, DOCTOR = "TSTNMT2321000156-APR1", "TSTNMT2321000156-APL1"
PNR_RE = re.compile(r"(19|20)\d{6}[-+]?\d{4}")
CONTENT = json.loads(EXAMPLE.read_text(encoding="utf-8"))["certificates"][0]["content"]
DIAGNOSIS = CONTENT["diagnoses"][0]["code"]


# --- a real SMTP server ---------------------------------------------------------------------------------------

class Inbox:
    """aiosmtpd's handler: keeps what arrived; refuses the addresses in `refuse` with a 550."""

    def __init__(self):
        self.received: list[tuple[str, list[str], bytes]] = []
        self.refuse: set[str] = set()
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd's name
        if address in self.refuse:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        with self.lock:
            self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 Message accepted for delivery"

    def messages(self) -> list[email.message.EmailMessage]:
        return [email.message_from_bytes(raw, policy=email.policy.default) for _, _, raw in self.received]


class SmtpServer:
    def __init__(self):
        self.inbox = Inbox()
        self.port = free_port()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp(app):
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's line per connection
    server = SmtpServer()
    server.start()
    app.config.update(MAIL_SMTP_HOST="127.0.0.1", MAIL_SMTP_PORT=server.port, MAIL_TIMEOUT=3,
                      MAIL_COALESCE_SECONDS=0, MAIL_FROM="Intygsportalen <no-reply@intygsportalen.test>")
    app.extensions["outbox_random"] = lambda: 0.5  # no jitter: the backoff is exactly 30 s, 1 min, 2 min, ...
    yield server
    server.stop()


# --- helpers ----------------------------------------------------------------------------------------------------

def api_question(client, **extra):
    body = {"id": "fk-q-1", "certificate": "api-1", "subject": "KONTKT", "heading": "Kontakt önskas",
            "text": "Vi vill tala med läkaren om Alva Apisson.", "sent": NOW.isoformat(), **extra}
    response = client.post("/api/v1/questions", json=body, headers=bearer(token(client, "fk-demo")))
    assert response.status_code == 201, response.get_data(as_text=True)


def registered(client) -> None:
    response = client.post("/api/v1/certificates", json=registration("api-1", SIGNED),
                           headers=bearer(token(client, "journal-demo")))
    assert response.status_code == 201


def staff(app, hsa_id=COORDINATOR, role="REHABKOORDINATOR", lang="sv"):
    client = app.test_client()
    client.set_cookie("lang", lang)
    session_login(client, app, "staff", hsa_id, unit_id=UNIT["hsa_id"], role=role, name="Rita Rehab")
    return client


def csrf(client) -> str:
    html = client.get("/rehabstod/installningar").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def set_address(client, value: str, action: str = "save"):
    return client.post("/rehabstod/installningar/enhet",
                       data={"csrf_token": csrf(client), "notice_email": value, "action": action})


def stored_address(app, unit=UNIT["hsa_id"]) -> str | None:
    with db.new_session(app) as s:
        return s.scalar(select(UnitSettings.notice_email).where(UnitSettings.unit_id == unit))


def rows(app) -> list[MailNotice]:
    with db.new_session(app) as s:
        return list(s.scalars(select(MailNotice).order_by(MailNotice.id)))


def with_address(app, client, address=ADDRESS) -> None:
    registered(client)
    assert set_address(staff(app), address).status_code == 303


def no_personal_data(text: str) -> None:
    assert PATIENT not in text and PATIENT[2:] not in text and not PNR_RE.search(text)
    for word in ("Alva", "Apisson", "Kontakt önskas", "tala med läkaren", DIAGNOSIS, "api-1", "fk-q-1"):
        assert word not in text, word


# --- the unit's address -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("lang, summary, message", [
    ("sv", "Det finns ett problem", "Ange en e-postadress i formen namn@exempel.se"),
    ("en", "There is a problem", None),  # the new texts' English comes with the catalogue merge: not checked here
])
def test_a_coordinator_sets_the_address_and_a_bad_one_is_refused_and_changes_nothing(app, client, lang, summary,
                                                                                      message):
    registered(client)
    coordinator = staff(app, lang=lang)
    saved = set_address(coordinator, "  Rehab.Api@Region-API.se ")
    assert saved.status_code == 303 and saved.headers["Location"].endswith("/rehabstod/installningar#enhet")
    assert stored_address(app) == "Rehab.Api@region-api.se"
    page = coordinator.get("/rehabstod/installningar").get_data(as_text=True)
    assert 'value="Rehab.Api@region-api.se"' in page and 'role="status"' in page
    for bad in ("rehab.api", "rehab@region", "Rehab <rehab@region-api.se>", "a@b.se, c@d.se", "x" * 250 + "@a.se"):
        refused = set_address(coordinator, bad)
        html = refused.get_data(as_text=True)
        assert refused.status_code == 400, bad
        assert summary in html and 'href="#notice_email"' in html and (message is None or message in html)
        assert 'aria-describedby="notice_email-hint notice_email-error"' in html
        assert stored_address(app) == "Rehab.Api@region-api.se"
    assert 'name="action" value="remove"' in page
    assert set_address(coordinator, "", action="remove").status_code == 303
    assert stored_address(app) is None
    set_address(coordinator, ADDRESS)
    assert set_address(coordinator, "   ").status_code == 303 and stored_address(app) is None  # empty: removed too


def test_a_doctor_sees_the_address_but_cannot_change_it(app, client):
    with_address(app, client)
    doctor = staff(app, DOCTOR, role="LAKARE")
    page = doctor.get("/rehabstod/installningar").get_data(as_text=True)
    assert ADDRESS in page and 'action="/rehabstod/installningar/enhet"' not in page
    refused = doctor.post("/rehabstod/installningar/enhet",
                          data={"csrf_token": csrf(doctor), "notice_email": "other@region-api.se"})
    assert refused.status_code == 403 and stored_address(app) == ADDRESS
    refused = doctor.post("/rehabstod/installningar/enhet", data={"csrf_token": csrf(doctor), "action": "remove"})
    assert refused.status_code == 403 and stored_address(app) == ADDRESS


def test_the_unit_form_needs_the_csrf_token(app, client):
    registered(client)
    response = staff(app).post("/rehabstod/installningar/enhet", data={"notice_email": ADDRESS})
    assert response.status_code == 400 and stored_address(app) is None


# --- FK writes: one mail, no personal data ------------------------------------------------------------------------

def test_a_question_from_fk_sends_one_mail_with_no_personal_data(app, client, smtp, caplog):
    with_address(app, client)
    caplog.set_level(logging.DEBUG)
    api_question(client)
    [queued] = rows(app)
    assert (queued.unit_id, queued.kind, queued.count, queued.state) == (UNIT["hsa_id"], "QUESTION", 1, "PENDING")
    assert notices.deliver_due(app, NOW)["sent"] == 1
    assert notices.deliver_due(app, NOW + timedelta(hours=1))["sent"] == 0  # once
    [(mail_from, rcpt, raw)] = smtp.inbox.received
    assert mail_from == "no-reply@intygsportalen.test" and rcpt == [ADDRESS]
    [message] = smtp.inbox.messages()
    assert message["Subject"] == "Ny fråga från Försäkringskassan på Vårdcentralen API"
    assert message["Auto-Submitted"] == "auto-generated" and message["To"] == ADDRESS
    body = message.get_content()
    assert "Försäkringskassan har skickat en ny fråga till Vårdcentralen API." in body
    assert "http://localhost/rehabstod/fragor" in body and "-- English --" in body
    no_personal_data(raw.decode("utf-8", "replace") + body)
    [sent] = rows(app)
    assert (sent.state, sent.attempts, sent.sent_to, sent.sent_at) == ("SENT", 1, ADDRESS, NOW)
    no_personal_data(json.dumps({c.name: str(getattr(sent, c.name)) for c in MailNotice.__table__.columns}))
    no_personal_data("\n".join(r.getMessage() for r in caplog.records if r.name.startswith("portal.")
                               and "notice" in r.getMessage()))


def test_the_delivery_workers_pass_sends_the_notices(app, client, smtp):
    with_address(app, client)
    api_question(client)
    worker.deliver_due(app, NOW)  # the outbox worker's pass (the embedded thread and `portal worker`)
    assert len(smtp.inbox.received) == 1 and rows(app)[0].state == "SENT"


def test_no_address_no_notice_and_care_writing_tells_nobody(app, client, smtp):
    registered(client)
    api_question(client)
    assert rows(app) == []
    set_address(staff(app), ADDRESS)
    with db.new_session(app) as s:  # care's answer stored the same way as FK's messages: no notice
        from portal.repository.questions import store_messages

        store_messages(s, [{"id": "svar-1", "certificate_id": "api-1", "unit_id": UNIT["hsa_id"],
                            "patient_pnr": PATIENT, "subject": "KONTKT", "sender": "CARE", "heading": "Svar",
                            "text": "Ring oss.", "sent_at": NOW, "in_reply_to": "fk-q-1", "reminder_of": None}])
        s.commit()
    assert rows(app) == []


def test_fks_answer_to_the_units_own_question_is_a_notice(app, client, smtp):
    with_address(app, client)
    with db.new_session(app) as s:
        s.add(Message(id="var-fraga-1", certificate_id="api-1", unit_id=UNIT["hsa_id"], patient_pnr=PATIENT,
                      subject="KONTKT", sender="CARE", heading="Kontakt", text="Kan ni ringa oss?",
                      sent_at=NOW - timedelta(days=1)))
        s.commit()
    api_question(client, id="fk-svar-1", in_reply_to="var-fraga-1", heading="Svar", text="Vi ringer i morgon.")
    [queued] = rows(app)
    assert queued.kind == "ANSWER"
    notices.deliver_due(app, NOW)
    [message] = smtp.inbox.messages()
    assert message["Subject"] == "Nytt svar från Försäkringskassan på Vårdcentralen API"


def test_a_batch_with_a_question_and_a_reminder_tells_the_unit_above_the_mottagning(app, client, smtp):
    doc = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    registry = app.extensions["certificate_types"]
    first = copy.deepcopy(doc)
    first["questions"] = []
    with app.app_context():
        with db.new_session(app) as s:
            assert intake.load(s, first, registry)[0] == []
        with db.new_session(app) as s:
            store.save_notice_address(s, "TSTNMT2321000156-EXVE", "rehab@exempel.se", by=COORDINATOR, now=NOW)
        with db.new_session(app) as s:
            assert intake.load(s, doc, registry)[0] == []
            units = {m.unit_id for m in s.scalars(select(Message))}
    assert {(r.unit_id, r.kind, r.count) for r in rows(app)} == {
        ("TSTNMT2321000156-EXVE", "QUESTION", 1), ("TSTNMT2321000156-EXVE", "REMINDER", 1)}
    assert units <= {"TSTNMT2321000156-EXVE", "TSTNMT2321000156-EXMO"}
    notices.deliver_due(app, NOW)
    assert sorted(m["Subject"] for m in smtp.inbox.messages()) == [
        "Ny fråga från Försäkringskassan på Vårdcentralen Exempel",
        "Påminnelse från Försäkringskassan på Vårdcentralen Exempel"]
    with app.app_context(), db.new_session(app) as s:  # the same batch again changes nothing: no new notice
        assert intake.load(s, doc, registry)[0] == []
    assert len(rows(app)) == 2


def test_notices_within_the_window_make_one_mail(app, client, smtp):
    with_address(app, client)
    app.config["MAIL_COALESCE_SECONDS"] = 60
    api_question(client)
    api_question(client, id="fk-q-2", subject="AVSTMN", heading="Möte")
    api_question(client, id="fk-q-3", subject="OVRIGT", heading="Övrigt")
    [queued] = rows(app)
    assert (queued.count, queued.next_attempt_at) == (3, NOW + timedelta(seconds=60))
    assert notices.deliver_due(app, NOW + timedelta(seconds=59))["sent"] == 0  # still gathering
    assert notices.deliver_due(app, NOW + timedelta(seconds=60))["sent"] == 1
    [message] = smtp.inbox.messages()
    assert message["Subject"] == "3 nya frågor från Försäkringskassan på Vårdcentralen API"
    assert "Försäkringskassan har skickat 3 nya frågor till Vårdcentralen API." in message.get_content()


# --- the SMTP server down, racing workers, giving up -------------------------------------------------------------

def test_while_the_smtp_server_is_down_the_notice_waits_and_is_sent_once_when_it_is_back(app, client, smtp, caplog):
    with_address(app, client)
    api_question(client)
    smtp.stop()
    assert notices.deliver_due(app, NOW) == {"sent": 0, "retried": 1, "failed": 0, "released": 0}
    [waiting] = rows(app)
    assert (waiting.state, waiting.attempts, waiting.next_attempt_at) == ("PENDING", 1, NOW + timedelta(seconds=30))
    assert "cannot connect" in waiting.last_error
    assert any("mail notice" in r.getMessage() and "tried again later" in r.getMessage() for r in caplog.records)
    smtp.start()
    assert notices.deliver_due(app, NOW + timedelta(seconds=10))["sent"] == 0  # not before its backoff
    assert notices.deliver_due(app, NOW + timedelta(seconds=30))["sent"] == 1
    assert notices.deliver_due(app, NOW + timedelta(hours=2))["sent"] == 0
    assert len(smtp.inbox.received) == 1 and rows(app)[0].state == "SENT"


def test_two_workers_racing_send_each_notice_once(app, client, smtp):
    with_address(app, client)
    for i in range(8):
        api_question(client, id=f"fk-q-{i}", sent=(NOW - timedelta(minutes=i)).isoformat())
        with db.new_session(app) as s:  # each its own notice: as if the coalescing window had passed
            s.execute(MailNotice.__table__.update().values(next_attempt_at=NOW - timedelta(seconds=1)))
            s.commit()
    assert len(rows(app)) == 8
    app.config["MAIL_BATCH"] = 3
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def run():
        try:
            start.wait()
            for _ in range(4):
                notices.deliver_due(app, NOW)
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    ids = [m["Message-ID"] for m in smtp.inbox.messages()]
    assert len(ids) == 8 and len(set(ids)) == 8
    assert {r.state for r in rows(app)} == {"SENT"} and {r.attempts for r in rows(app)} == {1}


def test_after_max_attempts_the_notice_is_given_up_and_never_sent(app, client, smtp):
    with_address(app, client)
    app.config["MAIL_MAX_ATTEMPTS"] = 3
    api_question(client)
    smtp.stop()
    at = NOW
    for expected in ("PENDING", "PENDING", "FAILED"):
        notices.deliver_due(app, at)
        assert rows(app)[0].state == expected
        at += timedelta(hours=1)
    smtp.start()
    assert notices.deliver_due(app, at)["sent"] == 0 and smtp.inbox.received == []
    [given_up] = rows(app)
    assert (given_up.failure, given_up.attempts, given_up.failed_at) == ("GAVE_UP", 3, NOW + timedelta(hours=2))


def test_an_address_the_server_refuses_is_final(app, client, smtp):
    with_address(app, client)
    smtp.inbox.refuse.add(ADDRESS)
    api_question(client)
    assert notices.deliver_due(app, NOW)["failed"] == 1
    [refused] = rows(app)
    assert (refused.state, refused.failure) == ("FAILED", "REJECTED") and "550" in refused.last_error
    assert notices.deliver_due(app, NOW + timedelta(hours=1))["sent"] == 0


def test_a_removed_address_stops_the_notices_already_queued(app, client, smtp):
    with_address(app, client)
    api_question(client)
    set_address(staff(app), "", action="remove")
    assert notices.deliver_due(app, NOW)["failed"] == 1
    assert (rows(app)[0].state, rows(app)[0].failure) == ("FAILED", "NO_ADDRESS") and smtp.inbox.received == []


def test_the_mail_outbox_depth_is_a_metric(app, client, smtp):
    with_address(app, client)
    api_question(client)
    metrics = client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}).get_data(as_text=True)
    assert "portal_mail_outbox_pending 1.0" in metrics
    assert "portal_mail_outbox_oldest_pending_age_seconds 0.0" in metrics
    notices.deliver_due(app, NOW)
    metrics = client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}).get_data(as_text=True)
    assert "portal_mail_outbox_pending 0.0" in metrics
    assert re.search(r'portal_mail_outcomes_total\{outcome="sent"\} [1-9]', metrics)


# --- the embedded default: a mailbox file ------------------------------------------------------------------------

def test_without_an_smtp_host_the_mail_goes_to_the_mailbox_file(app, client, tmp_path):
    path = tmp_path / "mail" / "outbox.mbox"
    app.config.update(MAIL_SMTP_HOST=None, MAIL_MBOX_PATH=str(path), MAIL_COALESCE_SECONDS=0)
    with_address(app, client)
    api_question(client)
    assert notices.deliver_due(app, NOW)["sent"] == 1
    box = mailbox.mbox(str(path))
    [message] = list(box)
    box.close()
    assert message["To"] == ADDRESS
    assert str(email.header.make_header(email.header.decode_header(message["Subject"]))) == (
        "Ny fråga från Försäkringskassan på Vårdcentralen API")
    no_personal_data(path.read_text(encoding="utf-8", errors="replace"))
