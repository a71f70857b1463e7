"""The fault switches every process reads at once (`portal serve-production`, bench/faults.py): the local person
service's PERSON_SERVICE_MODE_FILE and the recipient simulator's RECIPIENT_SIMULATOR_CONTROL_FILE; production
refuses the person service's switch."""
from __future__ import annotations

import json
from contextlib import nullcontext

import pytest

from portal.adapters.person_service import LocalPersonService, PersonServiceUnavailable
from portal.config import ConfigError, from_env
from portal.recipient_sim import SimulatorState

from .test_config import PRODUCTION, env  # noqa: F401 - the fixture


def test_the_person_service_follows_its_mode_file_while_it_exists(tmp_path):
    switch = tmp_path / "person-service-mode"
    service = LocalPersonService(lambda: nullcontext(None), mode="ok", mode_file=str(switch))
    assert service.current_mode() == "ok"  # no file: the configured mode
    switch.write_text("fail\n")
    assert service.current_mode() == "fail"
    with pytest.raises(PersonServiceUnavailable):
        service.lookup(["191212121212"])
    switch.write_text("ok")
    assert service.current_mode() == "ok"
    switch.write_text("nonsense")  # not a mode: the configured one
    assert service.current_mode() == "ok"
    switch.unlink()
    service.mode = "slow"
    assert service.current_mode() == "slow"


def test_the_simulator_follows_its_control_file_per_recipient(tmp_path):
    control = tmp_path / "recipient-simulator.json"
    state = SimulatorState(delay=1.5, control_file=str(control))
    assert state.current("FK") == ("ok", 1.5)
    control.write_text(json.dumps({"FK": "timeout", "delay": 30}))
    assert state.current("FK") == ("timeout", 30.0) and state.current("TS") == ("ok", 30.0)
    control.write_text("{not json")
    assert state.current("FK") == ("ok", 1.5)
    state.mode["TS"] = "fail"  # the in-process switch still works where the file says nothing
    control.write_text(json.dumps({"FK": "reject"}))
    assert state.current("FK") == ("reject", 1.5) and state.current("TS") == ("fail", 1.5)


def test_production_refuses_the_person_service_switch(env):  # noqa: F811
    env({**PRODUCTION, "PERSON_SERVICE_MODE_FILE": "/tmp/switch"})
    with pytest.raises(ConfigError, match="PERSON_SERVICE_MODE_FILE"):
        from_env()
