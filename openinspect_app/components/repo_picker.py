"""The new-session form's GitHub repository picker: a search box, the matching repositories, then the
chosen one with a select of its branches (``state/repo_picker.py`` holds what it shows).

The search box is uncontrolled and debounced: the page sends its value once
typing pauses, not per keystroke. The branch select is a native ``<select>``
(named ``branch``, so the form posts it like any field), styled like the
Radix inputs around it.
"""

from __future__ import annotations

import reflex as rx

from openinspect_app.components.github_mark import github_mark
from openinspect_app.state.repo_picker import SEARCH_DEBOUNCE_MS, RepoOption, RepoPicker


def _option(repo: rx.Var[RepoOption]) -> rx.Component:
    return rx.box(
        rx.hstack(
            rx.cond(repo.private, rx.icon("lock", size=14, color="var(--amber-11)"),
                    rx.icon("book-marked", size=14, color="var(--gray-11)")),
            rx.text(repo.full_name, size="2", weight="medium"),
            rx.cond(repo.private, rx.badge("private", variant="outline", color_scheme="amber", size="1")),
            align="center",
            spacing="2",
        ),
        rx.cond(
            repo.description != "",
            rx.text(repo.description, size="1", color_scheme="gray", margin_left="22px"),
        ),
        on_click=RepoPicker.choose(repo.full_name),
        role="option",
        padding="0.45em 0.7em",
        cursor="pointer",
        border_bottom="1px solid var(--gray-a3)",
        _hover={"background": "var(--accent-a3)"},
        class_name="repo-option",
        custom_attrs={"data-repo": repo.full_name},
    )


def _search() -> rx.Component:
    return rx.vstack(
        rx.input(
            rx.input.slot(rx.icon("search", size=14)),
            placeholder="Find a repository of the GitHub App's installations…",
            on_change=RepoPicker.search.debounce(SEARCH_DEBOUNCE_MS),
            width="100%",
            auto_complete="off",
            id="repo-search",
        ),
        rx.cond(
            RepoPicker.options.length() > 0,
            rx.box(
                rx.foreach(RepoPicker.options, _option),
                role="listbox",
                width="100%",
                max_height="15em",
                overflow_y="auto",
                border="1px solid var(--gray-a5)",
                border_radius="var(--radius-2)",
                id="repo-options",
            ),
            rx.text("No repository matches. The App sees only the repositories it was installed on.",
                    size="1", color_scheme="gray", id="repo-none"),
        ),
        spacing="1",
        width="100%",
    )


def _branch_select() -> rx.Component:
    return rx.el.select(
        rx.foreach(RepoPicker.branches, lambda b: rx.el.option(b, value=b)),
        name="branch",
        value=RepoPicker.branch,
        on_change=RepoPicker.set_branch,
        disabled=RepoPicker.loading_branches,
        aria_label="Branch",
        id="branch-select",
        height="var(--space-6)",
        min_width="10em",
        padding_x="0.5em",
        border="1px solid var(--gray-a7)",
        border_radius="var(--radius-2)",
        background="var(--color-surface)",
        color="var(--gray-12)",
        font_size="var(--font-size-2)",
    )


def _chosen() -> rx.Component:
    return rx.flex(
        rx.hstack(
            github_mark(16),
            rx.text(RepoPicker.chosen, weight="bold", size="2", id="repo-chosen"),
            rx.button("Change", type="button", variant="ghost", size="1", on_click=RepoPicker.change,
                      id="repo-change"),
            align="center",
            spacing="2",
        ),
        rx.hstack(
            rx.text("Branch", size="2", color_scheme="gray"),
            rx.cond(RepoPicker.loading_branches, rx.spinner(size="1")),
            _branch_select(),
            align="center",
            spacing="2",
        ),
        gap="3",
        wrap="wrap",
        align="center",
        justify="between",
        width="100%",
        padding="0.5em 0.7em",
        border="1px solid var(--gray-a5)",
        border_radius="var(--radius-2)",
    )


def repo_picker() -> rx.Component:
    return rx.vstack(
        rx.cond(RepoPicker.chosen != "", _chosen(), _search()),
        rx.cond(
            RepoPicker.error != "",
            rx.callout(RepoPicker.error, icon="triangle-alert", color_scheme="red", size="1", width="100%",
                       id="repo-error"),
        ),
        spacing="2",
        width="100%",
    )
