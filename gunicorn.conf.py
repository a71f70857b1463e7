"""Gunicorn's settings for the portal. Gunicorn reads ./gunicorn.conf.py by itself (`make run` starts it from
the project folder; the command line adds the address, the workers and the access log).

Logs. Every line gunicorn writes goes through the portal's personnummer masking (`portal.security.mask_pnr`),
in the master process as well as in the workers, from the first line on (before the app, which installs the
same masking, is loaded). With `LOG_FORMAT=json` (the default in production) gunicorn's error log and access log
are the portal's JSON lines on stderr, and the access line is the portal's own (portal/observability.py):
method, route (the URL rule the app matched, never the path or the query string), status, duration_ms, bytes
(as sent) and the request id (`access_log_format` is not used). With `LOG_FORMAT=text` (development) gunicorn
writes its usual lines, every value of the access line masked. With gunicorn's access log off (no
`--access-logfile`), the app writes its access line itself.

Metrics. Every gunicorn process writes its Prometheus values to files in `PROMETHEUS_MULTIPROC_DIR`, and
/metrics adds them all up, whichever process answers. When it is not set, gunicorn's master makes a private
directory at start (and removes it at exit); when it is set, it must be this gunicorn's alone, and its files are
removed at start. A dead worker's files are marked (`child_exit`), so its gauges go and its counts stay.
"""
from __future__ import annotations

import atexit
import glob
import logging
import os
import shutil
import sys
import tempfile

from gunicorn.glogging import Logger

from portal import observability
from portal.config import log_format
from portal.security import install_log_masking, mask_pnr


class MaskingLogger(Logger):
    """Gunicorn's logger with every record masked by the portal's log record factory; with LOG_FORMAT=json in the
    portal's JSON, with the portal's access line."""

    json = False

    def setup(self, cfg) -> None:
        install_log_masking()
        super().setup(cfg)
        self.json = log_format() == "json"
        if not self.json:
            return  # text (development): gunicorn's own lines, masked
        fmt = observability.formatter("json")
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                if getattr(handler, "_gunicorn", False) and type(handler) in (logging.StreamHandler,
                                                                              logging.FileHandler):
                    handler.setFormatter(fmt)
                    if type(handler) is logging.StreamHandler and handler.stream is sys.stdout:
                        handler.setStream(sys.stderr)  # `--access-logfile -`: every line on stderr

    def atoms(self, resp, req, environ, request_time) -> dict:
        return {key: mask_pnr(value) if isinstance(value, str) else value
                for key, value in super().atoms(resp, req, environ, request_time).items()}

    def access(self, resp, req, environ, request_time) -> None:
        if not self.json:
            return super().access(resp, req, environ, request_time)
        if not self.access_log_enabled:
            return
        try:
            status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
            observability.write_access_line(
                self.access_log, method=str(environ.get("REQUEST_METHOD", "-")),
                route=environ.get(observability.ENVIRON_ROUTE) or observability.UNMATCHED, status=int(status),
                seconds=request_time.total_seconds(), size=getattr(resp, "sent", None),
                request_id=environ.get(observability.ENVIRON_REQUEST_ID))
        except Exception:  # noqa: BLE001 - as gunicorn's own: a log line never breaks a request
            self.exception("the access line could not be written")


logger_class = MaskingLogger


def on_starting(server) -> None:
    """Once, in the master before the workers start (not at a reload): every process writes its metrics to files
    in PROMETHEUS_MULTIPROC_DIR; a directory of our own when it is not set (removed when the master exits,
    whatever the reason), else the given one without an earlier run's files."""
    from prometheus_client import values

    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        for name in glob.glob(os.path.join(path, "*.db")):
            os.remove(name)
    else:
        path = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="portal-metrics-")
        master = os.getpid()
        atexit.register(lambda: os.getpid() == master and shutil.rmtree(path, ignore_errors=True))  # not a worker's
    # prometheus_client chose its value class when imported (above, before the variable was set): choose again,
    # before any metric has a value (they all have labels, so none has one until a request)
    values.ValueClass = values.get_value_class()


def post_worker_init(worker) -> None:
    """Gunicorn writes the access lines when its access log is on; the app then writes none."""
    observability.server_writes_access_log = bool(worker.log.access_log_enabled)


def child_exit(server, worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
