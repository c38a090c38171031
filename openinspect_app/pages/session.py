"""The session page: the sessions sidebar, the header, live timeline, start-up progress, people, queue,
prompt box, keyboard shortcuts."""

from __future__ import annotations

import reflex as rx
from openinspect_protocol.status import STARTUP_STAGES, MessageStatus, SessionStatus

from openinspect_app.components.app_shell import app_shell, main_column
from openinspect_app.components.changes import changes_panel, verify_badge
from openinspect_app.components.cost import editable_title, session_cost, spend_notice
from openinspect_app.components.previews import preview_buttons
from openinspect_app.components.pull_request import create_button, create_dialog, header_pull_request
from openinspect_app.components.sandbox_log import sandbox_log_panel
from openinspect_app.components.session_sidebar import session_sidebar
from openinspect_app.components.shortcuts import shortcuts_help, shortcuts_script
from openinspect_app.components.source import slack_thread_link, source_badge
from openinspect_app.components.status import SESSION_COLORS, status_badge
from openinspect_app.components.timeline import avatar, entry_view
from openinspect_app.live.projector import SLOT_VARS
from openinspect_app.routes import SESSIONS
from openinspect_app.state.session import SessionPage, SessionShared
from openinspect_app.state.sidebar import SessionSidebar

STAGE_LABELS: dict[SessionStatus, str] = {
    SessionStatus.SPAWNING: "Spawning",
    SessionStatus.SYNCING: "Syncing repo",
    SessionStatus.SETUP: "Running setup",
    SessionStatus.STARTING_AGENT: "Starting agent",
    SessionStatus.READY: "Ready",
}
PRESENCE_COLORS = {"active": "var(--green-9)", "idle": "var(--amber-9)", "away": "var(--gray-8)"}
SLOTS = [getattr(SessionShared, name) for name in SLOT_VARS]


def header(*actions: rx.Component) -> rx.Component:
    """The session's header. ``actions``: more buttons for its right-hand row (the slot for
    per-session actions such as "Open preview"), placed before the status badge."""
    return rx.flex(
        rx.vstack(
            rx.hstack(
                # At phone width the sidebar is a drawer: this opens it (the back arrow is the wide screen's).
                rx.icon_button(rx.icon("panel-left", size=16), variant="ghost", size="2", color_scheme="gray",
                               on_click=SessionSidebar.toggle_drawer, aria_label="Sessions", id="sidebar-open",
                               display=rx.breakpoints(initial="inline-flex", md="none")),
                rx.link(rx.icon("arrow-left", size=16), href=SESSIONS, aria_label="All sessions",
                        display=rx.breakpoints(initial="none", md="inline")),
                editable_title(),
                source_badge(SessionShared.source, id="session-source"),
                slack_thread_link(SessionShared.slack_thread, id="slack-thread"),
                align="center",
            ),
            rx.text(
                SessionShared.repo,
                rx.cond(SessionShared.branch != "", " @ " + SessionShared.branch, ""),
                # The session's own branch: where its commits are pushed, the head of its pull request.
                rx.cond(SessionShared.work_branch != "", " → " + SessionShared.work_branch, ""),
                size="1",
                color_scheme="gray",
                word_break="break-all",
                id="session-repo",
            ),
            header_pull_request(),
            session_cost(),
            spacing="1",
            min_width="min(100%, 16em)",  # on a phone the buttons wrap below rather than squeeze the title
            flex="1",
        ),
        rx.hstack(
            *actions,
            create_button(),
            status_badge(SessionShared.status, SESSION_COLORS, size="2", id="session-status"),
            verify_badge(size="2", id="verify-badge"),
            rx.cond(
                SessionShared.archived,
                rx.button("Restore", size="1", variant="soft", on_click=SessionPage.restore, id="restore"),
                rx.button(
                    "Archive", size="1", variant="soft", color_scheme="gray", on_click=SessionPage.archive, id="archive"
                ),
            ),
            shortcuts_help(),
            align="center",
            spacing="2",
            wrap="wrap",
        ),
        justify="between",
        spacing="2",  # Radix's gap (a bare ``gap="2"`` is no CSS length, and was dropped)
        wrap="wrap",
        width="100%",
    )


