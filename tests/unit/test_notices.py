"""The rules of the e-mail notices when Försäkringskassan writes (portal/domain/notices.py), without a database:
which messages tell the unit, which addresses a coordinator may name, what the mail says (and never says),
when a failing notice is given up; the SMTP and mailbox adapters' failures; production's mail settings."""
from __future__ import annotations

import mailbox
import re
from email.message import EmailMessage

import pytest

from portal.adapters.mail import MailboxFile, MailFailed, SmtpMail
from portal.config import ConfigError, from_env
from portal.domain import notices as rules
from portal.domain import rehab_settings
from tests.pgcluster import free_port

LINK = "https://intyg.example.se/rehabstod/fragor"


@pytest.mark.parametrize("sender, in_reply_to, reminder_of, subject, expected", [
    ("FK", None, None, "KOMPLT", rules.QUESTION),
    ("FK", None, None, "AVSTMN", rules.QUESTION),
    ("FK", None, "q-1", "PAMINN", rules.REMINDER),
    ("FK", None, None, "PAMINN", rules.REMINDER),
    ("FK", "our-q", None, "KONTKT", rules.ANSWER),
    ("CARE", "q-1", None, "KONTKT", None),  # care's answer
    ("CARE", None, None, "OVRIGT", None),  # care's own question
])
def test_only_what_fk_writes_is_a_notice(sender, in_reply_to, reminder_of, subject, expected):
    assert rules.kind_of(sender, in_reply_to=in_reply_to, reminder_of=reminder_of, subject=subject) == expected


@pytest.mark.parametrize("raw, stored", [
    ("rehab.norrby@region.se", "rehab.norrby@region.se"),
    ("  Rehab.Norrby@REGION.SE ", "Rehab.Norrby@region.se"),  # the domain in lower case, the local part as written
    ("vc-norrby+fk@vgregion.se", "vc-norrby+fk@vgregion.se"),
    ("rehab@räksmörgås.se", "rehab@räksmörgås.se"),
    ("", None),  # empty: no address (notices stop)
    ("   ", None),
    (None, None),
])
def test_a_good_address_is_stored_normalised_and_empty_removes_it(raw, stored):
    assert rules.validate_address(raw) == (stored, None)


@pytest.mark.parametrize("raw", [
    "rehab", "rehab@", "@region.se", "rehab@region", "rehab@localhost", "Rehab <rehab@region.se>",
    "a@region.se, b@region.se", "a@region.se;b@region.se", "åsa@region.se", '"a b"@region.se', "a@[10.0.0.1]",
    "rehab@region.se\nBcc: x@evil.example", "a..b@region.se", "x" * 250 + "@a.se",
])
def test_a_bad_address_is_refused(raw):
    assert rules.validate_address(raw) == (None, rules.INVALID)
    assert rehab_settings.validate_notice_address(raw) == (None, rules.INVALID)


def test_an_international_domain_goes_to_the_mail_server_in_ascii():
    assert rules.transport_address("rehab@räksmörgås.se") == "rehab@xn--rksmrgs-5wao1o.se"
    assert rules.transport_address("rehab@region.se") == "rehab@region.se"


def test_only_a_coordinator_may_change_the_units_settings():
    assert rehab_settings.may_edit_unit_settings("REHABKOORDINATOR")
    assert not rehab_settings.may_edit_unit_settings("LAKARE")
    assert not rehab_settings.may_edit_unit_settings(None)


@pytest.mark.parametrize("kind, count, subject, lead", [
    (rules.QUESTION, 1, "Ny fråga från Försäkringskassan på Vårdcentralen Norrby",
     "Försäkringskassan har skickat en ny fråga till Vårdcentralen Norrby."),
    (rules.QUESTION, 4, "4 nya frågor från Försäkringskassan på Vårdcentralen Norrby",
     "Försäkringskassan har skickat 4 nya frågor till Vårdcentralen Norrby."),
    (rules.REMINDER, 1, "Påminnelse från Försäkringskassan på Vårdcentralen Norrby",
     "Försäkringskassan har skickat en påminnelse om en fråga till Vårdcentralen Norrby."),
    (rules.REMINDER, 2, "2 påminnelser från Försäkringskassan på Vårdcentralen Norrby",
     "Försäkringskassan har skickat 2 påminnelser om frågor till Vårdcentralen Norrby."),
    (rules.ANSWER, 1, "Nytt svar från Försäkringskassan på Vårdcentralen Norrby",
     "Försäkringskassan har svarat på en fråga från Vårdcentralen Norrby."),
    (rules.ANSWER, 3, "3 nya svar från Försäkringskassan på Vårdcentralen Norrby",
     "Försäkringskassan har svarat på 3 frågor från Vårdcentralen Norrby."),
])
def test_the_mail_says_who_wrote_to_which_unit_and_links_to_rehabstod(kind, count, subject, lead):
    mail = rules.compose(kind, count, "Vårdcentralen Norrby", LINK)
    assert mail.subject == subject
    swedish, english = mail.body.split("-- English --")
    assert swedish.startswith(lead) and LINK in swedish and LINK in english
    assert "Rehabstöd" in english and "Vårdcentralen Norrby" in english
    assert "inga uppgifter om patienten" in swedish and "no information about the patient" in english


