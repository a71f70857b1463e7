"""The PDL audit log's pure rules: entries, once-per-session keys, the keyed hash, checkpoints and the check that
names each kind of tampering."""
from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import replace
from datetime import datetime, timezone
from itertools import pairwise

import pytest

from portal.domain import pdl

NOW = datetime(2026, 11, 23, 10, 0, 0)
SESSION = "a" * 64
KEY = b"test-pdl-chain-key"
CHECKPOINT_KEY = b"test-pdl-checkpoint-key"
PATIENTS = ["191212121212", "198503149828", "197001012392", "200002292380"]
USER = {"user_hsa_id": "TSTNMT2321000156-L1", "user_title": "Läkare", "user_unit_id": "TSTNMT2321000156-U1",
        "user_unit_name": "Vårdcentralen Demo", "user_provider_id": "TSTNMT2321000156-VG",
        "user_provider_name": "Region Demo"}


def entries(activity: str = pdl.LASA, resource: str = pdl.SJUKFALL) -> list[pdl.PdlEntry]:
    return pdl.entries_for(USER, [(p, "TSTNMT2321000156-U1") for p in PATIENTS], activity, resource)


def records(n: int = 4, key: bytes | None = KEY, first: int = 1, prev_hash: str = pdl.GENESIS) -> list[dict]:
    """A stored-looking chain: ids first..first+n-1, keyed (key=None: the old unkeyed format)."""
    chained = pdl.chain(entries()[:n], prev_hash=prev_hash, at=NOW, session_key=SESSION, key=key)
    return [{"id": i, **r} for i, r in enumerate(chained, start=first)]


def head(chain: list[dict], count: int | None = None, at: datetime = NOW) -> pdl.Checkpoint:
    """A checkpoint of the chain's last record."""
    return pdl.Checkpoint(last_id=chain[-1]["id"], last_hash=chain[-1]["hash"],
                          count=len(chain) if count is None else count, at=at)


def unkeyed_rewrite(chain: list[dict], start: int, version: int = pdl.V2_HMAC) -> None:
    """What someone who can write the table but has no key can do: recompute the hashes from `start` on the
    old unkeyed way."""
    prev = chain[start - 1]["hash"] if start else pdl.GENESIS
    for r in chain[start:]:
        r["chain_version"], r["prev_hash"] = version, prev
        r["hash"] = prev = pdl.record_hash(prev, r)


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
    for key in (None, KEY):
        fields = records(1, key=key)[0]
        h = pdl.record_hash(pdl.GENESIS, fields) if key is None else pdl.keyed_hash(KEY, pdl.GENESIS, fields)
        assert h == fields["hash"] and re.fullmatch(r"[0-9a-f]{64}", h)
        again = (lambda f, prev=pdl.GENESIS: pdl.record_hash(prev, f)) if key is None else (
            lambda f, prev=pdl.GENESIS: pdl.keyed_hash(KEY, prev, f))
        assert again(dict(reversed(list(fields.items())))) == h  # key order does not matter
        assert again({**fields, "id": 99, "hash": "x"}) == h  # id and hash are not hashed
        assert again(fields, "1" * 64) != h
        for name in pdl.HASHED_FIELDS:
            changed = {**fields, name: NOW.replace(second=1) if name == "at" else fields[name] + "x"}
            assert again(changed) != h, name


