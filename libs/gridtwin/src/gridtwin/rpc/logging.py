"""JSON logs on stdout, one object per line, with the active trace and span ids when in a span."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

__all__ = ["LIBRARY_LOGGERS", "quiet_library_loggers", "setup_json_logging"]

_HANDLER_NAME = "gridtwin-json"
# Third-party loggers that chatter at INFO (httpx logs one line per HTTP request: once a second while
# the CLI follows a job; Alembic four lines per service at start): kept at WARNING, so their problems
# still show and their routine does not.
LIBRARY_LOGGERS = (
    "httpx",
    "httpcore",
    "urllib3",
    "h11",
    "h2",
    "hpack",
    "python_multipart",
    "multipart",
    "alembic",
)


class _ContextFilter(logging.Filter):
    """Stamps every record with the service name and the current OpenTelemetry ids."""

    def __init__(self, service_name: str) -> None:
        super().__init__()
        self.service_name = service_name

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service_name
        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            record.trace_id = format(ctx.trace_id, "032x")
            record.span_id = format(ctx.span_id, "016x")
        return True


class _UtcJsonFormatter(JsonFormatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


def setup_json_logging(service_name: str, level: str = "INFO") -> None:
    """Route the root logger to stdout as JSON: time (UTC), level, service, logger, message, trace ids.

    Idempotent: a second call replaces the handler installed by the first.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == _HANDLER_NAME:
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stdout)
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(_ContextFilter(service_name))
    handler.setFormatter(
        _UtcJsonFormatter(
            "%(asctime)s %(levelname)s %(service)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    )
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Alembic announces each of its plug-ins at INFO on every start: keep only its migration lines.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    quiet_library_loggers()


def quiet_library_loggers(level: int = logging.WARNING) -> None:
    """Raise the third-party loggers of ``LIBRARY_LOGGERS`` to ``level`` (never lower them)."""
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level < level:
            logger.setLevel(level)
