"""The sessions page: every session at a glance, and "new session" (from a path or URL, or, with the
GitHub App, from a picked repository)."""

from __future__ import annotations

import reflex as rx

from openinspect_app.components.layout import page
from openinspect_app.components.repo_picker import repo_picker
from openinspect_app.components.source import source_badge
from openinspect_app.components.status import SESSION_COLORS, status_badge
from openinspect_app.state.repo_picker import RepoPicker
from openinspect_app.state.sessions import REFRESH_SECONDS, SessionRow, SessionsPage


def local_fields() -> rx.Component:
    """Without the GitHub App: the repository as a path or URL, a branch by name."""
    return rx.flex(
        rx.input(
            name="repo_url",
            placeholder="Repository: a path, file:// or https:// URL",
            required=True,
            flex="3",
            min_width="14em",
            id="new-repo",
        ),
        rx.input(name="branch", placeholder="Branch (default)", flex="1", min_width="8em", id="new-branch"),
        rx.input(name="title", placeholder="Title (optional)", flex="2", min_width="10em", id="new-title"),
        spacing="2",
        wrap="wrap",
        width="100%",
    )


def github_fields() -> rx.Component:
    """With the GitHub App: one of its installations' repositories, picked, and one of its branches."""
    return rx.vstack(
        repo_picker(),
        rx.input(name="title", placeholder="Title (optional)", width="100%", id="new-title"),
        spacing="2",
        width="100%",
    )


def new_session_form() -> rx.Component:
    return rx.card(
        rx.form(
            rx.vstack(
                rx.heading("New session", size="3"),
                rx.cond(RepoPicker.github, github_fields(), local_fields()),
                rx.text_area(
                    name="prompt", placeholder="First prompt (optional)", width="100%", rows="2", id="new-prompt"
                ),
                rx.cond(
                    SessionsPage.form_error != "",
                    rx.callout(
                        SessionsPage.form_error, icon="triangle-alert", color_scheme="red", size="1", width="100%"
                    ),
                ),
                rx.cond(
                    RepoPicker.github,
                    rx.button("Start session", type="submit", loading=SessionsPage.creating, id="create-session",
                              disabled=RepoPicker.chosen == ""),
                    rx.button("Start session", type="submit", loading=SessionsPage.creating, id="new-submit"),
                ),
                spacing="2",
                width="100%",
            ),
            on_submit=SessionsPage.create,
            reset_on_submit=False,
        ),
        width="100%",
    )


def session_card(row: rx.Var[SessionRow]) -> rx.Component:
    return rx.link(
        rx.card(
            rx.flex(
                rx.vstack(
                    rx.text(row.title, weight="bold", size="3", class_name="session-title"),
                    rx.text(
                        row.repo,
                        rx.cond(row.branch != "", " @ " + row.branch, ""),
                        size="1",
                        color_scheme="gray",
                        word_break="break-all",
                    ),
                    spacing="1",
                    flex="1",
                    min_width="0",
                ),
                rx.vstack(
                    rx.hstack(
                        source_badge(row.source, class_name="session-source"),
                        status_badge(row.status, SESSION_COLORS, class_name="session-status"),
                        rx.cond(row.pending > 0, rx.badge(row.pending.to_string() + " queued", variant="outline")),
                        spacing="1",
                    ),
                    rx.moment(row.last_activity, from_now=True, font_size="12px", color="var(--gray-11)"),
                    rx.cond(
                        row.people != "",
                        rx.hstack(
                            rx.icon("users", size=12), rx.text(row.people, size="1"), align="center", spacing="1"
                        ),
                    ),
                    align="end",
                    spacing="1",
                ),
                justify="between",
                gap="3",
                wrap="wrap",
            ),
            width="100%",
        ),
        href="/sessions/" + row.id,
        underline="none",
        color="inherit",
        width="100%",
        class_name="session-row",
    )


def sessions_page() -> rx.Component:
    return page(
        rx.vstack(
            new_session_form(),
            rx.hstack(
                rx.heading("Sessions", size="5"),
                rx.spacer(),
                rx.segmented_control.root(
                    rx.segmented_control.item("Active", value="active"),
                    rx.segmented_control.item("Archived", value="archived"),
                    value=rx.cond(SessionsPage.show_archived, "archived", "active"),
                    on_change=SessionsPage.set_filter,
                    id="filter",
                ),
                width="100%",
                align="center",
            ),
            rx.cond(
                SessionsPage.rows.length() > 0,
                rx.vstack(rx.foreach(SessionsPage.rows, session_card), width="100%", spacing="2"),
                rx.text("No sessions here yet.", color_scheme="gray", class_name="empty"),
            ),
            rx.moment(interval=REFRESH_SECONDS * 1000, on_change=SessionsPage.refresh, display="none"),
            spacing="4",
            width="100%",
        ),
    )