def test_the_canonical_text_is_fixed():
    """A record hashed today must verify in ten years: the format may never change silently."""
    canonical = (
        '{"activity":"Läsa","at":"2026-11-23T10:00:00.000000","data_unit_id":"TSTNMT2321000156-U1",'
        '"patient_pnr":"191212121212","prev_hash":"' + pdl.GENESIS + '","purpose":"Vård och behandling",'
        '"resource_type":"Sjukfall","session_key":"' + SESSION + '","user_hsa_id":"TSTNMT2321000156-L1",'
        '"user_provider_id":"TSTNMT2321000156-VG","user_provider_name":"Region Demo","user_title":"Läkare",'
        '"user_unit_id":"TSTNMT2321000156-U1","user_unit_name":"Vårdcentralen Demo"}')
    old = records(1, key=None)[0]
    assert old["chain_version"] == pdl.V1_SHA256
    assert pdl.record_hash(pdl.GENESIS, old) == hashlib.sha256(canonical.encode("utf-8")).hexdigest() == old["hash"]
    keyed = records(1)[0]
    assert keyed["chain_version"] == pdl.V2_HMAC
    keyed_text = canonical.replace('"at":"2026-11-23T10:00:00.000000",',
                                   '"at":"2026-11-23T10:00:00.000000","chain_version":2,')
    assert keyed["hash"] == hmac.new(KEY, keyed_text.encode("utf-8"), hashlib.sha256).hexdigest()


def test_the_keyed_hash_needs_the_key():
    fields = records(1)[0]
    assert pdl.keyed_hash(b"another key", pdl.GENESIS, fields) != fields["hash"]
    assert pdl.record_hash(pdl.GENESIS, fields) != fields["hash"]
    with pytest.raises(ValueError):
        pdl.keyed_hash(b"", pdl.GENESIS, fields)


def test_a_missing_field_or_an_aware_time_cannot_be_hashed():
    fields = records(1)[0]
    for hashed in (lambda f: pdl.record_hash(pdl.GENESIS, f), lambda f: pdl.keyed_hash(KEY, pdl.GENESIS, f)):
        with pytest.raises(KeyError):
            hashed({k: v for k, v in fields.items() if k != "purpose"})
        with pytest.raises(ValueError):
            hashed({**fields, "at": NOW.replace(tzinfo=timezone.utc)})


def test_chain_links_each_record_to_the_one_before():
    chained = records(4)
    assert chained[0]["prev_hash"] == pdl.GENESIS
    for before, after in pairwise(chained):
        assert after["prev_hash"] == before["hash"]
    assert all(r["at"] == NOW and r["session_key"] == SESSION and r["chain_version"] == 2 for r in chained)


def test_an_intact_chain_verifies():
    assert pdl.verify(records(4), KEY) == []
    assert pdl.verify([], KEY) == []
    assert pdl.verify(records(4), KEY, [head(records(4)), head(records(2), at=NOW.replace(hour=9))]) == []


def test_old_unkeyed_records_are_checked_the_old_way_and_reported():
    old = records(3, key=None)
    new = records(2, first=4, prev_hash=old[-1]["hash"])
    check = pdl.ChainCheck(KEY)
    for r in old + new:
        check.add(r)
    check.finish()
    assert check.problems == []
    assert check.notes == ["3 poster i det gamla formatet (sha256 utan nyckel, skrivna före nyckeln), post 1–3: "
                           "kontrollerade på det gamla sättet"]
    assert pdl.verify(old) == []  # without a key: old records only


def test_keyed_records_with_the_wrong_key_are_all_reported():
    problems = pdl.verify(records(3), b"another key")
    assert [p.split(":")[0] for p in problems] == ["post 1", "post 2", "post 3"]
    assert pdl.verify(records(1), None) == ["post 1: nyckelad post men ingen nyckel att kontrollera den med"]


def test_a_changed_field_is_reported_on_that_record():
    chain = records(4)
    chain[1]["patient_pnr"] = "191111111116"
    assert pdl.verify(chain, KEY) == ["post 2: hashen stämmer inte med innehållet – posten har ändrats"]
    chain = records(4)
    chain[3]["activity"] = pdl.UTSKRIFT
    assert pdl.verify(chain, KEY) == [
        "post 4: hashen stämmer inte med innehållet – posten har ändrats (eller lagts till utan nyckeln)"]


