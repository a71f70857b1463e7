"""Gunicorn's settings for the portal. Gunicorn reads ./gunicorn.conf.py by itself (`make run` starts it from
the project folder; the command line adds the address, the workers and the access log).

Every line gunicorn writes goes through the portal's personnummer masking (`portal.security.mask_pnr`): the
access log's request line, query string, referer and headers, and the error log, in the master process as
well as in the workers, from the first line on (before the app, which installs the same masking, is loaded).
"""
from __future__ import annotations

from gunicorn.glogging import Logger

from portal.security import install_log_masking, mask_pnr


class MaskingLogger(Logger):
    """Gunicorn's logger with every value of an access log line masked, and every record of its own loggers
    masked by the portal's log record factory."""

    def setup(self, cfg) -> None:
        install_log_masking()
        super().setup(cfg)

    def atoms(self, resp, req, environ, request_time) -> dict:
        return {key: mask_pnr(value) if isinstance(value, str) else value
                for key, value in super().atoms(resp, req, environ, request_time).items()}


logger_class = MaskingLogger
