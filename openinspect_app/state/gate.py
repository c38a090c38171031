"""The identity gate: every Reflex event passes it before any handler runs.

A Reflex middleware (``preprocess`` sees each event with the tab's whole state
tree, under its lock). For every event it

1. asks who the tab's sign-in cookie names (``state/viewer.py``, checked on the
   server, cached for seconds);
2. when that is no longer the person whose state the tab holds (signed out,
   revoked, expired, someone else signed in), forgets the tab: unlinks it from
   any session's shared state (so no later change reaches it) and resets
   everything it held of the previous person; an event that found the tab
   linked is then run again on the cleared tree, so not even a page load's
   snapshot carries a session's state;
3. clears values shown once (a new API token) — they live for one render;
4. refuses, when nobody is signed in, every event but Reflex's own (hydration,
   page-load bookkeeping) and the few marked ``public``: nothing runs, the tab
   gets a notice, and a page load is sent to the sign-in page.

Handlers check again themselves (``AuthState.viewer``): the gate is deny by
default, the handlers say what they need.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import reflex as rx
from openinspect_protocol.logs import EventLog
from reflex.istate.shared import SharedState
from reflex.middleware import Middleware
from reflex.state import BaseState, StateUpdate
from reflex_base.event import Event

from openinspect_app.state.auth import NOT_SIGNED_IN, AuthState
from openinspect_app.state.viewer import who_is_asking

if TYPE_CHECKING:
    from reflex.app import App

log = EventLog(__name__)

APP_PACKAGE = "openinspect_app"
PUBLIC_MARK = "_openinspect_public"
F = TypeVar("F", bound=Callable[..., Any])


def public(fn: F) -> F:
    """Mark an event handler that may run for a tab nobody is signed in to (it must read nothing
    of any session)."""
    setattr(fn, PUBLIC_MARK, True)
    return fn


def shown_once(*names: str) -> Callable[[type[AuthState]], type[AuthState]]:
    """Declare vars of a state that hold a value shown for one render (the gate clears them on the
    tab's next event)."""
    def mark(cls: type[AuthState]) -> type[AuthState]:
        cls._shown_once = names  # type: ignore[attr-defined]
        return cls
    return mark


def private_states() -> list[type[BaseState]]:
    """Every state that holds what one person's tab saw: AuthState and all states below it."""
    found: list[type[BaseState]] = []
    pending: list[type[BaseState]] = [AuthState]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.get_substates())
    return found


def handler_of(event_name: str) -> tuple[type[BaseState], Any] | None:
    """The state class and handler an event names (None if it names none)."""
    state_name, _, handler_name = event_name.rpartition(".")
    try:
        cls = rx.State.get_class_substate(state_name)
    except ValueError:
        return None
    handler = cls.event_handlers.get(handler_name)
    return None if handler is None else (cls, handler)


def is_public(event_name: str) -> bool:
    found = handler_of(event_name)
    if found is None:
        return False  # Reflex refuses it anyway; nothing of ours runs
    cls, handler = found
    if not cls.__module__.startswith(APP_PACKAGE + "."):
        return True  # Reflex's own: hydration, page-load bookkeeping
    return bool(getattr(handler.fn, PUBLIC_MARK, False))


class IdentityGate(Middleware):
    async def preprocess(self, app: App, state: BaseState, event: Event) -> StateUpdate | None:
        root = state._get_root_state()
        auth = await root.get_state(AuthState)
        assert isinstance(auth, AuthState)
        client_token = root.router.session.client_token
        viewer = await who_is_asking(root.router.headers.cookie, client_token)
        now_id = viewer.user_id if viewer else ""
        linked = bool(getattr(root, "_reflex_internal_links", None))
        unlinked = False
        if auth._user_id != now_id or (viewer is None and linked):
            previous = auth._user_id
            unlinked = await _forget_tab(root, client_token)
            if previous or unlinked:  # not for a tab's first sign-in: it held nothing
                log.info("ui.tab_forgotten", signed_in=viewer is not None, unlinked=unlinked)
        _show(auth, viewer)
        if unlinked:
            # The linked state is still patched into this event's tree: run the event again on the
            # tree as it is now (unlinked), so its delta carries nothing of the session.
            return StateUpdate(events=[event])
        await _clear_shown_once(root)
        if viewer is not None or is_public(event.name):
            return None
        log.info("ui.event_refused", handler=event.name.rpartition(".")[2], reason="not_signed_in")
        auth.auth_notice = NOT_SIGNED_IN
        events = [] if not _is_page_load(app, root, event) else Event.from_event_type(auth._to_sign_in())
        delta = await root._get_resolved_delta()
        root._clean()
        return StateUpdate(delta=delta, events=events)


def _show(auth: AuthState, viewer: Any) -> None:
    # Assigning marks a var dirty (and re-sent) even when unchanged: only assign what differs.
    if (auth._user_id, auth.user_name, auth.user_email) != (
            (viewer.user_id, viewer.name, viewer.email) if viewer else ("", "", "")):
        auth._show_viewer(viewer)


async def _forget_tab(root: BaseState, client_token: str) -> bool:
    """Unlink the tab from every shared state and reset what it held; True if it was linked."""
    links: dict[str, str] = getattr(root, "_reflex_internal_links", None) or {}
    unlinked = False
    for state_name in list(links):
        cls = root.get_class_substate(state_name)
        linked = await root.get_state(cls)  # the shared instance, patched in for this event
        if isinstance(linked, SharedState):
            linked._linked_from.discard(client_token)  # no change of that session reaches this tab
        links.pop(state_name, None)
        unlinked = True
    for cls in private_states():
        substate = await root.get_state(cls)
        substate.reset()
    return unlinked


async def _clear_shown_once(root: BaseState) -> None:
    for cls in private_states():
        names: tuple[str, ...] = getattr(cls, "_shown_once", ())
        if not names or "_shown_once" not in cls.__dict__:
            continue
        substate = await root.get_state(cls)
        for name in names:
            if getattr(substate, name):
                setattr(substate, name, type(getattr(substate, name))())


def _is_page_load(app: App, root: BaseState, event: Event) -> bool:
    names = {e.name for spec in app.get_load_events(root.router.url.path) for e in Event.from_event_type(spec)}
    return event.name in names
