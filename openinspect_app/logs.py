"""Structured logs: dotted event names plus key=value fields, one line each."""

from __future__ import annotations

import logging
import sys

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = f"{self.formatTime(record)} {record.levelname:<7} {record.getMessage()}"
        fields = {k: v for k, v in vars(record).items() if k not in _STANDARD}
        if fields:
            line += " " + " ".join(f"{k}={v!r}" for k, v in fields.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class _QuietSharedStateUpdates(logging.Filter):
    """Reflex warns on every update of a shared state (its token is not a browser tab)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Attempting to send delta to disconnected client")


def configure(level: int = logging.INFO) -> None:
    logging.getLogger("reflex.app").addFilter(_QuietSharedStateUpdates())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    for name in ("openinspect_app", "backend_jobs"):
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.handlers[:] = [handler]
        logger.propagate = False
