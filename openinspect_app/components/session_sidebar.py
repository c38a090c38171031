"""The session page's sidebar (state: ``state/sidebar.py``): sessions grouped as needing attention,
running and recent; mine or everyone's; searchable. One click (or Alt+↑/↓, ``[``/``]``:
``components/shortcuts.py``) moves to another session.

At desktop width it is a column beside the session; below ``md`` (48em) it is a drawer that slides
in over the page (the header's "Sessions" button opens it), with a backdrop that closes it. It is
one element either way (CSS moves it), so its ids are never doubled.
"""

from __future__ import annotations

import reflex as rx

from openinspect_app.components.status import SESSION_COLORS, status_badge
from openinspect_app.routes import SESSIONS
from openinspect_app.state.session import SessionShared
from openinspect_app.state.sidebar import TICK_SECONDS, SessionSidebar, SidebarRow

SIDEBAR_WIDTH = "17rem"
PHONE = "@media (max-width: 47.99em)"  # below Radix's md breakpoint (48em)
DESKTOP = "@media (min-width: 48em)"
GROUPS = (
    ("attention", "Needs attention", SessionSidebar.attention_rows, "circle-alert"),
    ("running", "Running", SessionSidebar.running_rows, "loader"),
    ("recent", "Recent", SessionSidebar.recent_rows, "clock"),
)


def sidebar_item(row: rx.Var[SidebarRow]) -> rx.Component:
    current = row.id == SessionShared.session_id
    return rx.link(
        rx.vstack(
            rx.text(row.title, size="2", weight="medium", overflow="hidden", text_overflow="ellipsis",
                    white_space="nowrap", width="100%", class_name="sidebar-session-title"),
            rx.hstack(
                # The open session's status as its header shows it (live), the others' as last read.
                status_badge(rx.cond(current, SessionShared.status, row.status), SESSION_COLORS, size="1",
                             variant="soft", class_name="sidebar-status"),
                rx.text(row.repo, rx.cond(row.branch != "", " @ " + row.branch, ""), size="1", color_scheme="gray",
                        overflow="hidden", text_overflow="ellipsis", white_space="nowrap", flex="1", min_width="0"),
                align="center",
                spacing="2",
                width="100%",
            ),
            rx.hstack(
                rx.moment(row.last_activity, from_now=True, font_size="11px", color="var(--gray-10)"),
                rx.cond(row.pending > 0, rx.text(row.pending.to_string() + " queued", size="1", color_scheme="gray")),
                spacing="2",
            ),
            spacing="1",
            width="100%",
        ),
        href="/sessions/" + row.id,
        underline="none",
        color="inherit",
        display="block",
        width="100%",
        padding="0.5em 0.6em",
        border_radius="var(--radius-3)",
        background=rx.cond(current, "var(--accent-a4)", "transparent"),
        _hover={"background": rx.cond(current, "var(--accent-a5)", "var(--gray-a3)")},
        class_name="sidebar-session",
        custom_attrs={"data-session": row.id, "data-current": rx.cond(current, "true", "false"),
                      "data-group": row.group, "aria-current": rx.cond(current, "page", "false")},
    )


def _group(key: str, label: str, rows: rx.Var[list[SidebarRow]], icon: str) -> rx.Component:
    return rx.cond(
        rows.length() > 0,
        rx.vstack(
            rx.hstack(
                rx.icon(icon, size=12),
                rx.text(label, size="1", weight="bold"),
                rx.text(rows.length().to_string(), size="1"),
                color="var(--gray-11)",
                align="center",
                spacing="1",
                padding_x="0.6em",
            ),
            rx.foreach(rows, sidebar_item),
            spacing="1",
            align="stretch",
            width="100%",
            id=f"sidebar-{key}",
            class_name="sidebar-group",
        ),
    )


def session_sidebar() -> rx.Component:
    return rx.fragment(
        rx.cond(
            SessionSidebar.drawer_open,
            rx.box(on_click=SessionSidebar.close_drawer, class_name="sidebar-backdrop", position="fixed", inset="0",
                   background="var(--black-a8)", z_index="29", display=rx.breakpoints(initial="block", md="none")),
        ),
        rx.el.nav(
            rx.vstack(
                rx.hstack(
                    rx.text("Sessions", size="2", weight="bold"),
                    rx.spacer(),
                    rx.tooltip(
                        rx.link(rx.icon("plus", size=16), href=SESSIONS, color="inherit", aria_label="New session",
                                id="sidebar-new"),
                        content="New session",
                    ),
                    rx.icon_button(rx.icon("x", size=16), variant="ghost", size="1", color_scheme="gray",
                                   on_click=SessionSidebar.close_drawer, aria_label="Close the sessions list",
                                   display=rx.breakpoints(initial="inline-flex", md="none"), id="sidebar-close"),
                    align="center",
                    width="100%",
                    padding_x="0.6em",
                ),
                rx.segmented_control.root(
                    rx.segmented_control.item("Mine", value="mine"),
                    rx.segmented_control.item("Everyone's", value="all"),
                    value=SessionSidebar.scope,
                    on_change=SessionSidebar.set_scope,
                    size="1",
                    width="100%",
                    id="sidebar-scope",
                ),
                rx.input(
                    rx.input.slot(rx.icon("search", size=14)),
                    placeholder="Search sessions",
                    value=SessionSidebar.query,
                    on_change=SessionSidebar.search.debounce(250),
                    size="2",
                    width="100%",
                    id="sidebar-search",
                    type="search",
                    aria_label="Search sessions",
                ),
                *[_group(*group) for group in GROUPS],
                rx.cond(
                    SessionSidebar.rows.length() == 0,
                    rx.text(rx.cond(SessionSidebar.query != "", "No session matches.", "No sessions here yet."),
                            size="1", color_scheme="gray", padding_x="0.6em", id="sidebar-empty"),
                ),
                rx.moment(interval=TICK_SECONDS * 1000, on_change=SessionSidebar.tick, display="none"),
                spacing="3",
                align="stretch",
                width="100%",
            ),
            id="session-sidebar",
            aria_label="Sessions",
            class_name=rx.cond(SessionSidebar.drawer_open, "session-sidebar open", "session-sidebar"),
            style={
                "width": SIDEBAR_WIDTH,
                "flex_shrink": "0",
                "overflow_y": "auto",
                "padding": "0.75em 0.5em",
                "border_right": "1px solid var(--gray-a5)",
                "background": "var(--color-panel-solid)",
                DESKTOP: {"position": "relative", "height": "100%"},
                # A drawer: off to the left until opened, over the page, as tall as the screen.
                PHONE: {"position": "fixed", "top": "0", "bottom": "0", "left": "0", "z_index": "30",
                        "width": "min(85vw, 20rem)", "transform": "translateX(-105%)", "visibility": "hidden",
                        "transition": "transform 0.2s ease, visibility 0.2s", "box_shadow": "var(--shadow-5)",
                        "&.open": {"transform": "none", "visibility": "visible"}},
            },
        ),
    )