def test_a_rewrite_with_recomputed_unkeyed_hashes_is_reported_record_by_record():
    chain = records(4)
    chain[1]["activity"] = pdl.UTSKRIFT
    unkeyed_rewrite(chain, 1)
    assert pdl.verify(chain, KEY) == [f"post {i}: hashen är beräknad utan nyckeln – posten har skrivits om"
                                      for i in (2, 3, 4)]
    # the same, pretending the records are of the old format
    chain = records(4)
    chain[1]["activity"] = pdl.UTSKRIFT
    unkeyed_rewrite(chain, 1, version=pdl.V1_SHA256)
    assert pdl.verify(chain, KEY) == [
        f"post {i}: i det gamla formatet utan nyckel efter den nyckelade posten 1 – posten har skrivits om"
        for i in (2, 3, 4)]


def test_a_whole_log_rewritten_in_the_old_format_is_caught_by_a_checkpoint():
    chain = records(4)
    vouched = head(chain)
    chain[1]["activity"] = pdl.UTSKRIFT
    unkeyed_rewrite(chain, 0, version=pdl.V1_SHA256)
    assert pdl.verify(chain, KEY) == []  # the chain alone cannot tell
    assert pdl.verify(chain, KEY, [vouched]) == [
        "post 4: hashen är inte den som kontrollpunkten från 2026-11-23 10:00:00 intygar – posten har ändrats "
        "eller skrivits om"]


def test_a_legacy_changed_record_with_a_recomputed_hash_is_caught_by_the_next_one():
    chain = records(4, key=None)
    chain[1]["activity"] = pdl.UTSKRIFT
    chain[1]["hash"] = pdl.record_hash(chain[1]["prev_hash"], chain[1])
    assert pdl.verify(chain) == ["post 3: prev_hash är inte hashen för post 2 – en post har tagits bort eller lagts in"]


def test_a_removed_record_is_reported():
    chain = records(4)
    assert pdl.verify(chain[:2] + chain[3:], KEY) == [
        "post 4: prev_hash är inte hashen för post 2 – poster mellan post 2 och post 4 har tagits bort"]
    assert pdl.verify(chain[1:], KEY) == [
        "post 2: prev_hash är inte kedjans startvärde – en tidigare post har tagits bort"]
    old = records(4, key=None)
    assert pdl.verify(old[:2] + old[3:]) == [
        "post 4: prev_hash är inte hashen för post 2 – en post har tagits bort eller lagts in"]


def test_swapped_records_are_reported():
    chain = records(4)
    swapped = [chain[0], chain[2], chain[1], chain[3]]
    problems = pdl.verify(swapped, KEY)
    assert "post 2: id är inte större än föregående posts (3) – posterna är i fel ordning" in problems
    assert any(p.startswith("post 3: prev_hash") for p in problems)
    # the same with the ids swapped too, so that they still increase
    renumbered = [{**r, "id": i} for i, r in enumerate(swapped, start=1)]
    assert pdl.verify(renumbered, KEY) == [
        "post 2: prev_hash är inte hashen för post 1 – poster mellan post 1 och post 2 har tagits bort",
        "post 3: prev_hash är inte hashen för post 2 – poster mellan post 2 och post 3 har tagits bort",
        "post 4: prev_hash är inte hashen för post 3 – poster mellan post 3 och post 4 har tagits bort",
    ]


@pytest.mark.parametrize("forger_key", [None, b"a guessed key"])
def test_an_inserted_record_is_reported(forger_key):
    chain = records(4)
    forged = pdl.chain([replace(entries()[0], patient_pnr="191111111116")], prev_hash="f" * 64, at=NOW,
                       session_key=SESSION, key=forger_key)[0]
    tampered = chain[:2] + [{"id": 25, **forged}] + [{**r, "id": r["id"] + 100} for r in chain[2:]]
    assert pdl.verify(tampered, KEY) == [
        "post 25: hör inte till kedjan (post 103 följer på post 2) – posten har lagts in"]
    first = [{"id": 0, **forged}] + chain
    assert pdl.verify(first, KEY) == ["post 0: hör inte till kedjan (post 1 följer på kedjans start) – posten har "
                                      "lagts in"]


