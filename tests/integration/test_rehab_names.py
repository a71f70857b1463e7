"""One display-name rule for a patient in Rehabstöd, one filter for the templates: the name, or the two
stand-in texts (protected identity, unknown to the person service), translated like every other text."""
from __future__ import annotations

import pytest

from portal.domain import rehab
from portal.rehab import patient_name, patient_name_text


@pytest.mark.parametrize("lang, person, text, html", [
    ("sv", rehab.PersonFacts("191212121212", "Tolva Demosson"), "Tolva Demosson", "Tolva Demosson"),
    ("sv", rehab.PersonFacts("191212121212", "Skyddad Person", protected=True), "Sekretessmarkerad uppgift",
     "<em>Sekretessmarkerad uppgift</em>"),
    ("en", rehab.PersonFacts("191212121212", "Skyddad Person", protected=True), "Confidential information",
     "<em>Confidential information</em>"),
    ("sv", None, "Namn okänt", "<em>Namn okänt</em>"),
    ("en", None, "Name unknown", "<em>Name unknown</em>"),
    ("en", rehab.PersonFacts("191212121212", "  "), "Name unknown", "<em>Name unknown</em>"),
    ("sv", rehab.PersonFacts("191212121212", "<b>Ada</b>"), "<b>Ada</b>", "&lt;b&gt;Ada&lt;/b&gt;"),
])
def test_the_display_name_rule_and_its_filter(app, lang, person, text, html):
    from flask_babel import force_locale

    name, masked = rehab.display_name(person)
    with app.test_request_context(), force_locale(lang):
        assert patient_name_text(name, masked) == text
        assert str(patient_name(name, masked)) == html
    assert "Skyddad" not in name  # a protected patient's name never leaves the rule
