"""The one structured log style of every Open-Inspect process.

A record is a dotted event name (``bridge.connected``, ``dispatcher.round_failed``)
and keyword fields: ``log = EventLog(__name__); log.info("worker.started", backend="local")``.
Output is one JSON object per line (:class:`JsonFormatter`: containers, log shippers,
and the local backend, which reads a sandbox's last error from its log) or
``time level event key=value`` for a person at a terminal (:class:`TextFormatter`).

It lives in the protocol package because the sandbox's log lines are read by the
control plane, and the sandbox imports nothing else of it. Never pass a secret as a field
(each line is scrubbed with :func:`~openinspect_protocol.redaction.process_redactor` all the same).

Correlation: the ids of what is being worked on (:data:`CORRELATION_IDS`: the HTTP
request, the session, its sandbox, the prompt, a GitHub delivery, a Slack event) are
bound for a block with ``with logs.bind(session_id=..., message_id=...):`` and appear
on every line logged inside it, in every task started from it (contextvars), so one
session can be followed through the web, worker and sandbox logs by its id.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import secrets
import sys
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

from openinspect_protocol.redaction import process_redactor

_FIELDS_ATTR = "event_fields"
_IDS_ATTR = "correlation_ids"

CORRELATION_IDS = ("request_id", "session_id", "sandbox_id", "message_id", "delivery_id", "slack_event_id")
"""The ids a line may carry, in the order they are written."""
_BOUND: dict[str, ContextVar[str | None]] = {name: ContextVar(f"openinspect_{name}", default=None)
                                              for name in CORRELATION_IDS}
# An id that crosses a process boundary (a header, a command) is taken only if it looks like one:
# an attacker-chosen header must not write arbitrary text (or a forged second field) into a log line.
VALID_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}\Z")  # \Z: "$" would let a trailing newline in


def bound() -> dict[str, str]:
    """The correlation ids bound where this is called (only those that are set)."""
    return {name: value for name, var in _BOUND.items() if (value := var.get()) is not None}


@contextlib.contextmanager
def bind(**ids: str | None) -> Iterator[None]:
    """Bind correlation ids for the block (and every task started inside it); None leaves one as it is.

    An unknown name is a programming error (``TypeError``): a misspelt id would silently
    never show up in a query.
    """
    unknown = set(ids) - set(_BOUND)
    if unknown:
        raise TypeError(f"unknown correlation id(s) {sorted(unknown)}; known: {', '.join(CORRELATION_IDS)}")
    tokens = [(_BOUND[name], _BOUND[name].set(value)) for name, value in ids.items() if value is not None]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def new_request_id() -> str:
    """A fresh request id (for a request that came without a usable one)."""
    return secrets.token_hex(16)


class EventLog:
    """A logger that takes an event name and keyword fields."""

    def __init__(self, name: str) -> None:
        self._logger = logging.getLogger(name)

    def _log(self, level: int, event: str, fields: dict[str, Any], exc_info: bool = False) -> None:
        if self._logger.isEnabledFor(level):
            # The ids are read now, in the caller's context: a handler may format the record elsewhere.
            self._logger.log(level, event, extra={_FIELDS_ATTR: fields, _IDS_ATTR: bound()}, exc_info=exc_info)

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


def ids_of(record: logging.LogRecord) -> dict[str, str]:
    """The correlation ids of ``record``: those bound when it was logged (a record of another
    library's logger: those bound where it is formatted)."""
    ids = getattr(record, _IDS_ATTR, None)
    return dict(ids) if ids is not None else bound()


def _line_fields(record: logging.LogRecord) -> dict[str, Any]:
    # Ids first, then the call's own fields; a field named like an id (given explicitly) wins.
    return {**ids_of(record), **fields_of(record)}


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "event", ...ids, ...fields}`` on one line, scrubbed of secrets."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in _line_fields(record).items():
            payload.setdefault(key, value)
        if record.exc_info:
            payload["traceback"] = self.formatException(record.exc_info)
        return process_redactor().scrub(json.dumps(payload, default=str, ensure_ascii=False))


class TextFormatter(logging.Formatter):
    """``time level event key=value ...`` (ids, then fields): the same records, for a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{self.formatTime(record)} {record.levelname:<7} {record.getMessage()}"
        fields = _line_fields(record)
        if fields:
            line += " " + " ".join(f"{k}={v!r}" for k, v in fields.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return process_redactor().scrub(line)


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
