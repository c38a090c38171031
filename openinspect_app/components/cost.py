"""The session header's cost and title pieces, each a function another layout can place.

* :func:`editable_title` — the title, with a pencil that turns it into an inline form;
* :func:`session_cost` — the session's tokens and cost, its spend limit, and the limit's editor;
* :func:`spend_notice` — why queued prompts wait, while the limit holds them;
* :func:`prompt_cost` — one prompt's tokens and cost (its timeline row), live while it runs.

All read the session's shared state (``SessionShared``, filled by the live projection), so
every viewer sees the same numbers at once; the editors are each viewer's own (``SessionEdits``).
Element ids are stable: the end-to-end tests find them.
"""

from __future__ import annotations

import reflex as rx

from openinspect_app.state.session import SessionShared
from openinspect_app.state.session_edits import SessionEdits


def _notice() -> rx.Component:
    return rx.cond(SessionEdits.edit_notice != "",
                   rx.text(SessionEdits.edit_notice, size="1", color="var(--red-11)", id="edit-notice"))


def editable_title(size: str = "5") -> rx.Component:
    """The title as a heading (pencil to edit), or the inline form that changes it for everyone."""
    return rx.cond(
        SessionEdits.editing_title,
        rx.form(
            rx.hstack(
                rx.input(name="title", default_value=SessionShared.title, max_length=200, size="2", id="title-input",
                         auto_focus=True, min_width="12em"),
                *_save_or_cancel("title-save"),
                align="center",
                spacing="2",
                wrap="wrap",
            ),
            on_submit=SessionEdits.rename,
        ),
        rx.hstack(
            rx.heading(SessionShared.title, size=size, id="session-title"),  # type: ignore[arg-type]
            rx.icon_button(rx.icon("pencil", size=12), size="1", variant="ghost", color_scheme="gray",
                           on_click=SessionEdits.edit_title, id="title-edit", aria_label="Rename the session",
                           title="Rename the session"),
            align="center",
            spacing="1",
        ),
    )


def _save_or_cancel(save_id: str) -> tuple[rx.Component, ...]:
    """The end of an inline edit: Save (submits the form), Cancel, and what the last try said."""
    return (rx.button("Save", type="submit", size="1", id=save_id),
            rx.button("Cancel", type="button", size="1", variant="soft", color_scheme="gray",
                      on_click=SessionEdits.close_editor),
            _notice())


def session_cost() -> rx.Component:
    """``12,345 tokens · $0.0123 · limit $1.00`` with an edit control for the limit."""
    summary = rx.hstack(
        rx.icon("coins", size=14),
        rx.text(SessionShared.cost_label, size="1", id="session-cost"),
        rx.text("·", size="1", color_scheme="gray"),
        rx.text(SessionShared.spend_limit_label, size="1", color_scheme="gray", id="spend-limit"),
        rx.icon_button(rx.icon("pencil", size=10), size="1", variant="ghost", color_scheme="gray",
                       on_click=SessionEdits.edit_limit, id="spend-limit-edit", aria_label="Change the spend limit",
                       title="Change the spend limit"),
        align="center",
        spacing="1",
        color=rx.cond(SessionShared.spend_held, "var(--red-11)", "var(--gray-11)"),
    )
    editor = rx.form(
        rx.hstack(
            rx.text("Spend limit (USD)", size="1"),
            rx.input(name="limit", default_value=SessionShared.spend_limit_own, placeholder="default", size="1",
                     width="7em", id="spend-limit-input", auto_focus=True),
            *_save_or_cancel("spend-limit-save"),
            align="center",
            spacing="2",
            wrap="wrap",
        ),
        on_submit=SessionEdits.set_spend_limit,
    )
    return rx.box(rx.cond(SessionEdits.editing_limit, editor, summary), id="session-spend")


def spend_notice() -> rx.Component:
    return rx.cond(
        SessionShared.spend_held,
        rx.callout(SessionShared.spend_notice, icon="octagon-pause", color_scheme="amber", size="1", width="100%",
                   id="spend-notice"),
    )


def prompt_cost(entry: rx.Var) -> rx.Component:
    """The prompt's tokens and cost: the live sum while it runs, what its end recorded otherwise."""
    live = SessionShared.prompt_costs[entry.message_id]  # type: ignore[index]
    return rx.text(rx.cond(live, live, entry.meta), size="1", color_scheme="gray", class_name="prompt-cost")
