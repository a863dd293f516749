"""Logging for the worker and the CLI: a JSON object per line by default, readable text on request.

JSON lines let a log shipper (Vector, Fluent Bit, Loki's promtail) index fields without parsing
free text; ``LEADSCORE_LOG_FORMAT=text`` is for a person watching a terminal. The same
:func:`dict_config` feeds both Faust's worker (through ``app.conf.logging_config``, which the worker
applies when it starts) and the plain CLI commands (through :func:`setup`).

Nothing here adds personal data: records carry the logger name, level and the message the code
wrote, and the code never logs emails or names. Libraries' messages are not ours to write, and an
exception raised on input (aiohttp's parser, the event loop's transports) tends to quote that
input, so :class:`LibraryErrorsByClass` keeps only the class of such exceptions.
"""

from __future__ import annotations

import logging
import logging.config
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

LogFormat = Literal["json", "text"]

_TEXT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
# Attributes every LogRecord has; anything else was passed with ``extra=`` and is worth keeping.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """Render a record as one compact JSON object: time, level, logger, message, extras, error."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(entry, default=str).decode()


# Loggers of the libraries that read what clients send: the HTTP server and the event loop under it.
QUOTING_LIBRARIES = ("aiohttp", "asyncio")


class LibraryErrorsByClass(logging.Filter):
    """Replace the traceback of a record from :data:`QUOTING_LIBRARIES` with the error's class.

    Their exceptions' messages may hold a header or a body a client sent; the class and the
    logger's own message say what happened without it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.name.startswith(QUOTING_LIBRARIES):
            kind = record.exc_info[0]
            record.error_class = kind.__name__ if kind is not None else None
            record.exc_info = None
            record.exc_text = None
        return True


def dict_config(fmt: LogFormat, level: str) -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` mapping writing ``fmt`` lines to standard error."""
    formatter: dict[str, Any] = (
        {"()": f"{__name__}.JsonFormatter"} if fmt == "json" else {"format": _TEXT}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"leadscore": formatter},
        "filters": {"library_errors": {"()": f"{__name__}.LibraryErrorsByClass"}},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "leadscore",
                "filters": ["library_errors"],
                "stream": "ext://sys.stderr",
            }
        },
        # aiokafka reports every reconnect at INFO; only its warnings are worth a line.
        "loggers": {"aiokafka": {"level": "WARNING"}},
        "root": {"level": level, "handlers": ["default"]},
    }


def setup(fmt: LogFormat, level: str) -> None:
    """Configure logging for a CLI command that does not run inside Faust's worker."""
    logging.config.dictConfig(dict_config(fmt, level))
