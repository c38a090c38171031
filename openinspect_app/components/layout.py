"""The frame every page shares: top bar with the signed-in person, then content."""

from __future__ import annotations

import reflex as rx

from openinspect_app.routes import SESSIONS
from openinspect_app.state.auth import AuthState


def top_bar() -> rx.Component:
    return rx.hstack(
        rx.link(
            rx.hstack(rx.icon("scan-search", size=20), rx.heading("Open-Inspect", size="4"), align="center"),
            href=SESSIONS,
            underline="none",
            color="inherit",
        ),
        rx.spacer(),
        rx.cond(
            AuthState.signed_in,
            rx.hstack(
                rx.avatar(fallback=AuthState.initials, size="2", radius="full"),
                rx.text(
                    AuthState.user_name, size="2", display=rx.breakpoints(initial="none", md="block"), class_name="me"
                ),
                rx.button("Sign out", variant="ghost", size="1", on_click=AuthState.sign_out),
                align="center",
                spacing="2",
            ),
        ),
        width="100%",
        padding_x=rx.breakpoints(initial="0.75em", sm="1.5em"),
        padding_y="0.6em",
        align="center",
        border_bottom="1px solid var(--gray-a5)",
        position="sticky",
        top="0",
        z_index="10",
        background="var(--color-background)",
    )


def page(*children: rx.Component, max_width: str = "1200px") -> rx.Component:
    return rx.box(
        top_bar(),
        rx.box(
            *children,
            max_width=max_width,
            margin_x="auto",
            padding=rx.breakpoints(initial="0.75em", sm="1.5em"),
            width="100%",
        ),
        min_height="100vh",
    )
