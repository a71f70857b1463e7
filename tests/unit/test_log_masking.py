"""Personnummer never reach a log (portal.security.mask_pnr and the log record factory; gunicorn's logger from
gunicorn.conf.py): every form a personnummer takes in a log line is masked, the search parameter's value is
masked whole, and ordinary log lines (timestamps, addresses, ports, ids, counts) are left as they are."""
from __future__ import annotations

import logging
import runpy
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from portal.domain import demo
from portal.security import install_log_masking, mask_pnr

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("text", "masked"), [
    # 12 digits, with and without the separator
    ("19121212-1212", "1912****-****"),
    ("191212121212", "1912****-****"),
    ("19121212+1212", "1912****-****"),
    ("19121212 1212", "1912****-****"),
    ("20010101-0005", "2001****-****"),
    ("19701063-2391", "1970****-****"),  # a samordningsnummer (the day plus 60)
    # 10 digits: with a hyphen, with a plus (100 years or older), bare when the check digit holds
    ("121212-1212", "12****-****"),
    ("121212+1212", "12****-****"),
    ("1212121212", "12****-****"),
    ("701063-2391", "70****-****"),
    ("8503149828", "85****-****"),
    # URL-encoded, once or twice, either case
    ("19121212%2D1212", "1912****-****"),
    ("19121212%2d1212", "1912****-****"),
    ("19121212%2B1212", "1912****-****"),
    ("19121212%201212", "1912****-****"),
    ("19121212%252D1212", "1912****-****"),
    ("121212%2D1212", "12****-****"),
])
def test_every_form_of_a_personnummer_is_masked(text, masked):
    assert mask_pnr(text) == masked


@pytest.mark.parametrize(("text", "masked"), [
    ("patient=191212121212;", "patient=1912****-****;"),
    ("/rehabstod/patient/19121212-1212/intyg", "/rehabstod/patient/1912****-****/intyg"),
    ("abc1212121212xyz", "abc12****-****xyz"),
    ("pnr:19121212-1212,19850314-9828.", "pnr:1912****-****,1985****-****."),
    ("Tolvan (121212-1212) ringde", "Tolvan (12****-****) ringde"),
    ('"GET /x/19121212%2D1212?a=1 HTTP/1.1"', '"GET /x/1912****-****?a=1 HTTP/1.1"'),
])
def test_a_personnummer_inside_longer_text_is_masked_and_the_text_around_it_kept(text, masked):
    assert mask_pnr(text) == masked


@pytest.mark.parametrize(("text", "masked"), [
    ("GET /rehabstod/sjukfall?fritext=191212121212 HTTP/1.1", "GET /rehabstod/sjukfall?fritext=*** HTTP/1.1"),
    ("/rehabstod/sjukfall?kon=F&fritext=Anna+Andersson&sortera=namn",
     "/rehabstod/sjukfall?kon=F&fritext=***&sortera=namn"),
    ("?FRITEXT=Tolvan%20Tolvansson#top", "?FRITEXT=***#top"),
    ("next=%2Frehabstod%2Fsjukfall%3Ffritext%3DAnna%26kon%3DF",
     "next=%2Frehabstod%2Fsjukfall%3Ffritext%3D***%26kon%3DF"),
    ('"https://portal.example/rehabstod/sjukfall?fritext=Anna"', '"https://portal.example/rehabstod/sjukfall?fritext=***"'),
])
def test_the_search_parameters_value_is_masked_whole_a_name_as_well(text, masked):
    assert mask_pnr(text) == masked


