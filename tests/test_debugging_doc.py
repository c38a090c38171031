"""docs/debugging.md explains every error code the code can produce: a new code, anywhere, fails here
until the playbook says what it means.

The codes are read from the source, by the shapes they are written in: a ``code="…"`` (services'
errors, sandbox events, log fields), a refusal of the API (``ApiRefusal``, ``send_error``,
``error_body``, the HTTP status map), of the model proxy (``_error``, ``UpstreamError``), a push's
classification, the metrics' own error codes, and the bridge's close codes."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import REPO_ROOT

SOURCES = ("openinspect_core", "openinspect_app", "backend_jobs", "sandbox", "protocol/openinspect_protocol")
CODE = r'"([a-z][a-z0-9_]*)"'
SHAPES = (
    re.compile(rf"\bcode\s*=\s*{CODE}"),
    re.compile(rf"ApiRefusal\(\s*\d+\s*,\s*{CODE}"),
    re.compile(rf"send_error\(\s*send\s*,\s*\d+\s*,\s*{CODE}"),
    re.compile(rf"error_body\(\s*{CODE}"),
    re.compile(rf"\b_error\(\s*{CODE}"),
    re.compile(rf"UpstreamError\(\s*\d+\s*,\s*{CODE}"),
    re.compile(r"return\s+\"(push_[a-z_]+)\","),
    re.compile(rf"metrics\.error\(\s*\"[a-z]+\"\s*,\s*{CODE}"),
)
HTTP_STATUS_CODES = ("openinspect_app/api/app.py", re.compile(rf"\b[45]\d\d: {CODE}"))  # the API's status map
CLOSE_CODE = re.compile(r"\bCLOSE_[A-Z_]+\s*=\s*(\d{4})")


def codes_in_source() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for root in SOURCES:
        for path in sorted((REPO_ROOT / root).rglob("*.py")):
            text = path.read_text()
            shapes = (*SHAPES, CLOSE_CODE, *([HTTP_STATUS_CODES[1]] if path.match(HTTP_STATUS_CODES[0]) else []))
            for shape in shapes:
                for match in shape.finditer(text):
                    found.setdefault(match.group(1), path.relative_to(REPO_ROOT))
    return found


def test_every_error_code_is_explained_in_the_playbook() -> None:
    found = codes_in_source()
    assert {"unauthenticated", "queue_full", "push_rejected", "agent_start_failed", "4002", "method_not_allowed",
            "provider_timeout", "sequence_gap"} <= set(found)  # every shape is really read
    doc = (REPO_ROOT / "docs" / "debugging.md").read_text()
    missing = {code: str(path) for code, path in found.items() if f"`{code}`" not in doc}
    assert not missing, f"error codes docs/debugging.md does not explain (add a row): {missing}"


def test_every_log_event_the_playbook_names_exists() -> None:
    """Its log queries name real events: a renamed event fails here, not during an incident."""
    doc = (REPO_ROOT / "docs" / "debugging.md").read_text()
    named = {m for m in re.findall(r"`([a-z_]+(?:\.[a-z_]+)+)`", doc) if not m.endswith((".md", ".log", ".py", ".sh"))}
    assert {"prompts.queued", "ingestion.execution_complete"} <= named
    source = "\n".join(path.read_text() for root in SOURCES for path in (REPO_ROOT / root).rglob("*.py"))
    assert not {name for name in named if f'"{name}"' not in source}
