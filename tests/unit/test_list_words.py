"""Every word a list's model declares (column headings, filter tags, value labels, error messages, sort
names) is in the English catalogue, so a new filter or column cannot reach the page untranslated."""
from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from portal.domain import certificates, lakarutlatanden, ongoing

ROOT = Path(__file__).resolve().parents[2]
MODELS = [certificates.MODEL, ongoing.MODEL, lakarutlatanden.MODEL]


def declared_words(model) -> set[str]:
    words = {c.label for c in model.columns if c.label != "#"}
    words |= {s.label for s in model.named_sorts}
    for f in model.fields:
        words |= {f.error, *f.errors.values(), *f.labels.values()}
        if f.tag != "%(value)s":
            words.add(f.tag)
    return words


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.name)
def test_every_declared_word_has_an_english_translation(model):
    with open(ROOT / "i18n/en/LC_MESSAGES/messages.po", "rb") as handle:
        catalogue = read_po(handle)
    missing = sorted(w for w in declared_words(model) if not (catalogue.get(w) and catalogue.get(w).string))
    assert missing == []