@pytest.mark.parametrize("text", [
    '127.0.0.1 - - [23/Nov/2026:14:05:12 +0100] "GET /rehabstod/sjukfall?kon=F&sida=2 HTTP/1.1" 200 54368 "-" "curl/8"',
    "2026-11-23 14:05:12,123 INFO portal.worker: send 4711 to FK, attempt 3 failed (HTTP 503)",
    "[2026-11-23 14:05:12 +0000] [12345] [INFO] Listening at: http://127.0.0.1:5000 (12345)",
    "unix time 1763897112 or 1763897112123 ms, compact 20261123140512",
    "order 8503149829 (no check digit) and 1701151239 (no check digit either)",
    "month 13: 191213121212; day 00: 19121200-1212 and 121200-1212",
    f"api: certificates.register stored by journal-demo, unit {demo.hsa('VE10')}, staff {demo.hsa('R001')}",
    "request id 3f2a1b9c-7d4e-4f60-9a1b-2c3d4e5f6a7b took 0.012345 s, 1048576 bytes",
    "phone 070-1234567, port 54321, pid <4242>, sida=12, 100 %",
])
def test_ordinary_log_lines_are_left_readable(text):
    assert mask_pnr(text) == text


def test_every_log_record_is_masked_its_arguments_and_traceback_too(caplog):
    install_log_masking()
    install_log_masking()  # once is enough: a second call does not wrap the factory again
    log = logging.getLogger("portal.test")
    caplog.set_level(logging.INFO)
    log.info("searched for %s by %s", "19121212%2D1212", {"fritext": "Anna"})
    log.warning("GET /rehabstod/sjukfall?fritext=1212121212")
    try:
        raise ValueError("no patient 19121212-1212")
    except ValueError:
        log.exception("failed for 121212-1212")
    text = caplog.text
    assert "1912****-****" in text and "fritext=***" in text and "12****-****" in text
    for plain in ("19121212", "1212121212", "121212-1212", "%2D1212"):
        assert plain not in text
    assert "ValueError" in text and "Traceback" in text  # the traceback stays, masked


class ListHandler(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(self.format(record))


@pytest.fixture
def gunicorn_logger():
    """gunicorn's logger as the repository configures it (gunicorn.conf.py) with the access log on ('-', as
    `make run` has it), and what its access and error logs write."""
    from gunicorn.config import Config

    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    cfg = Config()
    cfg.set("logger_class", settings["logger_class"])
    cfg.set("accesslog", "-")
    logger = cfg.logger_class(cfg)
    written = ListHandler()
    logger.access_log.addHandler(written)
    logger.error_log.addHandler(written)
    yield logger, written.lines
    logger.access_log.removeHandler(written)
    logger.error_log.removeHandler(written)


def access_line(gunicorn_logger, raw_uri: str, referer: str = "-") -> str:
    logger, lines = gunicorn_logger
    query = raw_uri.split("?", 1)[1] if "?" in raw_uri else ""
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": raw_uri, "PATH_INFO": raw_uri.split("?")[0], "QUERY_STRING": query,
               "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1", "HTTP_REFERER": referer,
               "HTTP_USER_AGENT": "Mozilla/5.0"}
    resp = SimpleNamespace(status="200 OK", sent=1234, headers=[("Content-Type", "text/html")])
    req = SimpleNamespace(headers=[("REFERER", referer)])
    logger.access(resp, req, environ, timedelta(milliseconds=12))
    return lines[-1]


def test_the_servers_access_log_is_masked(gunicorn_logger):
    line = access_line(gunicorn_logger, "/rehabstod/sjukfall?fritext=191212121212&kon=F",
                       referer="http://127.0.0.1:5000/rehabstod/patient/19121212%2D1212")
    assert '"GET /rehabstod/sjukfall?fritext=***&kon=F HTTP/1.1" 200 1234' in line
    assert '"http://127.0.0.1:5000/rehabstod/patient/1912****-****"' in line
    assert "191212121212" not in line and "19121212%2D1212" not in line
    # and an ordinary line is the line gunicorn always writes
    line = access_line(gunicorn_logger, "/rehabstod/sjukfall?kon=F&sida=2")
    assert line.startswith("127.0.0.1 - - [")
    assert line.endswith('"GET /rehabstod/sjukfall?kon=F&sida=2 HTTP/1.1" 200 1234 "-" "Mozilla/5.0"')


def test_the_servers_error_log_is_masked(gunicorn_logger):
    logger, lines = gunicorn_logger
    logger.error("Error handling request /rehabstod/patient/%s", "19121212-1212")
    assert lines[-1] == "Error handling request /rehabstod/patient/1912****-****"
