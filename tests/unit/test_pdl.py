"""The PDL audit log's pure rules: entries, once-per-session keys, the hash and the chain check."""
from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from datetime import datetime, timezone
from itertools import pairwise

import pytest

from portal.domain import pdl

NOW = datetime(2026, 11, 23, 10, 0, 0)
SESSION = "a" * 64
PATIENTS = ["191212121212", "198503149828", "197001012392", "200002292380"]
USER = {"user_hsa_id": "TSTNMT2321000156-L1", "user_title": "Läkare", "user_unit_id": "TSTNMT2321000156-U1",
        "user_unit_name": "Vårdcentralen Demo", "user_provider_id": "TSTNMT2321000156-VG",
        "user_provider_name": "Region Demo"}


def entries(activity: str = pdl.LASA, resource: str = pdl.SJUKFALL) -> list[pdl.PdlEntry]:
    return pdl.entries_for(USER, [(p, "TSTNMT2321000156-U1") for p in PATIENTS], activity, resource)


def records(n: int = 4) -> list[dict]:
    """A stored-looking chain: ids 1..n."""
    chained = pdl.chain(entries()[:n], prev_hash=pdl.GENESIS, at=NOW, session_key=SESSION)
    return [{"id": i, **r} for i, r in enumerate(chained, start=1)]


def test_entries_for_gives_one_complete_entry_per_patient_and_data_unit():
    given = [(PATIENTS[0], "U1"), (PATIENTS[1], "U2"), (PATIENTS[0], "U1"), (PATIENTS[0], "U3")]
    made = pdl.entries_for(USER, given, pdl.UTSKRIFT, pdl.INTYG)
    assert [(e.patient_pnr, e.data_unit_id) for e in made] == [(PATIENTS[0], "U1"), (PATIENTS[1], "U2"),
                                                               (PATIENTS[0], "U3")]
    first = made[0]
    assert (first.activity, first.resource_type, first.purpose) == ("Utskrift", "Intyg", "Vård och behandling")
    assert (first.user_hsa_id, first.user_title, first.user_unit_id, first.user_unit_name, first.user_provider_id,
            first.user_provider_name) == tuple(USER.values())
    assert first.dedupe_key() == (USER["user_hsa_id"], USER["user_unit_id"], PATIENTS[0], "Utskrift", "Intyg", "U1")


def test_an_incomplete_or_unknown_entry_is_refused():
    with pytest.raises(ValueError, match="user_title"):
        pdl.entries_for({**USER, "user_title": ""}, [(PATIENTS[0], "U1")], pdl.LASA, pdl.SJUKFALL)
    with pytest.raises(KeyError):
        pdl.entries_for({k: v for k, v in USER.items() if k != "user_provider_name"}, [(PATIENTS[0], "U1")], pdl.LASA,
                        pdl.SJUKFALL)
    with pytest.raises(ValueError, match="activity"):
        pdl.entries_for(USER, [(PATIENTS[0], "U1")], "Radera", pdl.SJUKFALL)
    with pytest.raises(ValueError, match="resource"):
        pdl.entries_for(USER, [(PATIENTS[0], "U1")], pdl.LASA, "Journal")


def test_unique_keeps_the_first_entry_of_each_dedupe_key():
    a, b = entries()[:2]
    other_unit = replace(a, data_unit_id="U9")  # another unit's data about the patient: logged too
    other_activity = replace(a, activity=pdl.UTSKRIFT)
    assert pdl.unique([a, b, other_unit, other_activity, b, other_unit]) == [a, b, other_unit, other_activity]


def test_the_hash_is_deterministic_and_covers_every_field_and_the_previous_hash():
    fields = records(1)[0]
    h = pdl.record_hash(pdl.GENESIS, fields)
    assert h == fields["hash"] and re.fullmatch(r"[0-9a-f]{64}", h)
    assert pdl.record_hash(pdl.GENESIS, dict(reversed(list(fields.items())))) == h  # key order does not matter
    assert pdl.record_hash(pdl.GENESIS, {**fields, "id": 99, "hash": "x"}) == h  # id and hash are not hashed
    assert pdl.record_hash("1" * 64, fields) != h
    for name in pdl.HASHED_FIELDS:
        changed = {**fields, name: NOW.replace(second=1) if name == "at" else fields[name] + "x"}
        assert pdl.record_hash(pdl.GENESIS, changed) != h, name


