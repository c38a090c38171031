"""The Changes panel and the verify badge of the session page (state: ``state/changes.py``,
``SessionShared.verify``).

:func:`changes_panel` is a section of its own (a toggle with the session's newest
summary, then the file list and each file's diff), so the page places it wherever its
layout wants. :func:`verify_badge` shows the newest verify.sh outcome; the header and
the pull request card use it. Diffs arrive as HTML the server escaped and highlighted
(``components/diff_html.py``); nothing else here is HTML.
"""

from __future__ import annotations

import reflex as rx
from reflex.vars.base import LiteralVar, Var, VarData
from reflex_base.utils.imports import ImportVar

from openinspect_app.components.diff_html import STYLESHEET
from openinspect_app.state.changes import SPLIT, UNIFIED, ChangesPanel, FileView
from openinspect_app.state.session import SessionShared

VERIFY_COLORS = {"passed": "green", "failed": "red", "timed_out": "orange"}
VERIFY_ICONS = {"passed": "circle-check", "failed": "circle-x", "timed_out": "timer-off"}
STATUS_COLORS = {"A": "green", "D": "red", "R": "blue", "C": "blue", "T": "amber"}


def verify_badge(**props: object) -> rx.Component:
    """The newest verify.sh outcome (nothing before verify.sh has run)."""
    return rx.cond(
        SessionShared.verify != "",
        rx.tooltip(
            rx.badge(
                rx.match(SessionShared.verify,
                         *((outcome, rx.icon(icon, size=12)) for outcome, icon in VERIFY_ICONS.items()),
                         rx.icon("circle", size=12)),
                rx.match(SessionShared.verify, ("passed", "verify passed"), ("failed", "verify failed"),
                         ("timed_out", "verify timed out"), "verify"),
                color_scheme=rx.match(SessionShared.verify, *VERIFY_COLORS.items(), "gray"),
                variant="soft",
                class_name="verify-badge",
                custom_attrs={"data-outcome": SessionShared.verify},
                **props,
            ),
            content=".openinspect/verify.sh: " + SessionShared.verify_detail,
        ),
    )


class ChangesCue(rx.Fragment):
    """Renders nothing; tells the panel whenever the session's ``changes_seq`` moves (a React effect on it:
    Reflex's ``on_mount`` runs once per mount, and a shared var changing mounts nothing)."""

    def add_hooks(self) -> list[str | Var]:
        seq = SessionShared.changes_seq
        # The event chain Reflex builds for a trigger (the same JS an on_mount would call).
        chain = LiteralVar.create(rx.box(on_mount=ChangesPanel.changed(seq)).event_triggers["on_mount"])
        return [Var(_js_expr=f"useEffect(() => {{ ({chain!s})(); }}, [{seq!s}]);",
                    _var_data=VarData.merge(seq._get_all_var_data(), chain._get_all_var_data(),
                                            VarData(imports={"react": [ImportVar(tag="useEffect")]})))]


def _file(view: FileView) -> rx.Component:
    return rx.box(
        rx.hstack(
            rx.badge(view.letter, color_scheme=rx.match(view.letter, *STATUS_COLORS.items(), "gray"),
                     variant="soft", size="1", title=view.status),
            rx.code(view.path, size="1", variant="ghost", word_break="break-all", class_name="changed-path"),
            rx.cond(view.old_path != "", rx.text("← ", view.old_path, size="1", color_scheme="gray")),
            rx.spacer(),
            rx.text("+", view.additions, size="1", color="var(--green-11)", class_name="additions"),
            rx.text("-", view.deletions, size="1", color="var(--red-11)", class_name="deletions"),
            align="center",
            spacing="2",
            width="100%",
            padding="0.35em 0.6em",
            background="var(--gray-a2)",
        ),
        rx.cond(
            view.html != "",
            rx.box(rx.html(view.html), overflow_x="auto", width="100%", class_name="file-diff"),
            rx.hstack(
                rx.text(view.note, size="1", color_scheme="gray", class_name="fold-note"),
                rx.cond(view.foldable, rx.button("Show diff", size="1", variant="soft",
                                                 on_click=ChangesPanel.expand(view.path), class_name="show-diff")),
                align="center",
                spacing="2",
                padding="0.35em 0.6em",
            ),
        ),
        width="100%",
        border="1px solid var(--gray-a5)",
        border_radius="var(--radius-2)",
        overflow="hidden",
        class_name="changed-file",
        custom_attrs={"data-path": view.path},
    )


def _mode_toggle() -> rx.Component:
    return rx.segmented_control.root(
        rx.segmented_control.item("Unified", value=UNIFIED, id="changes-unified"),
        rx.segmented_control.item("Split", value=SPLIT, id="changes-split"),
        value=ChangesPanel.mode,
        on_change=ChangesPanel.set_mode,
        size="1",
        id="changes-mode",
    )


def changes_panel() -> rx.Component:
    return rx.vstack(
        rx.el.style(STYLESHEET),
        rx.hstack(
            rx.button(
                rx.cond(ChangesPanel.opened, rx.icon("chevron-down", size=14), rx.icon("chevron-right", size=14)),
                "Changes",
                size="1",
                variant="ghost",
                color_scheme="gray",
                on_click=ChangesPanel.toggle(SessionShared.changes_seq),
                id="changes-toggle",
            ),
            verify_badge(size="1", id="verify-badge-changes"),
            rx.cond(
                ChangesPanel.opened,
                rx.hstack(
                    _mode_toggle(),
                    rx.button(rx.icon("refresh-cw", size=12), "Refresh", size="1", variant="soft",
                              loading=ChangesPanel.loading, on_click=ChangesPanel.refresh, id="changes-refresh"),
                    spacing="2",
                    align="center",
                ),
            ),
            align="center",
            spacing="2",
            wrap="wrap",
        ),
        rx.cond(
            ChangesPanel.opened,
            rx.vstack(
                ChangesCue.create(),  # the session has newer changes: the open panel reloads
                rx.cond(ChangesPanel.summary != "", rx.text(ChangesPanel.summary, size="1", id="changes-summary")),
                rx.cond(ChangesPanel.notice != "",
                        rx.callout(ChangesPanel.notice, icon="scissors", size="1", color_scheme="amber",
                                   width="100%", id="changes-cut")),
                rx.cond(ChangesPanel.error != "",
                        rx.text(ChangesPanel.error, size="1", color_scheme="gray", id="changes-error")),
                rx.foreach(ChangesPanel.files, _file),
                spacing="2",
                width="100%",
                id="changes-files",
            ),
        ),
        spacing="2",
        width="100%",
        id="changes",
    )
