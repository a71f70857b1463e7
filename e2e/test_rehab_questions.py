"""FK's questions in Rehabstöd by keyboard alone, in Swedish and English: a coordinator opens the unit's
unanswered questions, filters them by subject (htmx), answers an administrative question (first without
text: the error summary), FK receives the answer once, marks another handled and undoes it, and sees a
komplettering become handled when a complementing certificate arrives through the intake. The patient
view shows the läkarutlåtanden in a tab of their own. axe runs on every state, htmx-swapped ones included.

New texts are translated centrally after this change, so the test finds elements by their role, name
attribute or address rather than by words that may not be translated yet."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import delete, select, update

from accessibility import crawl
from conftest import new_context
from portal import db
from portal.domain import demo
from portal.models import Certificate, CertificateRelation, Message, PdlRecord, Send, SimDelivery
from portal.repository import intake
from portal.worker import deliver_due

from .keyboard import focused
from .test_login import broker_login

pytestmark = pytest.mark.e2e

PNR_RE = re.compile(r"\b(19|20)\d{6}-\d{4}\b")
T = {"sv": {"problem": "Det finns ett problem"}, "en": {"problem": "There is a problem"}}


def no_violations(page) -> None:
    found = crawl.violations(page)
    assert found == [], crawl.describe(found)


def tab_to_css(page, css: str, limit: int = 80, backwards: bool = False) -> None:
    """Tab (only the keyboard) until the focused element matches the CSS selector."""
    for _ in range(limit):
        page.keyboard.press("Shift+Tab" if backwards else "Tab")
        if page.evaluate("(css) => document.activeElement && document.activeElement.matches(css)", css):
            return
    raise AssertionError(f"nothing matching {css} reached by Tab; last: {focused(page)}")


def follow(page, css: str) -> None:
    """Tab to a link or button and press Enter: a new page."""
    tab_to_css(page, css)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_load_state()


def listed_ids(page) -> list[str]:
    links = page.locator("#results tbody a[href^='/rehabstod/fragor/']")
    return [h.rsplit("/", 1)[1] for h in links.evaluate_all("els => els.map(e => e.getAttribute('href'))")]


def subject_of(app, qid: str) -> str:
    with db.new_session(app) as s:
        return s.get(Message, qid).subject


@pytest.fixture
def staff_page(browser, live, lang):
    """A coordinator's browser; what the test changed in the shared demo database is put back afterwards."""
    context = new_context(browser, live.url, lang=lang, width=1280, height=900)
    context.set_default_timeout(10_000)
    page = context.new_page()
    touched: dict = {"questions": set(), "certificates": []}
    yield page, touched
    context.close()
    app = live.app
    with db.new_session(app) as s:
        answers = list(s.scalars(select(Message.id).where(Message.in_reply_to.in_(touched["questions"]),
                                                          Message.sender == "CARE")))
        s.execute(delete(Send).where(Send.kind == "ANSWER", Send.payload_ref.in_(answers)))
        s.execute(delete(SimDelivery).where(SimDelivery.idempotency_key.in_([f"answer-{a}" for a in answers])))
        s.execute(delete(Message).where(Message.id.in_(answers)))
        s.execute(update(Message).where((Message.id.in_(touched["questions"]))
                                        | (Message.reminder_of.in_(touched["questions"])))
                  .values(handled_at=None, handled_by=None))
        for cid in touched["certificates"]:
            s.execute(delete(CertificateRelation).where(CertificateRelation.from_id == cid))
            s.execute(delete(Certificate).where(Certificate.id == cid))
        intake.bump_units(s, [demo.hsa("VE10"), demo.hsa("VE11")])
        s.commit()