def test_the_mail_holds_no_digits_but_the_count_and_those_of_the_link():
    body = rules.compose(rules.QUESTION, 1, "Vårdcentralen Norrby", LINK).body
    assert re.findall(r"\d", body) == []


def test_a_unit_name_cannot_add_a_header_line():
    mail = rules.compose(rules.QUESTION, 1, "Norrby\r\nBcc: x@evil.example\x00", LINK)
    assert mail.subject == "Ny fråga från Försäkringskassan på Norrby Bcc: x@evil.example"
    message = EmailMessage()
    message["Subject"] = mail.subject  # would raise on a line break
    assert "\n" not in message["Subject"]


def test_the_questions_link_is_made_from_the_public_address():
    assert rules.questions_link("https://intyg.example.se/") == LINK


def test_a_failing_notice_is_given_up_after_its_attempts():
    assert [rules.should_give_up(n, 3) for n in (1, 2, 3, 4)] == [False, False, True, True]
    assert rules.should_give_up(1, 0)  # at least one attempt, never a negative count


def test_a_new_notice_waits_out_the_coalescing_window():
    from datetime import datetime, timedelta

    now = datetime(2026, 11, 23, 10, 0)
    assert rules.due_after_coalescing(now, 60) == now + timedelta(seconds=60)
    assert rules.due_after_coalescing(now, -5) == now


# --- the adapters -----------------------------------------------------------------------------------------------

def _message(to: str = "rehab@region.se") -> EmailMessage:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "no-reply@intyg.example.se", to, "Ny fråga"
    m.set_content("Hej")
    return m


def test_an_smtp_server_that_does_not_answer_is_a_connection_failure():
    with pytest.raises(MailFailed) as failed:
        with SmtpMail("127.0.0.1", free_port(), timeout=2).connect():
            pass
    assert failed.value.connection and not failed.value.permanent
    assert "cannot connect to 127.0.0.1" in failed.value.reason


def test_the_mailbox_file_keeps_every_mail(tmp_path):
    path = tmp_path / "mail" / "outbox.mbox"
    transport = MailboxFile(path)
    for to in ("a@region.se", "b@region.se"):
        with transport.connect() as conn:
            conn.send(_message(to))
    box = mailbox.mbox(str(path))
    assert [m["To"] for m in box] == ["a@region.se", "b@region.se"]
    box.close()


def test_a_mailbox_file_that_cannot_be_written_is_a_connection_failure(tmp_path):
    (tmp_path / "blocked").write_text("a file, not a folder")
    with pytest.raises(MailFailed) as failed:
        with MailboxFile(tmp_path / "blocked" / "outbox.mbox").connect() as conn:
            conn.send(_message())
    assert failed.value.connection


# --- configuration ----------------------------------------------------------------------------------------------

PRODUCTION = {
    "PORTAL_ENV": "production", "SECRET_KEY": "s" * 40, "DATABASE_URL": "postgresql+psycopg://portal@db/portal",
    "RECIPIENT_ENDPOINT_FK": "https://fk.example/intyg", "RECIPIENT_ENDPOINT_TS": "https://ts.example/intyg",
    "API_OAUTH_ISSUER": "https://idp.example", "API_OAUTH_JWKS_URL": "https://idp.example/jwks",
    "PDL_CHAIN_KEY": "a" * 40, "PDL_CHECKPOINT_KEY": "b" * 40,
}


@pytest.fixture
def env(monkeypatch):
    import os

    for name in list(os.environ):
        if name.startswith(("PORTAL_", "RECIPIENT_", "API_OAUTH_", "PDL_", "MAIL_", "SESSION_", "HSTS_")):
            monkeypatch.delenv(name, raising=False)
    return lambda values: [monkeypatch.setenv(k, v) for k, v in values.items()]


def test_the_embedded_default_writes_a_mailbox_file_and_production_uses_starttls_on_587(env):
    env({"PORTAL_ENV": "development"})
    dev = from_env()
    assert dev["MAIL_SMTP_HOST"] is None and dev["MAIL_MBOX_PATH"].endswith("instance/mail/outbox.mbox")
    assert (dev["MAIL_SMTP_PORT"], dev["MAIL_SMTP_STARTTLS"], dev["MAIL_COALESCE_SECONDS"]) == (25, False, 60)
    env(PRODUCTION | {"MAIL_SMTP_HOST": "smtp.region.se", "MAIL_FROM": "Intygsportalen <noreply@region.se>"})
    prod = from_env()
    assert (prod["MAIL_SMTP_HOST"], prod["MAIL_SMTP_PORT"], prod["MAIL_SMTP_STARTTLS"]) == ("smtp.region.se", 587, True)
    assert prod["MAIL_FROM"] == "Intygsportalen <noreply@region.se>" and prod["MAIL_MAX_ATTEMPTS"] == 12


def test_production_refuses_to_log_in_to_the_mail_server_without_tls(env):
    env(PRODUCTION | {"MAIL_SMTP_HOST": "smtp.region.se", "MAIL_SMTP_USER": "portal", "MAIL_SMTP_PASSWORD": "x",
                      "MAIL_SMTP_STARTTLS": "0"})
    with pytest.raises(ConfigError, match="MAIL_SMTP_STARTTLS"):
        from_env()
