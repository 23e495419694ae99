"""Logs that cannot carry patient data: one JSON object a line, exceptions without their text.

What the web apps log is decided here, not at each call: :class:`JsonLines` writes a record as
``{"at", "level", "logger", "message", ...}`` plus the fields passed as ``extra`` (a request
id, a route template, a status). An exception attached to any record (``log.exception``, or a
library's traceback: uvicorn's "Exception in ASGI application") is written as its type names
and the frames it passed through (file, line, function), never its message or arguments,
which may quote a row (a PostgreSQL "Failing row contains (...)", a unique key's value, a
value that did not fit). The app logs route templates, never a path, a query string or a
body; the engines hide SQL parameters (``hide_parameters``) and never echo SQL.
:func:`scrub_exception` is what the formatter and the app's 500 handler both use.
:func:`log_config` is the ``logging.config.dictConfig`` for ``benzosafe serve``.
"""

from __future__ import annotations

import json
import logging
import traceback
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

#: The attributes of every ``LogRecord``; anything else on a record came in ``extra``.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
#: Only these ``extra`` fields are written: ids, names and numbers the app chose to log.
FIELDS = ("request_id", "method", "route", "status", "ms", "error", "where")


def scrub_exception(exc: BaseException) -> dict[str, Any]:
    """An exception as its type names (with the chain of causes) and the innermost frames of
    its traceback, without any message: ``{"error": "DataError <- StringDataRightTruncation",
    "where": ["store/records.py:120 create_patient", ...]}``."""
    names = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        names.append(type(current).__name__)
        current = current.__cause__ or current.__context__
    return {"error": " <- ".join(names), "where": _frames(exc.__traceback__)}


def _frames(tb: TracebackType | None, keep: int = 8) -> list[str]:
    out = []
    for frame in traceback.extract_tb(tb)[-keep:]:
        path = Path(frame.filename)
        out.append(f"{'/'.join(path.parts[-2:])}:{frame.lineno} {frame.name}")
    return out


class JsonLines(logging.Formatter):
    """One JSON object a line; exception text and unknown ``extra`` fields left out."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in FIELDS:
            if key in record.__dict__:
                out[key] = record.__dict__[key]
        if record.exc_info and record.exc_info[1] is not None:
            out.update(scrub_exception(record.exc_info[1]))
        return json.dumps(out, default=str, ensure_ascii=False)

    def formatException(self, ei: Any) -> str:
        # Never the text: a handler that calls this directly gets the type names only.
        return str(scrub_exception(ei[1])["error"]) if ei and ei[1] is not None else ""


def log_config(level: str = "INFO") -> dict[str, Any]:
    """The logging of ``benzosafe serve``: uvicorn's own loggers and benzosafe's, JSON lines on
    standard error; uvicorn's access log off (it would write paths and query strings);
    SQLAlchemy's at WARNING (its INFO is the SQL with its parameters)."""
    handler = ["json"]
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonLines"}},
        "handlers": {
            "json": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "benzosafe": {"handlers": handler, "level": level, "propagate": False},
            "uvicorn": {"handlers": handler, "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            "sqlalchemy": {"handlers": handler, "level": "WARNING", "propagate": False},
        },
        "root": {"handlers": handler, "level": "WARNING"},
    }
