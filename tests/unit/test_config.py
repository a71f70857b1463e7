"""Configuration from the environment (portal.config.from_env): the known environments, numbers that are
numbers, and every refusal of production mode."""
from __future__ import annotations

import pytest

from portal import create_app
from portal.config import MIN_HSTS_SECONDS, ConfigError, from_env

KEY_A, KEY_B = "a" * 40, "b" * 40

PRODUCTION = {
    "PORTAL_ENV": "production",
    "SECRET_KEY": "s" * 40,
    "DATABASE_URL": "postgresql+psycopg://portal@db/portal",
    "RECIPIENT_ENDPOINT_FK": "https://fk.example/intyg",
    "RECIPIENT_ENDPOINT_TS": "https://ts.example/intyg",
    "API_OAUTH_ISSUER": "https://idp.example",
    "API_OAUTH_JWKS_URL": "https://idp.example/jwks",
    "PDL_CHAIN_KEY": KEY_A,
    "PDL_CHECKPOINT_KEY": KEY_B,
}


@pytest.fixture
def env(monkeypatch):
    for name in list(__import__("os").environ):
        if name.startswith(("PORTAL_", "RECIPIENT_", "API_OAUTH_", "PDL_", "SESSION_", "HSTS_", "TEST_BROKER",
                            "CITIZEN_OIDC_", "STAFF_OIDC_")) or name in ("SECRET_KEY", "DATABASE_URL"):
            monkeypatch.delenv(name, raising=False)

    def set_env(values: dict[str, str]) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)
    return set_env


def test_production_with_everything_set_starts_with_secure_cookies_and_hsts(env):
    env(PRODUCTION)
    cfg = from_env()
    assert cfg["PORTAL_ENV"] == "production" and cfg["SESSION_COOKIE_SECURE"] is True
    assert cfg["HSTS_SECONDS"] >= MIN_HSTS_SECONDS and not cfg["TEST_BROKER_ENABLED"]
    assert cfg["PDL_CHAIN_KEY"] == KEY_A and cfg["RECIPIENT_ENDPOINTS"]["FK"].startswith("https://")


@pytest.mark.parametrize("value", ["prod", "Production", "staging", ""])
def test_an_unknown_environment_refuses_to_start(env, value):
    env({"PORTAL_ENV": value})
    with pytest.raises(ConfigError, match="PORTAL_ENV must be one of development, test, production"):
        from_env()


def test_the_known_environments_start(env):
    for name in ("development", "test"):
        env({"PORTAL_ENV": name})
        assert from_env()["PORTAL_ENV"] == name


@pytest.mark.parametrize("changes, message", [
    ({"SESSION_COOKIE_SECURE": "0"}, "HTTPS-only session cookies"),
    ({"HSTS_SECONDS": "0"}, "HSTS"),
    ({"HSTS_SECONDS": "86400"}, "HSTS"),
    ({"DATABASE_URL": None}, "DATABASE_URL"),
    ({"SECRET_KEY": None}, "SECRET_KEY"),
    ({"RECIPIENT_ENDPOINT_TS": None}, "RECIPIENT_ENDPOINT_FK and RECIPIENT_ENDPOINT_TS"),
    ({"RECIPIENT_ENDPOINT_FK": "http://fk.example/intyg"}, "RECIPIENT_ENDPOINT_FK must start with https://"),
    ({"PDL_CHAIN_KEY": None}, "PDL_CHAIN_KEY"),
    ({"PDL_CHECKPOINT_KEY": "short"}, "PDL_CHECKPOINT_KEY"),
    ({"PDL_CHECKPOINT_KEY": KEY_A}, "must be different keys"),
    ({"API_OAUTH_JWKS_URL": None}, "API_OAUTH_ISSUER and API_OAUTH_JWKS_URL"),
    ({"TEST_BROKER_ENABLED": "1"}, "test broker"),
    ({"RECIPIENT_SIMULATOR_ENABLED": "1"}, "recipient simulator"),
])
def test_production_refuses_to_start_without_each_setting(env, monkeypatch, changes, message):
    env(PRODUCTION)
    for name, value in changes.items():
        if value is None:
            monkeypatch.delenv(name)
        else:
            monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=message):
        from_env()


@pytest.mark.parametrize("name", ["SEND_GIVE_UP_AFTER", "RECIPIENT_TIMEOUT", "PROXY_COUNT", "HSTS_SECONDS"])
def test_a_number_that_is_not_a_number_names_its_setting(env, name):
    env({"PORTAL_ENV": "development", name: "lots"})
    with pytest.raises(ConfigError, match=name):
        from_env()


def test_create_app_refuses_production_without_its_settings(env):
    env({"PORTAL_ENV": "production"})
    with pytest.raises(ConfigError):
        create_app()


def test_development_keeps_its_pdl_keys_outside_the_database_and_sends_no_hsts(env):
    env({"PORTAL_ENV": "development"})
    cfg = from_env()
    assert cfg["PDL_CHAIN_KEY"] and cfg["PDL_CHECKPOINT_KEY"] and cfg["PDL_CHAIN_KEY"] != cfg["PDL_CHECKPOINT_KEY"]
    assert cfg["HSTS_SECONDS"] == 0 and cfg["SESSION_COOKIE_SECURE"] is False


def test_the_pdf_cache_and_the_test_broker_keys_are_where_the_environment_says(env, monkeypatch, tmp_path):
    monkeypatch.setenv("PDF_CACHE_DIR", str(tmp_path / "pdf"))
    monkeypatch.setenv("TEST_BROKER_KEY_FILE", str(tmp_path / "keys.json"))
    cfg = from_env()
    assert cfg["PDF_CACHE_DIR"] == str(tmp_path / "pdf") and cfg["TEST_BROKER_KEY_FILE"] == str(tmp_path / "keys.json")
    monkeypatch.delenv("PDF_CACHE_DIR")
    assert "PDF_CACHE_DIR" not in from_env()  # unset: the default folder in instance/
