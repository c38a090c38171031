"""Local sign-in: a display name and an email, kept in this browser."""

from __future__ import annotations

import reflex as rx

from openinspect_app.components.layout import page
from openinspect_app.state.auth import AuthState


def sign_in_page() -> rx.Component:
    return page(
        rx.center(
            rx.card(
                rx.form(
                    rx.vstack(
                        rx.heading("Sign in", size="5"),
                        rx.text(
                            "Your name and email go on the prompts you send and on the commits the agent "
                            "makes for you. They stay in this browser.",
                            size="2",
                            color_scheme="gray",
                        ),
                        rx.input(
                            name="name",
                            placeholder="Display name",
                            default_value=AuthState.user_name,
                            width="100%",
                            size="3",
                            required=True,
                            id="signin-name",
                        ),
                        rx.input(
                            name="email",
                            placeholder="Email",
                            type="email",
                            width="100%",
                            size="3",
                            default_value=AuthState.user_email,
                            required=True,
                            id="signin-email",
                        ),
                        rx.cond(
                            AuthState.sign_in_error != "",
                            rx.callout(
                                AuthState.sign_in_error,
                                icon="triangle-alert",
                                color_scheme="red",
                                size="1",
                                width="100%",
                            ),
                        ),
                        rx.button("Continue", type="submit", size="3", width="100%", id="signin-submit"),
                        spacing="3",
                    ),
                    on_submit=AuthState.sign_in,
                ),
                width="100%",
                max_width="420px",
            ),
            padding_top="10vh",
        ),
    )
