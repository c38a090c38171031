"""``python -m openinspect_protocol.catalogue``: the event catalogue (docs/events.md), from the models.

A test compares the committed file with what this prints, so the catalogue cannot drift
from the code; regenerate with ``python -m openinspect_protocol.catalogue > docs/events.md``.
"""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel

from openinspect_protocol.commands import Command
from openinspect_protocol.events import ChangesSnapshot, Heartbeat, SandboxLog
from openinspect_protocol.timeline import CONTROL_EVENT_MODELS, SANDBOX_EVENT_MODELS

_ENVELOPE = frozenset({"type", "seq", "ts", "message_id"})


def _type_name(annotation: Any) -> str:
    text = str(annotation) if not isinstance(annotation, type) else annotation.__name__
    text = text.replace("typing.", "").replace("NoneType", "None")
    for module in ("openinspect_protocol.status.", "openinspect_protocol.base.", "openinspect_protocol.timeline.",
                   "openinspect_protocol.events."):
        text = text.replace(module, "")
    return text.replace("|", "\\|")  # inside a Markdown table cell


def _section(title: str, intro: str, models: tuple[type[BaseModel], ...]) -> list[str]:
    lines = [f"## {title}", "", intro, ""]
    for model in models:
        kind = model.model_fields["type"].default
        lines += [f"### `{kind}`", "", (model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
                  or "(no description)", ""]
        fields = [(n, f) for n, f in model.model_fields.items() if n not in _ENVELOPE]
        if fields:
            lines += ["| Field | Type | Meaning |", "|---|---|---|"]
            for name, info in fields:
                default = "" if info.is_required() else f" (default `{info.get_default(call_default_factory=True)!r}`)"
                lines.append(f"| `{name}` | `{_type_name(info.annotation)}` | {info.description or ''}{default} |")
            lines.append("")
    return lines


def render() -> str:
    commands = typing.get_args(typing.get_args(Command)[0])
    lines = [
        "# Event catalogue",
        "",
        "Generated from `protocol/openinspect_protocol/` by `python -m openinspect_protocol.catalogue`;",
        "do not edit by hand (a test compares this file with the models).",
        "",
        "Every stored event has a `type`, a per-session `sequence`, an optional `message_id` (the prompt it",
        "belongs to) and `created_at`; the fields below are its `data` (REST: `GET /api/sessions/{id}/events`).",
        "Sandbox events also carry `ts` (when the sandbox saw it) and, on the wire, `seq` (per sandbox).",
        "",
    ]
    lines += _section("Sandbox events", "Sent by a sandbox's bridge and stored as they come "
                      "(`heartbeat` too is sent, but kept only as the sandbox's liveness; `sandbox_log` is "
                      "kept with the session as its sandbox log, and `changes` as the session's Changes, not on the "
                      "timeline).",
                      (*SANDBOX_EVENT_MODELS, Heartbeat, SandboxLog, ChangesSnapshot))
    lines += _section("Control-plane events", "Added to a session's timeline by the control plane itself.",
                      CONTROL_EVENT_MODELS)
    lines += _section("Commands", "Sent by the control plane to a sandbox's bridge (never stored).", commands)
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(render(), end="")