# --- checkpoints ---------------------------------------------------------------------------------------------

def test_a_checkpoint_line_is_signed_and_read_back():
    cp = head(records(3))
    line = cp.line(CHECKPOINT_KEY)
    assert "\n" not in line and '"count":3' in line and '"last_id":3' in line
    assert pdl.Checkpoint.from_line(line, CHECKPOINT_KEY) == cp


@pytest.mark.parametrize("change", [
    lambda line: line.replace('"count":3', '"count":2'),
    lambda line: line.replace('"last_id":3', '"last_id":2'),
    lambda line: re.sub(r'"mac":"(.)', lambda m: '"mac":"' + ("0" if m.group(1) != "0" else "1"), line),
])
def test_a_changed_checkpoint_line_is_refused(change):
    line = head(records(3)).line(CHECKPOINT_KEY)
    with pytest.raises(pdl.CheckpointError, match="signaturen stämmer inte"):
        pdl.Checkpoint.from_line(change(line), CHECKPOINT_KEY)
    with pytest.raises(pdl.CheckpointError, match="signaturen stämmer inte"):
        pdl.Checkpoint.from_line(line, b"another key")
    for unreadable in ("", "{", "[]", '{"v":1}', line.replace('"v":1', '"v":9')):
        with pytest.raises(pdl.CheckpointError, match="går inte att läsa"):
            pdl.Checkpoint.from_line(unreadable, CHECKPOINT_KEY)


def test_the_newest_records_removed_are_reported():
    chain = records(4)
    assert pdl.verify(chain[:2], KEY, [head(chain)]) == [
        "de senaste posterna har tagits bort: kontrollpunkten från 2026-11-23 10:00:00 intygar 4 poster till och "
        "med post 4, men loggen slutar med post 2 (2 poster)"]


def test_all_records_removed_are_reported():
    chain = records(4)
    assert pdl.verify([], KEY, [head(chain[:2]), head(chain)]) == [
        "alla poster har tagits bort: loggen är tom, men kontrollpunkten från 2026-11-23 10:00:00 intygar 4 poster "
        "till och med post 4"]
    empty = pdl.Checkpoint(last_id=0, last_hash=pdl.GENESIS, count=0, at=NOW)
    assert pdl.verify([], KEY, [empty]) == []  # an empty log's checkpoint
    assert pdl.verify(chain, KEY, [empty]) == []


def test_a_record_or_a_count_a_checkpoint_vouches_for_is_checked():
    chain = records(4)
    middle = head(chain[:2])
    assert pdl.verify(chain[:1] + chain[2:], KEY, [middle]) == [
        "post 2 saknas: kontrollpunkten från 2026-11-23 10:00:00 intygar den – posten har tagits bort",
        "post 3: prev_hash är inte hashen för post 1 – poster mellan post 1 och post 3 har tagits bort"]
    assert pdl.verify(chain, KEY, [head(chain, count=5)]) == [
        "4 poster till och med post 4, men kontrollpunkten från 2026-11-23 10:00:00 intygar 5 – 1 post har "
        "tagits bort"]


def test_the_check_notes_the_newest_checkpoint():
    chain = records(4)
    check = pdl.ChainCheck(KEY, [head(chain[:2]), head(chain[:3], at=NOW.replace(minute=5))])
    for r in chain:
        check.add(r)
    assert check.finish().problems == []
    assert check.notes == ["senaste kontrollpunkt: post 3 (3 poster), 2026-11-23 10:05:00; 1 post efter den"]


def test_problem_lines_never_show_a_personnummer():
    chain = records(4)
    for r in chain:
        r["patient_pnr"] = r["patient_pnr"][::-1]
    problems = pdl.verify(chain[1:], KEY, [head(chain, count=9)])
    assert len(problems) >= 4
    text = "\n".join(problems)
    assert not re.search(r"\d{10}", text)
    assert not any(p in text or p[::-1] in text for p in PATIENTS)
