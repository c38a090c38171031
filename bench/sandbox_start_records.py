"""Reading what the system stored and logged: event rows, their timestamps, the sandbox runtime's JSON log.

Pure; shared with ``bench/k8s_spawn.py`` and ``bench/k8s_spawn_probe.py``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any


def wall(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def log_records(text: str) -> list[dict[str, Any]]:
    """The JSON lines of a sandbox runtime's log (anything else is skipped)."""
    records = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and "ts" in record and "event" in record:
            records.append(record)
    return records


def first_logged(records: list[dict[str, Any]], prefix: str, *, containing: str = "",
                 message_id: str | None = None, after: float | None = None) -> float | None:
    """When the first record matching all of these was logged (``after``: at that time or later)."""
    for record in records:
        text, at = str(record["event"]), wall(record["ts"])
        if (text.startswith(prefix) and containing in text and message_id in (None, record.get("message_id"))
                and (after is None or at >= after)):
            return at
    return None


def first_event(events: list[dict[str, Any]], kind: str, *, message_id: str | None = None,
                **data: str) -> dict[str, Any] | None:
    for event in events:
        if event["type"] == kind and message_id in (None, event["message_id"]) and all(
                event["data"].get(k) == v for k, v in data.items()):
            return event
    return None


def stored_at(event: dict[str, Any] | None) -> float | None:
    return wall(event["created_at"]) if event else None


def emitted_at(event: dict[str, Any] | None) -> float | None:
    return wall(event["data"]["ts"]) if event and "ts" in event["data"] else None


def timeline_text(events: list[dict[str, Any]]) -> str:
    return "\n".join(f"  {e['sequence']} {e['type']} {json.dumps(e['data'])[:200]}" for e in events)
