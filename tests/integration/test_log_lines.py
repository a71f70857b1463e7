"""Request text never forges a log line: an error page's log record carries the path escaped."""
from __future__ import annotations

import logging


def test_a_path_with_a_newline_is_logged_on_one_line(app, client, caplog):
    caplog.set_level(logging.INFO)
    response = client.get("/inloggning/%0AINFO%20portal:%20fake%20line/callback")
    assert response.status_code in (400, 404)
    messages = [r.getMessage() for r in caplog.records]
    assert messages and not any("\n" in m or "\r" in m for m in messages)
    assert any("\\nINFO portal: fake line" in m for m in messages)
