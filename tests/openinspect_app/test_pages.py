"""What the pages are built from: one var per live-window slot, one colour for every status, and
signing in and out as plain form posts."""

from __future__ import annotations

import re

from openinspect_protocol.status import STARTUP_STAGES, MessageStatus, SessionStatus

from openinspect_app.components.status import ENTRY_COLORS, SESSION_COLORS
from openinspect_app.live.projector import SLOT_COUNT, SLOT_VARS
from openinspect_app.live.timeline_view import COMPLETED, ERROR, RUNNING
from openinspect_app.pages.session import STAGE_LABELS, session_page
from openinspect_app.pages.sessions import sessions_page
from openinspect_app.pages.settings import settings_page
from openinspect_app.pages.sign_in import sign_in_page
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


def test_signing_in_and_out_are_plain_form_posts_and_nothing_names_a_person_in_the_browser() -> None:
    sign_in, settings, sessions = str(sign_in_page()), str(settings_page()), str(sessions_page())
    form = sign_in[sign_in.index('jsx("form",{action:"/api/auth/local"'):]
    head = form[:form.index("},")]
    assert 'method:"post"' in head and "onSubmit" not in head  # the browser posts it: the server sets the cookie
    assert 'name:"next"' in form and 'type:"hidden"' in form
    sign_out = sessions[sessions.index('jsx("form",{action:"/api/auth/sign-out"'):]
    assert "onSubmit" not in sign_out[:sign_out.index("},")]
    for compiled in (sign_in, settings, sessions, str(session_page())):
        assert "localStorage" not in compiled and "openinspect_user" not in compiled
    assert "new_token_rx_state_" in settings


def test_the_source_shows_on_the_list_and_the_session_page_with_the_slack_thread() -> None:
    sessions, session = str(sessions_page()), str(session_page())
    for compiled in (sessions, session):
        assert 'case JSON.stringify("slack"):' in compiled and '"Slack"' in compiled
    assert "session-source" in sessions
    assert "slack_thread_rx_state_" in session and 'id:"slack-thread"' in session
