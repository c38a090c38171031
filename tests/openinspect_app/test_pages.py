"""What the pages are built from: one var per live-window slot, one colour for every status."""

from __future__ import annotations

import re

from openinspect_protocol.status import STARTUP_STAGES, MessageStatus, SessionStatus

from openinspect_app.components.status import ENTRY_COLORS, SESSION_COLORS
from openinspect_app.live.projector import SLOT_COUNT, SLOT_VARS
from openinspect_app.live.timeline_view import COMPLETED, ERROR, RUNNING
from openinspect_app.pages.session import STAGE_LABELS, session_page
from openinspect_app.pages.sessions import sessions_page
from openinspect_app.state.session import SessionShared


def test_the_shared_state_has_one_var_per_slot() -> None:
    fields = SessionShared.get_fields()
    assert tuple(name for name in fields if re.fullmatch(r"slot_\d+", name)) == SLOT_VARS
    assert len(SLOT_VARS) == SLOT_COUNT
    assert fields["slot_order"].default_value() == list(range(SLOT_COUNT))


def test_every_status_has_its_colour() -> None:
    assert set(MessageStatus) | {RUNNING, COMPLETED, ERROR} == set(ENTRY_COLORS.colors)
    # The start-up stages share the default colour (amber); every other session status has its own.
    assert set(SessionStatus) - set(SESSION_COLORS.colors) == set(STARTUP_STAGES[:-1])
    assert set(STAGE_LABELS) == set(STARTUP_STAGES)


def test_the_pages_build() -> None:
    session, sessions = str(session_page()), str(sessions_page())
    assert 'case JSON.stringify("failed"):  return ("red")' in session
    assert 'default:  return ("amber")' in sessions
    for name in SLOT_VARS:
        assert f"{name}_rx_state_" in session
