"""Structured logs for the sandbox runtime: one JSON object per line on stderr.

Every record has a dotted event name (``bridge.connected``, ``supervisor.fatal``)
as its message and its details as fields, so a person grepping a sandbox's
output and a log shipper parsing it read the same thing. Modules log through
:class:`EventLog`; only the entrypoint calls :func:`configure`.

Nothing secret is ever passed as a field: tokens and API keys stay inside the
config and the parts that use them.
"""

from __future__ import annotations

import json
import logging
import sys
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


def configure(level: int = logging.INFO, stream: TextIO | None = None) -> None:
    """Send every log record of the process to ``stream`` (stderr) as JSON lines."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The websockets library logs every reconnect attempt itself; ours say more.
    logging.getLogger("websockets").setLevel(logging.WARNING)
