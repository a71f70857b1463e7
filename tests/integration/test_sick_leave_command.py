"""`portal sick-leave CASE.json` prints the expected result for every reference case."""
from __future__ import annotations

import json

import pytest

from portal.cli import main
from tests.unit.test_sick_leave import REFERENCE_CASES as CASES  # read from ../shared at test time
from tests.unit.test_sick_leave import assert_matches_reference


@pytest.fixture(scope="module")
def runner():
    from conftest import make_test_app

    return make_test_app("sqlite://").test_cli_runner()


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_the_command_prints_the_expected_sjukfall(runner, tmp_path, case):
    path = tmp_path / "case.json"
    path.write_text(json.dumps({k: case[k] for k in ("mode", "today", "settings", "certificates")}), encoding="utf-8")
    result = runner.invoke(main, ["sick-leave", str(path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert_matches_reference(case, json.loads(result.output))


def test_a_bad_case_is_refused_with_a_message(runner, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"mode": "unit", "today": "2026-11-23", "settings": {},
                                "certificates": [{"id": "x", "patient_id": "p", "signed": "2026-11-01T10:00:00",
                                                  "diagnosis": "M54",
                                                  "periods": [{"start": "2026-11-10", "end": "2026-11-01",
                                                               "degree": 100}]}]}))
    result = runner.invoke(main, ["sick-leave", str(path)])
    assert result.exit_code == 1 and "cannot compute" in result.output
