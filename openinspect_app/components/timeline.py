"""The session timeline: how each kind of entry looks.

Agent text is rendered as markdown *without* raw HTML (``use_raw=False``), and
people's prompts as plain text, so nothing in either can become markup that
runs. Tool calls and script output are folded by default (``<details>``), which
needs no state round trip to open.
"""

from __future__ import annotations

import reflex as rx

from openinspect_app.components.cost import prompt_cost
from openinspect_app.components.pull_request import pull_request_card
from openinspect_app.components.screenshots import screenshot_entry
from openinspect_app.components.status import ENTRY_COLORS, status_badge
from openinspect_app.live.artifact_entries import SCREENSHOT
from openinspect_app.live.github_entries import PULL_REQUEST, PUSH

ENTRY_SPACING = "0.7rem"  # below every row: rows sit in several containers, so no container gap can do it


def entry_status(status: rx.Var[str]) -> rx.Component:
    return status_badge(status, ENTRY_COLORS, variant="soft", size="1", class_name="entry-status")


def avatar(name: rx.Var[str]) -> rx.Component:
    return rx.avatar(fallback=name.to(str)[0:1].upper(), size="2", radius="full")


def _prompt(entry: rx.Var) -> rx.Component:
    return rx.card(
        rx.hstack(
            avatar(entry.author),
            rx.text(entry.author, weight="bold", size="2", class_name="entry-author"),
            entry_status(entry.status),
            prompt_cost(entry),
            align="center",
            spacing="2",
            wrap="wrap",
        ),
        rx.text(entry.text, size="3", white_space="pre-wrap", class_name="entry-text", margin_top="0.5em"),
        width="100%",
        variant="surface",
    )


def _text(entry: rx.Var) -> rx.Component:
    return rx.box(
        rx.markdown(entry.text, use_raw=False), class_name="entry-text agent-text", width="100%", overflow_x="auto"
    )


def _folded(summary: rx.Component, *body: rx.Component) -> rx.Component:
    # The chevron says the row unfolds (the browser's own marker is hidden) and turns when it is open.
    return rx.el.details(
        rx.el.summary(
            rx.hstack(rx.icon("chevron-right", size=14, class_name="fold-chevron", flex_shrink="0"), summary,
                      align="center", spacing="1", min_width="0", width="100%"),
            cursor="pointer",
            list_style="none",
            class_name="fold-summary",
            style={"&::-webkit-details-marker": {"display": "none"}},
        ),
        rx.box(*body, padding_top="0.5em", class_name="fold-body"),
        width="100%",
        style={"& .fold-chevron": {"transition": "transform 0.15s ease", "color": "var(--gray-10)"},
               "&[open] > summary .fold-chevron": {"transform": "rotate(90deg)"}},
    )


def _code(text: rx.Var[str]) -> rx.Component:
    return rx.el.pre(
        text,
        font_size="12px",
        white_space="pre-wrap",
        word_break="break-word",
        background="var(--gray-a3)",
        padding="0.5em",
        border_radius="6px",
        max_height="24em",
        overflow_y="auto",
        margin="0",
    )


def _tool(entry: rx.Var) -> rx.Component:
    return rx.box(
        _folded(
            rx.hstack(
                rx.icon("wrench", size=14),
                rx.code(entry.tool, class_name="entry-tool"),
                rx.text(
                    entry.title,
                    size="2",
                    color_scheme="gray",
                    overflow="hidden",
                    text_overflow="ellipsis",
                    white_space="nowrap",
                    min_width="0",
                    flex="0 1 auto",
                ),
                entry_status(entry.status),
                align="center",
                spacing="2",
                min_width="0",
            ),
            rx.text("Input", size="1", weight="bold"),
            _code(entry.detail),
            rx.cond(entry.output != "", rx.fragment(rx.text("Output", size="1", weight="bold"), _code(entry.output))),
        ),
        class_name="entry-tool-call",
        width="100%",
        border_left="3px solid var(--gray-a6)",
        padding_left="0.6em",
    )


def _script(entry: rx.Var) -> rx.Component:
    return rx.box(
        _folded(
            rx.hstack(
                rx.icon("terminal", size=14),
                rx.code(".openinspect/", entry.detail, ".sh"),
                rx.text(entry.meta, size="1", color_scheme="gray"),
                rx.cond(entry.status != "", entry_status(entry.status)),
                rx.cond(entry.output != "", rx.text("output", size="1", color_scheme="gray",
                                                    class_name="fold-hint")),
                align="center",
                spacing="2",
                wrap="wrap",
            ),
            _code(entry.output),
        ),
        class_name="entry-script",
        width="100%",
    )


def _line(entry: rx.Var, icon: str, color: str) -> rx.Component:
    return rx.hstack(
        rx.icon(icon, size=14),
        rx.text(entry.text, size="1"),
        rx.text(entry.meta, size="1"),
        color=f"var(--{color}-11)",
        align="center",
        spacing="2",
        class_name="entry-note",
    )


def _callout(entry: rx.Var, color: str, icon: str, class_name: str) -> rx.Component:
    return rx.callout.root(
        rx.callout.icon(rx.icon(icon)),
        rx.callout.text(
            entry.text,
            # A pull request that could not be opened: GitHub's compare page lets a person open it by hand.
            rx.cond(entry.url != "", rx.fragment(" ", rx.link("Compare and open it on GitHub", href=entry.url,
                                                               is_external=True, class_name="compare-link"))),
        ),
        color_scheme=color, size="1", width="100%", class_name=class_name,
    )


def _artifact(entry: rx.Var) -> rx.Component:
    return rx.hstack(
        rx.icon("git-commit-horizontal", size=16),
        rx.code(entry.meta),
        rx.text(entry.text, size="2"),
        rx.text("by ", entry.author, size="1", color_scheme="gray"),
        align="center",
        spacing="2",
        class_name="entry-artifact",
    )


def entry_view(entry: rx.Var) -> rx.Component:
    return rx.box(
        rx.match(
            entry.kind,
            ("prompt", _prompt(entry)),
            ("text", _text(entry)),
            ("tool", _tool(entry)),
            ("script", _script(entry)),
            ("step", _line(entry, "coins", "gray")),
            ("warning", _callout(entry, "amber", "triangle-alert", "entry-warning")),
            ("error", _callout(entry, "red", "circle-x", "entry-error")),
            ("artifact", _artifact(entry)),
            (SCREENSHOT, screenshot_entry(entry)),
            (PULL_REQUEST, pull_request_card(entry)),
            (PUSH, _line(entry, "git-branch", "green")),
            _line(entry, "info", "gray"),
        ),
        key=entry.key,
        custom_attrs={"data-kind": entry.kind, "data-seq": entry.seq},
        class_name="timeline-entry",
        width="100%",
        margin_bottom=ENTRY_SPACING,
    )