def startup_progress() -> rx.Component:
    steps = []
    for index, stage in enumerate(STARTUP_STAGES):
        done = SessionShared.startup_step > index
        current = SessionShared.startup_step == index
        steps.append(
            rx.hstack(
                rx.cond(
                    done,
                    rx.icon("circle-check", size=14, color="var(--green-9)"),
                    rx.cond(current, rx.spinner(size="1"), rx.icon("circle", size=14, color="var(--gray-8)")),
                ),
                rx.text(STAGE_LABELS[stage], size="1", weight=rx.cond(current, "bold", "regular")),
                align="center",
                spacing="1",
                class_name=rx.cond(current, "stage current", "stage"),
                custom_attrs={"data-stage": stage.value},
            )
        )
    return rx.cond(
        SessionShared.starting,
        rx.flex(
            *steps,
            spacing="3",
            wrap="wrap",
            padding="0.5em",
            border_radius="8px",
            background="var(--gray-a2)",
            id="startup-progress",
            width="100%",
        ),
    )


def participants() -> rx.Component:
    return rx.vstack(
        rx.text("People", size="1", weight="bold", color_scheme="gray"),
        rx.foreach(
            SessionShared.participants,
            lambda p: rx.hstack(
                rx.box(
                    avatar(p.name),
                    rx.box(
                        width="9px",
                        height="9px",
                        border_radius="50%",
                        background=rx.match(p.presence, *PRESENCE_COLORS.items(), "gray"),
                        position="absolute",
                        bottom="0",
                        right="0",
                        border="2px solid var(--color-background)",
                    ),
                    position="relative",
                ),
                rx.text(p.name, size="2"),
                rx.text(rx.cond(p.typing, "typing…", p.presence), size="1", color_scheme="gray", class_name="presence"),
                align="center",
                spacing="2",
                class_name="participant",
                custom_attrs={"data-presence": p.presence, "data-name": p.name},
            ),
        ),
        spacing="2",
        width="100%",
        id="participants",
    )


def queue() -> rx.Component:
    return rx.cond(
        SessionShared.queue.length() > 0,
        rx.vstack(
            rx.text("Queue", size="1", weight="bold", color_scheme="gray"),
            rx.foreach(
                SessionShared.queue,
                lambda q: rx.hstack(
                    rx.badge(
                        rx.cond(q.position == 0, MessageStatus.RUNNING.value, "#" + q.position.to_string()),
                        color_scheme=rx.cond(q.position == 0, "blue", "gray"),
                        class_name="queue-position",
                    ),
                    rx.text(
                        q.author,
                        ": ",
                        q.text,
                        size="1",
                        overflow="hidden",
                        text_overflow="ellipsis",
                        white_space="nowrap",
                        flex="1",
                        min_width="0",
                    ),
                    rx.cond(
                        q.position > 0,
                        rx.icon_button(
                            rx.icon("x", size=12),
                            size="1",
                            variant="ghost",
                            on_click=SessionPage.cancel(q.message_id),
                            class_name="cancel-prompt",
                            aria_label="Cancel",
                        ),
                    ),
                    align="center",
                    spacing="2",
                    width="100%",
                    class_name="queued-prompt",
                    custom_attrs={"data-message": q.message_id},
                ),
            ),
            spacing="1",
            width="100%",
            id="queue",
        ),
    )


def artifacts() -> rx.Component:
    return rx.cond(
        SessionShared.artifacts.length() > 0,
        rx.vstack(
            rx.text("Artifacts", size="1", weight="bold", color_scheme="gray"),
            rx.foreach(
                SessionShared.artifacts,
                lambda a: rx.hstack(
                    rx.icon("git-commit-horizontal", size=14),
                    rx.code(a.meta, size="1"),
                    rx.text(a.text, size="1", overflow="hidden", text_overflow="ellipsis", white_space="nowrap"),
                    align="center",
                    spacing="1",
                    width="100%",
                    class_name="artifact",
                ),
            ),
            spacing="1",
            width="100%",
            id="artifacts",
        ),
    )


