"""Pull requests on the session page: the card in the timeline, the one in the header, and the
"Create pull request" button with its dialog.

The cards render timeline entries (``live/github_entries.py`` says what each
field holds), so the header and the timeline show the same PR the same way and
both change when a webhook says it was merged or closed. Links open GitHub in a
new tab; their addresses were checked to be web addresses when folded.
"""

from __future__ import annotations

import reflex as rx

from openinspect_app.components.changes import verify_badge
from openinspect_app.components.github_mark import github_mark
from openinspect_app.components.status import PULL_REQUEST_COLORS, status_badge
from openinspect_app.live.github_entries import PR_CLOSED, PR_DRAFT, PR_MERGED
from openinspect_app.state.pull_request import MAX_TITLE_CHARS, PullRequestDialog
from openinspect_app.state.session import SessionShared


def state_icon(status: rx.Var[str], size: int = 16) -> rx.Component:
    # One icon per state, coloured like its badge (GitHub's own convention).
    return rx.match(
        status,
        (PR_MERGED, rx.icon("git-merge", size=size, color="var(--purple-11)")),
        (PR_CLOSED, rx.icon("git-pull-request-closed", size=size, color="var(--red-11)")),
        (PR_DRAFT, rx.icon("git-pull-request-draft", size=size, color="var(--gray-11)")),
        rx.icon("git-pull-request", size=size, color="var(--green-11)"),
    )


def state_badge(entry: rx.Var, **props: object) -> rx.Component:
    return status_badge(entry.status, PULL_REQUEST_COLORS, **props)


def pull_request_card(entry: rx.Var) -> rx.Component:
    """A PR in the timeline: number, title (a link to it), state, who GitHub shows as author and for whom."""
    return rx.card(
        rx.hstack(
            state_icon(entry.status),
            rx.link(
                rx.text(entry.title, as_="span", weight="bold"),
                rx.text(" ", entry.meta, as_="span", color_scheme="gray"),
                href=entry.url,
                is_external=True,
                size="2",
                class_name="pr-link",
            ),
            state_badge(entry, variant="soft", size="1", class_name="pr-state"),
            verify_badge(size="1"),  # the session's newest verify.sh outcome, where the PR is judged
            align="center",
            spacing="2",
            wrap="wrap",
        ),
        rx.hstack(
            github_mark(12),
            rx.text(entry.author, weight="medium", class_name="pr-author"),
            rx.text(entry.detail, class_name="pr-opened-by"),
            rx.text("·"),
            rx.code(entry.text, size="1", variant="ghost", class_name="pr-branches"),
            align="center",
            spacing="1",
            wrap="wrap",
            font_size="12px",
            color="var(--gray-11)",
            margin_top="0.35em",
        ),
        width="100%",
        variant="surface",
        class_name="entry-pull-request pr-card",
        custom_attrs={"data-state": entry.status, "data-number": entry.meta},
    )


def header_pull_request() -> rx.Component:
    """The session's newest PR, beside its title: live for every viewer like the timeline."""
    return rx.foreach(
        SessionShared.pull_request,
        lambda pr: rx.hstack(
            state_icon(pr.status, size=14),
            rx.link(
                pr.meta, " ", pr.title, href=pr.url, is_external=True, size="2", weight="medium",
                overflow="hidden", text_overflow="ellipsis", white_space="nowrap", min_width="0",
            ),
            state_badge(pr, variant="soft", size="1"),
            verify_badge(size="1"),
            align="center",
            spacing="2",
            min_width="0",
            id="header-pull-request",
            custom_attrs={"data-state": pr.status},
        ),
    )


def create_button() -> rx.Component:
    return rx.cond(
        SessionShared.can_open_pull_request,
        rx.button(
            rx.icon("git-pull-request-arrow", size=14),
            "Create pull request",
            size="1",
            on_click=PullRequestDialog.start,
            id="create-pr",
        ),
    )


def _form() -> rx.Component:
    # Uncontrolled fields: typing sends nothing (an event from a linked tab costs every viewer an update);
    # the dialog mounts them with the draft once it is written.
    return rx.form(
        rx.vstack(
            rx.text("Title", as_="label", size="2", weight="bold"),
            rx.input(name="title", default_value=PullRequestDialog.draft_title, required=True,
                     max_length=MAX_TITLE_CHARS, width="100%", id="pr-title"),
            rx.text("Description", as_="label", size="2", weight="bold"),
            rx.text_area(name="body", default_value=PullRequestDialog.draft_body, rows="12", width="100%",
                         resize="vertical", font_family="var(--code-font-family)", font_size="13px", id="pr-body"),
            rx.text(rx.checkbox(name="draft", id="pr-draft"), " Open as a draft", as_="label", size="2",
                    display="flex", align_items="center", gap="0.5em"),
            rx.cond(
                PullRequestDialog.error != "",
                rx.callout(PullRequestDialog.error, icon="triangle-alert", color_scheme="red", size="1",
                           width="100%", id="pr-error"),
            ),
            rx.hstack(
                rx.dialog.close(rx.button("Cancel", type="button", variant="soft", color_scheme="gray")),
                rx.button("Create", type="submit", loading=PullRequestDialog.submitting, id="pr-submit"),
                justify="end",
                width="100%",
                spacing="2",
            ),
            spacing="2",
            width="100%",
        ),
        on_submit=PullRequestDialog.create,
        reset_on_submit=False,
        width="100%",
    )


def create_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Create pull request"),
            rx.dialog.description(
                rx.code(SessionShared.work_branch), " into ", rx.text.strong(SessionShared.github_repo),
                ", as you on GitHub (or by the App for you when you have not connected your account).",
                size="2", color_scheme="gray", margin_bottom="1em",
            ),
            rx.cond(
                PullRequestDialog.loading,
                rx.center(rx.spinner(size="3"), rx.text("Drafting…", size="2", color_scheme="gray"),
                          padding="2em", gap="2", id="pr-drafting"),
                _form(),
            ),
            max_width="680px",
            id="pr-dialog",
        ),
        open=PullRequestDialog.opened,
        on_open_change=PullRequestDialog.set_opened,
    )
