"""Log lines of every Relance process (web, gunicorn, workers, dispatcher): time, level, logger name.

LOG_FORMAT=text (the default) writes `2026-01-31 12:00:00,000 INFO automations.engine [pid] …`;
LOG_FORMAT=json writes one JSON object a line, for a log collector.
"""

import json
import logging
from datetime import UTC, datetime

from django.core.exceptions import ImproperlyConfigured

from config.env import env_str

LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, process, message, exc_info."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "process": record.process,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str)


class EnqueuedToDebug(logging.Filter):
    """django-q2 logs "Enqueued …" at INFO for every task: lowered to DEBUG, and dropped unless the
    logger is enabled for DEBUG (a logger filter runs after the level check, so it checks again)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or not str(record.msg).startswith("Enqueued"):
            return True
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


def log_format() -> str:
    raw = env_str("LOG_FORMAT", "text")
    value = raw.strip().lower()
    if value not in LOG_FORMATS:
        raise ImproperlyConfigured(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, got {raw!r}")
    return value


def log_level() -> str:
    raw = env_str("LOG_LEVEL", "INFO")
    value = raw.strip().upper()
    if value not in LOG_LEVELS:
        raise ImproperlyConfigured(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {raw!r}")
    return value


def formatter() -> dict:
    if log_format() == "json":
        return {"()": "config.logging.JsonFormatter"}
    return {"format": TEXT_FORMAT}


def django_logging() -> dict:
    """The LOGGING setting: everything to stderr through the root logger, at LOG_LEVEL."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"relance": formatter()},
        "filters": {"enqueued_to_debug": {"()": "config.logging.EnqueuedToDebug"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "relance"}},
        "root": {"handlers": ["console"], "level": log_level()},
        "loggers": {
            "django-q": {"filters": ["enqueued_to_debug"]},
            # Each SQL query at DEBUG is noise even when debugging the engine.
            "django.db.backends": {"level": "WARNING"},
            # httpx logs every webhook request at INFO: our delivery log already records each attempt.
            "httpx": {"level": "WARNING"},
        },
    }


def gunicorn_logging() -> dict:
    """gunicorn's `logconfig_dict`: its error and access logs in the same format, on stderr."""
    handler = {"class": "logging.StreamHandler", "formatter": "relance", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"relance": formatter()},
        "handlers": {"console": handler},
        "root": {"level": "INFO", "handlers": []},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["console"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["console"], "propagate": False},
        },
    }