def test_coordinator_answers_handles_undoes_and_sees_a_komplettering_complemented(staff_page, lang, live):
    page, touched = staff_page
    app = live.app
    broker_login(page, lang, "siths", demo.hsa("R001"))
    follow(page, "a.app-subnav__link[href='/rehabstod/fragor']")
    assert page.url.endswith("/rehabstod/fragor")
    everything = listed_ids(page)
    assert len(everything) >= 4
    no_violations(page)

    # filter by subject: Komplettering only (htmx swaps the results and announces the count)
    tab_to_css(page, "input[name=amne][value=KOMPLT]")
    with page.expect_response(lambda r: "amne=KOMPLT" in r.url):
        page.keyboard.press("Space")
    page.wait_for_function("() => location.search.includes('amne=KOMPLT')")
    page.wait_for_function("() => document.getElementById('app-live').textContent.length > 0")
    komplt = listed_ids(page)
    assert komplt and set(komplt) < set(everything)
    assert {subject_of(app, q) for q in komplt} == {"KOMPLT"}
    assert re.search(r"\b%d\b" % len(komplt), page.locator("#app-live").inner_text())
    no_violations(page)
    with page.expect_response(lambda r: "/rehabstod/fragor" in r.url):
        page.keyboard.press("Space")  # and off again
    page.wait_for_function("() => !location.search.includes('amne=KOMPLT')")
    page.locator("#results tbody").wait_for()
    admin = [q for q in listed_ids(page) if subject_of(app, q) != "KOMPLT"]
    assert len(admin) >= 2

    # answer an administrative question: first without text (error summary, focused), then with text
    answer_q, handle_q = admin[0], admin[1]
    touched["questions"] |= {answer_q, handle_q}
    follow(page, f"#results a[href='/rehabstod/fragor/{answer_q}']")
    assert page.url.endswith(f"/rehabstod/fragor/{answer_q}") and not PNR_RE.search(page.url)
    no_violations(page)
    follow(page, "form[action$='/svar'] button[type=submit]")
    assert page.locator(".app-error-summary").count() == 1
    assert focused(page)["text"].startswith(T[lang]["problem"])
    no_violations(page)
    tab_to_css(page, "textarea#svar")
    page.keyboard.type("Vi ringer er på tisdag förmiddag.")
    follow(page, "form[action$='/svar'] button[type=submit]")
    assert page.url.endswith(f"/rehabstod/fragor/{answer_q}")
    assert page.locator(".app-notification--success").count() == 1
    assert "Vi ringer er på tisdag förmiddag." in page.locator("main").inner_text()
    assert page.locator("textarea#svar").count() == 0
    no_violations(page)
    with db.new_session(app) as s:
        answers = list(s.scalars(select(Message).where(Message.in_reply_to == answer_q, Message.sender == "CARE")))
        assert len(answers) == 1
        assert len(list(s.scalars(select(Send).where(Send.payload_ref == answers[0].id)))) == 1
    assert deliver_due(app)["delivered"] >= 1
    deliver_due(app)  # a second pass sends nothing again
    with db.new_session(app) as s:
        got = list(s.scalars(select(SimDelivery).where(SimDelivery.idempotency_key == f"answer-{answers[0].id}")))
    assert len(got) == 1 and got[0].recipient == "FK"
    assert got[0].payload["in_reply_to"] == answer_q and got[0].payload["text"] == "Vi ringer er på tisdag förmiddag."
    page.reload()
    assert page.locator(".app-tag--green").count() >= 2  # answered, and delivered to FK
    no_violations(page)

    # mark another handled, then undo it
    page.goto(f"/rehabstod/fragor/{handle_q}")
    follow(page, "form[action$='/hanterad'] button[type=submit]")
    assert page.locator(".app-notification--success").count() == 1
    assert page.locator("form[action$='/ej-hanterad']").count() == 1 and page.locator("textarea#svar").count() == 0
    no_violations(page)
    with db.new_session(app) as s:
        assert s.get(Message, handle_q).handled_by == demo.hsa("R001")
    follow(page, "form[action$='/ej-hanterad'] button[type=submit]")
    assert page.locator(".app-notification--success").count() == 1 and page.locator("textarea#svar").count() == 1
    no_violations(page)
    with db.new_session(app) as s:
        assert s.get(Message, handle_q).handled_at is None

    # a komplettering: no answer field; a complementing certificate from the intake handles it
    komplt_q = komplt[0] if lang == "sv" else komplt[-1]
    touched["questions"].add(komplt_q)
    page.goto(f"/rehabstod/fragor/{komplt_q}")
    assert page.locator("textarea#svar").count() == 0 and page.locator("form[action$='/hanterad']").count() == 0
    no_violations(page)
    with db.new_session(app) as s:
        old = s.get(Certificate, s.get(Message, komplt_q).certificate_id)
        new_id = f"{old.id}-e2e-{lang}"
        signed = app.extensions["clock"].now() - timedelta(hours=1)
        doc = {"certificates": [{"id": new_id, "type": old.type_code, "version": old.type_version,
                                 "patient": old.patient_pnr, "staff": old.staff_id, "unit": old.unit_id,
                                 "signed": signed.replace(microsecond=0).isoformat(), "content": old.content}],
               "relations": [{"from": new_id, "to": old.id, "kind": "COMPLEMENTS"}]}
    touched["certificates"].append(new_id)
    with db.new_session(app) as s:
        problems, _ = intake.load(s, doc, app.extensions["certificate_types"])
    assert problems == []
    page.reload()
    assert page.locator(f"main a[href$='/intyg/{new_id}']").count() == 1
    with db.new_session(app) as s:
        assert s.get(Message, komplt_q).handled_by == "KOMPLETTERING"
    no_violations(page)
    follow(page, "a[href='/rehabstod/fragor']:not(.app-subnav__link)")
    assert komplt_q not in listed_ids(page) and answer_q not in listed_ids(page) and handle_q in listed_ids(page)
    with db.new_session(app) as s:
        assert s.scalar(select(PdlRecord.id).where(PdlRecord.resource_type.in_(("Intyg", "Läkarutlåtande")),
                                                   PdlRecord.user_hsa_id == demo.hsa("R001")).limit(1))



def test_the_patient_view_has_a_lakarutlatanden_tab(staff_page, lang, live):
    page, _touched = staff_page
    broker_login(page, lang, "siths", demo.hsa("R001"))
    page.goto("/rehabstod/fragor")
    # a question about a läkarutlåtande leads to a patient who has one
    registry = live.app.extensions["certificate_types"]
    with db.new_session(live.app) as s:
        ids = listed_ids(page)
        qid = next(q for q in ids if registry[s.get(Certificate, s.get(Message, q).certificate_id).type_code].rehab
                   == "lakarutlatande")
    follow(page, f"#results a[href='/rehabstod/fragor/{qid}']")
    follow(page, "main a[href^='/rehabstod/patient/']:not([href*='/intyg/'])")
    assert page.locator(".app-tabs a[aria-current=page]").count() == 1
    no_violations(page)
    follow(page, ".app-tabs a[href*='flik=lakarutlatanden']")
    assert page.locator(".app-tabs a[aria-current=page]").get_attribute("href").endswith("flik=lakarutlatanden")
    assert page.locator("main a[href*='/intyg/']").count() >= 1
    no_violations(page)
