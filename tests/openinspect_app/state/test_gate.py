"""What the identity gate lets through without a sign-in, and what it resets, read off the app's
own state classes (so a new state or handler is judged the moment it exists)."""

from __future__ import annotations

import re

import reflex as rx
from reflex.istate.shared import SharedState
from reflex_base.event import Event

import openinspect_app.openinspect_app as web
from openinspect_app.pages.session import session_page
from openinspect_app.pages.sessions import sessions_page
from openinspect_app.pages.settings import settings_page
from openinspect_app.pages.sign_in import sign_in_page
from openinspect_app.state.gate import is_public, private_states
from openinspect_app.state.session import SessionShared
from openinspect_app.state.settings import SettingsState
from openinspect_app.state.sign_in import SignInPage


def app_states() -> list[type[rx.State]]:
    found, pending = [], [rx.State]
    while pending:
        cls = pending.pop()
        pending.extend(cls.get_substates())
        if cls.__module__.startswith("openinspect_app."):
            found.append(cls)
    return found


def handler_names(cls: type[rx.State]) -> list[str]:
    return [f"{cls.get_full_name()}.{name}" for name in cls.event_handlers]


def test_without_a_sign_in_only_the_sign_in_page_runs_anything_of_ours() -> None:
    opened = {name for cls in app_states() for name in handler_names(cls) if is_public(name)}
    assert opened == {f"{SignInPage.get_full_name()}.open"}
    assert len([n for cls in app_states() for n in handler_names(cls)]) > 15  # the walk found the handlers


def test_reflex_s_own_page_load_events_pass_and_unknown_names_do_not() -> None:
    assert is_public(f"{rx.State.get_full_name()}.hydrate_and_load")
    assert not is_public(f"{rx.State.get_full_name()}.no_such_handler")
    assert not is_public("no_such_state.open")


def test_every_state_of_ours_is_one_person_s_and_reset_when_the_person_changes_or_is_shared() -> None:
    private = set(private_states())
    for cls in app_states():
        assert cls in private or issubclass(cls, SharedState), f"{cls.__name__} is neither reset nor shared"
    assert SessionShared not in private


def test_a_new_token_is_a_value_shown_once() -> None:
    assert "new_token" in SettingsState._shown_once  # type: ignore[attr-defined]


def test_every_handler_of_ours_is_one_a_page_or_a_page_load_calls() -> None:
    """Reflex makes every public method of a state an event handler any tab may call: a helper
    without a leading underscore would be one. Each handler must be what a page sends or a page's
    on_load (``setvar`` is Reflex's own, refused by the gate like the rest)."""
    called = {e.name for specs in web.app._load_events.values() for spec in specs for e in Event.from_event_type(spec)}
    pages = [page.component for page in web.app._unevaluated_pages.values()]  # every page, as registered
    assert {session_page, sessions_page, settings_page, sign_in_page} <= set(pages)
    for page in pages:
        component = page()
        called |= set(re.findall(r'ReflexEvent\("([^"]+)"', str(component) + str(component._get_all_hooks())))
    handlers = {name for cls in app_states() for name in handler_names(cls) if not name.endswith(".setvar")}
    assert handlers - called == set()
