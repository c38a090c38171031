"""The one structured log style of every Open-Inspect process.

A record is a dotted event name (``bridge.connected``, ``dispatcher.round_failed``)
and keyword fields: ``log = EventLog(__name__); log.info("worker.started", backend="local")``.
Output is one JSON object per line (:class:`JsonFormatter`: containers, log shippers,
and the local backend, which reads a sandbox's last error from its log) or
``time level event key=value`` for a person at a terminal (:class:`TextFormatter`).

It lives in the protocol package because the sandbox's log lines are read by the
control plane, and the sandbox imports nothing else of it. Never pass a secret as a field.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TextIO

_FIELDS_ATTR = "event_fields"


class EventLog:
    """A logger that takes an event name and keyword fields."""

    def __init__(self, name: str) -> None:
        self._logger = logging.getLogger(name)

    def _log(self, level: int, event: str, fields: dict[str, Any], exc_info: bool = False) -> None:
        if self._logger.isEnabledFor(level):
            self._logger.log(level, event, extra={_FIELDS_ATTR: fields}, exc_info=exc_info)

    def debug(self, event: str, **fields: Any) -> None:
        self._log(logging.DEBUG, event, fields)

    def info(self, event: str, **fields: Any) -> None:
        self._log(logging.INFO, event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._log(logging.WARNING, event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self._log(logging.ERROR, event, fields)

    def exception(self, event: str, **fields: Any) -> None:
        """An error with the current exception's traceback attached."""
        self._log(logging.ERROR, event, fields, exc_info=True)


def fields_of(record: logging.LogRecord) -> dict[str, Any]:
    """The keyword fields an :class:`EventLog` call attached to ``record``."""
    return dict(getattr(record, _FIELDS_ATTR, {}))


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "event", ...fields}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in fields_of(record).items():
            payload.setdefault(key, value)
        if record.exc_info:
            payload["traceback"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``time level event key=value ...``: the same records, for a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{self.formatTime(record)} {record.levelname:<7} {record.getMessage()}"
        fields = fields_of(record)
        if fields:
            line += " " + " ".join(f"{k}={v!r}" for k, v in fields.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure(*, json_lines: bool, level: int = logging.INFO, stream: TextIO | None = None,
              loggers: Iterable[str] | None = None) -> None:
    """Send log records to ``stream`` (stderr) in one of the two forms.

    ``loggers=None`` configures the root logger (a process of our own, such as a
    sandbox); a list configures only those (inside a host such as Reflex, whose
    own logging stays as it is).
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    targets = [logging.getLogger()] if loggers is None else [logging.getLogger(name) for name in loggers]
    for logger in targets:
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        if loggers is not None:
            logger.propagate = False
    # The websockets library logs every reconnect attempt itself; ours say more.
    logging.getLogger("websockets").setLevel(logging.WARNING)
