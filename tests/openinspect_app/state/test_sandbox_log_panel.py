"""The session page's "Sandbox log" panel: on the page, and its stored JSON lines made readable."""

from __future__ import annotations

from openinspect_app.pages.session import session_page
from openinspect_app.state.sandbox_log import SandboxLogPanel, readable


def test_a_json_line_reads_as_time_level_event_and_fields() -> None:
    line = ('{"ts": "2026-12-07T02:38:49.951+00:00", "level": "info", "logger": "sandbox.supervisor", '
            '"event": "supervisor.prompt_started", "request_id": "r1", "session_id": "s1", "message_id": "m1"}')
    assert readable(line) == "02:38:49.951 info    supervisor.prompt_started request_id=r1 session_id=s1 message_id=m1"


def test_anything_else_is_shown_as_it_is() -> None:
    assert readable("bwrap: setting up uid map: Permission denied") == "bwrap: setting up uid map: Permission denied"
    assert readable("[1, 2]") == "[1, 2]"


def test_the_session_page_has_the_panel_with_its_toggle_and_refresh() -> None:
    page = str(session_page())
    for element in ("sandbox-log-toggle", "sandbox-log-refresh", "sandbox-log-lines"):
        assert element in page
    assert set(SandboxLogPanel.event_handlers) >= {"toggle", "refresh"}
