"""The frame every page shares: top bar with the signed-in person, then content."""

from __future__ import annotations

import reflex as rx

from openinspect_app.components.post_form import post_form
from openinspect_app.routes import AUTH_SIGN_OUT, SESSIONS, SETTINGS
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
        color_mode_toggle(),
        rx.cond(
            AuthState.signed_in,
            rx.hstack(
                rx.avatar(fallback=AuthState.initials, size="2", radius="full"),
                rx.text(
                    AuthState.user_name, size="2", display=rx.breakpoints(initial="none", md="block"), class_name="me"
                ),
                rx.link(rx.icon("settings", size=16), href=SETTINGS, color="inherit", aria_label="Settings",
                        id="settings-link"),
                # A real form post: the server ends the sign-in and clears the HttpOnly cookie.
                post_form(
                    rx.button("Sign out", variant="ghost", size="1", type="submit", id="sign-out"),
                    action=AUTH_SIGN_OUT,
                    display="flex",
                ),
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


def color_mode_toggle() -> rx.Component:
    """Light or dark: Reflex's colour mode, switched in the browser and kept there (its own ``theme``
    key), so no server round trip and nothing about the person."""
    return rx.tooltip(
        rx.icon_button(
            rx.color_mode_cond(light=rx.icon("moon", size=16), dark=rx.icon("sun", size=16)),
            on_click=rx.toggle_color_mode,
            variant="ghost",
            color_scheme="gray",
            size="2",
            aria_label="Switch between light and dark",
            id="color-mode",
        ),
        content="Light or dark",
    )


def auth_notice() -> rx.Component:
    return rx.cond(
        AuthState.auth_notice != "",
        rx.callout(AuthState.auth_notice, icon="lock", color_scheme="amber", size="1", width="100%",
                   id="auth-notice", margin_bottom="1em"),
    )


def page(*children: rx.Component, max_width: str = "1200px") -> rx.Component:
    return rx.box(
        top_bar(),
        rx.box(
            auth_notice(),
            *children,
            max_width=max_width,
            margin_x="auto",
            padding=rx.breakpoints(initial="0.75em", sm="1.5em"),
            width="100%",
        ),
        min_height="100vh",
    )