def test_the_canonical_text_is_fixed():
    """A record hashed today must verify in ten years: the format may never change silently."""
    fields = records(1)[0]
    canonical = (
        '{"activity":"Läsa","at":"2026-11-23T10:00:00.000000","data_unit_id":"TSTNMT2321000156-U1",'
        '"patient_pnr":"191212121212","prev_hash":"' + pdl.GENESIS + '","purpose":"Vård och behandling",'
        '"resource_type":"Sjukfall","session_key":"' + SESSION + '","user_hsa_id":"TSTNMT2321000156-L1",'
        '"user_provider_id":"TSTNMT2321000156-VG","user_provider_name":"Region Demo","user_title":"Läkare",'
        '"user_unit_id":"TSTNMT2321000156-U1","user_unit_name":"Vårdcentralen Demo"}')
    assert pdl.record_hash(pdl.GENESIS, fields) == hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def test_a_missing_field_or_an_aware_time_cannot_be_hashed():
    fields = records(1)[0]
    with pytest.raises(KeyError):
        pdl.record_hash(pdl.GENESIS, {k: v for k, v in fields.items() if k != "purpose"})
    with pytest.raises(ValueError):
        pdl.record_hash(pdl.GENESIS, {**fields, "at": NOW.replace(tzinfo=timezone.utc)})


def test_chain_links_each_record_to_the_one_before():
    chained = records(4)
    assert chained[0]["prev_hash"] == pdl.GENESIS
    for before, after in pairwise(chained):
        assert after["prev_hash"] == before["hash"]
    assert all(r["at"] == NOW and r["session_key"] == SESSION for r in chained)


def test_an_intact_chain_verifies():
    assert pdl.verify(records(4)) == []
    assert pdl.verify([]) == []


def test_a_changed_field_is_reported_on_that_record():
    chain = records(4)
    chain[1]["patient_pnr"] = "191111111116"
    assert pdl.verify(chain) == ["post 2: hashen stämmer inte med innehållet – posten har ändrats"]


def test_a_changed_record_with_a_recomputed_hash_is_caught_by_the_next_one():
    chain = records(4)
    chain[1]["activity"] = pdl.UTSKRIFT
    chain[1]["hash"] = pdl.record_hash(chain[1]["prev_hash"], chain[1])
    assert pdl.verify(chain) == ["post 3: prev_hash är inte hashen för post 2 – en post har tagits bort eller lagts in"]


def test_a_removed_record_is_reported():
    chain = records(4)
    assert pdl.verify(chain[:2] + chain[3:]) == [
        "post 4: prev_hash är inte hashen för post 2 – en post har tagits bort eller lagts in"]
    assert pdl.verify(chain[1:]) == ["post 2: prev_hash är inte kedjans startvärde – en tidigare post har tagits bort"]


def test_swapped_records_are_reported():
    chain = records(4)
    swapped = [chain[0], chain[2], chain[1], chain[3]]
    problems = pdl.verify(swapped)
    assert "post 2: id är inte större än föregående posts (3) – posterna är i fel ordning" in problems
    assert any(p.startswith("post 3: prev_hash") for p in problems)
    # the same with the ids swapped too, so that they still increase
    renumbered = [{**r, "id": i} for i, r in enumerate(swapped, start=1)]
    assert pdl.verify(renumbered) == [
        "post 2: prev_hash är inte hashen för post 1 – en post har tagits bort eller lagts in",
        "post 3: prev_hash är inte hashen för post 2 – en post har tagits bort eller lagts in",
        "post 4: prev_hash är inte hashen för post 3 – en post har tagits bort eller lagts in",
    ]


def test_an_inserted_record_is_reported():
    chain = records(4)
    forged = pdl.chain([replace(entries()[0], patient_pnr="191111111116")], prev_hash=chain[1]["hash"], at=NOW,
                       session_key=SESSION)[0]
    tampered = chain[:2] + [{"id": 25, **forged}] + [{**r, "id": r["id"] + 100} for r in chain[2:]]
    assert pdl.verify(tampered) == [
        "post 103: prev_hash är inte hashen för post 25 – en post har tagits bort eller lagts in"]


def test_problem_lines_never_show_a_personnummer():
    chain = records(4)
    for r in chain:
        r["patient_pnr"] = r["patient_pnr"][::-1]
    problems = pdl.verify(chain[1:])
    assert len(problems) == 4
    text = "\n".join(problems)
    assert not re.search(r"\d{6,}", text)
    assert not any(p in text or p[::-1] in text for p in PATIENTS)