def timeline() -> rx.Component:
    has_older = rx.cond(
        SessionPage.older_loaded_from >= 0, SessionPage.older_loaded_from > 0, SessionShared.window_start > 0
    )
    # No gap between the containers (empty slots would leave holes): each entry keeps its own space
    # below it (components/timeline.py, ``ENTRY_SPACING``), so rows never touch or overlap.
    return rx.flex(
        rx.cond(
            has_older,
            rx.button(
                "Load older", variant="ghost", size="1", on_click=SessionPage.load_older, id="load-older", order="-2"
            ),
        ),
        rx.flex(rx.foreach(SessionPage.older, entry_view), direction="column", order="-1", width="100%"),
        *[
            rx.flex(
                rx.foreach(slot, entry_view),
                direction="column",
                width="100%",
                order=SessionShared.slot_order[i],
            )
            for i, slot in enumerate(SLOTS)
        ],
        rx.flex(rx.foreach(SessionShared.tail, entry_view), direction="column", width="100%", order="100"),
        direction="column",
        width="100%",
        id="timeline",
    )


def prompt_box() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.cond(
                SessionPage.notice != "",
                rx.callout(SessionPage.notice, icon="info", size="1", width="100%", id="notice"),
            ),
            rx.text_area(
                name="prompt",
                placeholder=rx.cond(
                    SessionShared.busy, "The agent is working: your prompt will queue", "Ask the agent…"
                ),
                rows="3",
                width="100%",
                id="prompt",
                disabled=SessionShared.archived,
                enter_key_submit=True,
            ),
            rx.hstack(
                rx.text(
                    "Enter sends, Shift+Enter for a new line, Esc stops, ? lists the shortcuts",
                    size="1",
                    color_scheme="gray",
                    display=rx.breakpoints(initial="none", sm="block"),
                ),
                rx.spacer(),
                rx.cond(
                    SessionShared.busy,
                    rx.button(
                        rx.icon("square", size=14),
                        "Stop",
                        color_scheme="red",
                        variant="soft",
                        type="button",
                        on_click=SessionPage.stop,
                        id="stop",
                    ),
                ),
                rx.button(rx.icon("send", size=14), "Send", type="submit", id="send", disabled=SessionShared.archived),
                width="100%",
                align="center",
            ),
            spacing="2",
            width="100%",
        ),
        on_submit=SessionPage.send,
        reset_on_submit=True,
        width="100%",
    )


def session_body() -> rx.Component:
    """What scrolls: the timeline, and beside it (below it on narrow screens) people, queue, artifacts."""
    return rx.vstack(
        rx.flex(
            rx.box(timeline(), rx.box(id="end"), flex="1", min_width="0", width="100%"),
            rx.vstack(
                participants(),
                queue(),
                artifacts(),
                width=rx.breakpoints(initial="100%", lg="240px"),
                flex_shrink="0",
                spacing="4",
                position=rx.breakpoints(initial="static", lg="sticky"),
                top="0",
                id="session-aside",
            ),
            direction=rx.breakpoints(initial="column-reverse", lg="row"),
            spacing="5",
            width="100%",
            align="start",
        ),
        changes_panel(),
        sandbox_log_panel(),
        spacing="4",
        width="100%",
    )


def session_page() -> rx.Component:
    # The sidebar, then the session: its header (and what the header says now: spend, start-up,
    # failure), the timeline scrolling on its own, and the prompt box always in view below it.
    return app_shell(
        session_sidebar(),
        rx.cond(
            SessionPage.missing,
            rx.box(rx.callout("There is no such session.", icon="circle-x", color_scheme="red"), padding="1.5em",
                   flex="1"),
            main_column(
                rx.vstack(
                    header(preview_buttons()),
                    spend_notice(),
                    create_dialog(),
                    startup_progress(),
                    rx.cond(
                        SessionShared.status == SessionStatus.FAILED.value,
                        rx.callout(
                            SessionShared.status_reason, icon="circle-x", color_scheme="red", width="100%",
                            id="failure"
                        ),
                    ),
                    spacing="2",
                    width="100%",
                ),
                session_body(),
                prompt_box(),
            ),
        ),
        shortcuts_script(),
    )
