"""The frame of a page that is worked in rather than read: the top bar, a sidebar, and a main column
exactly as tall as the window, whose middle scrolls on its own.

``layout.page`` lets the whole document scroll, which suits lists and forms. The session page needs
its prompt box always in view and never over the timeline, and its sidebar beside it, so here the
window does not scroll: the main column is a header (fixed), a scroller (the timeline) and a footer
(fixed). The scroller stacks its content from the bottom (``column-reverse``) so a session opens at
its newest entry and stays there as entries arrive, without any script.
"""

from __future__ import annotations

from typing import Any

import reflex as rx

from openinspect_app.components.layout import auth_notice, top_bar

CONTENT_MAX_WIDTH = "72rem"
PAD_X = rx.breakpoints(initial="0.75em", sm="1.25em")


def app_shell(sidebar: rx.Component, main: rx.Component, *extra: rx.Component) -> rx.Component:
    """``extra``: what has no place of its own (page scripts)."""
    return rx.box(
        top_bar(),
        rx.flex(sidebar, main, flex="1", min_height="0", width="100%"),
        *extra,
        height="100dvh",
        display="flex",
        flex_direction="column",
        overflow="hidden",
        id="app-shell",
    )


def main_column(header: rx.Component, body: rx.Component, footer: rx.Component, **props: Any) -> rx.Component:
    """``header`` and ``footer`` keep their height; ``body`` scrolls between them."""
    return rx.flex(
        rx.box(_centred(auth_notice(), header), flex_shrink="0", width="100%", padding_x=PAD_X, padding_top="0.75em",
               padding_bottom="0.5em", border_bottom="1px solid var(--gray-a4)", max_height="45%",
               overflow_y="auto", id="main-header"),
        rx.box(
            # The one child: pushed to the top while it is short (its bottom margin takes the free space).
            rx.box(_centred(body), width="100%", margin_bottom="auto", padding_x=PAD_X, padding_y="0.75em"),
            flex="1",
            min_height="0",
            overflow_y="auto",
            overflow_x="hidden",
            display="flex",
            flex_direction="column-reverse",
            id="session-scroll",
        ),
        rx.box(_centred(footer), flex_shrink="0", width="100%", padding_x=PAD_X, padding_y="0.6em",
               border_top="1px solid var(--gray-a4)", background="var(--color-background)", id="main-footer"),
        direction="column",
        flex="1",
        min_width="0",
        height="100%",
        **props,
    )


def _centred(*children: rx.Component) -> rx.Component:
    return rx.box(*children, width="100%", max_width=CONTENT_MAX_WIDTH, margin_x="auto")
