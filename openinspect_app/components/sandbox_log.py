"""The collapsible "Sandbox log" panel of the session page (state: ``state/sandbox_log.py``)."""

from __future__ import annotations

import reflex as rx

from openinspect_app.state.sandbox_log import TAIL_LINES, SandboxLogPanel


def sandbox_log_panel() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.button(
                rx.cond(SandboxLogPanel.opened, rx.icon("chevron-down", size=14), rx.icon("chevron-right", size=14)),
                "Sandbox log",
                size="1",
                variant="ghost",
                color_scheme="gray",
                on_click=SandboxLogPanel.toggle,
                id="sandbox-log-toggle",
            ),
            rx.cond(
                SandboxLogPanel.opened,
                rx.button(
                    rx.icon("refresh-cw", size=12),
                    "Refresh",
                    size="1",
                    variant="soft",
                    loading=SandboxLogPanel.loading,
                    on_click=SandboxLogPanel.refresh,
                    id="sandbox-log-refresh",
                ),
            ),
            align="center",
            spacing="2",
        ),
        rx.cond(
            SandboxLogPanel.opened,
            rx.vstack(
                rx.text(f"The last {TAIL_LINES} lines of the sandbox runtime's own log (not the agent's output).",
                        size="1", color_scheme="gray"),
                rx.cond(SandboxLogPanel.error != "", rx.text(SandboxLogPanel.error, size="1", color_scheme="gray")),
                rx.box(
                    rx.foreach(
                        SandboxLogPanel.lines,
                        lambda line: rx.text(line, size="1", font_family="monospace", white_space="pre-wrap",
                                             word_break="break-all", class_name="sandbox-log-line"),
                    ),
                    max_height="24em",
                    overflow_y="auto",
                    width="100%",
                    padding="2",
                    background="var(--gray-a2)",
                    border_radius="var(--radius-2)",
                    id="sandbox-log-lines",
                ),
                spacing="1",
                width="100%",
            ),
        ),
        spacing="1",
        width="100%",
        id="sandbox-log",
    )
