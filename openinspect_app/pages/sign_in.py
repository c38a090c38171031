"""Sign in: a plain HTML form posted to the sign-in endpoint, which sets the HttpOnly cookie.

Local sign-in (a display name and an email) is shown only where the server
offers it (listening on loopback, reached there). With GitHub as the identity
provider the page is one link to the server's start of GitHub's sign-in, and
says why a refused sign-in was refused. Anywhere else the page says why not.
"""

from __future__ import annotations

import reflex as rx

from openinspect_app.components.github_mark import github_mark
from openinspect_app.components.layout import page
from openinspect_app.components.post_form import post_form
from openinspect_app.routes import AUTH_LOCAL
from openinspect_app.state.sign_in import GITHUB, LOCAL, UNAVAILABLE, SignInPage


def local_form() -> rx.Component:
    return post_form(
        rx.vstack(
            rx.heading("Sign in", size="5"),
            rx.text(
                "Your name and email go on the prompts you send and on the commits the agent makes for you. "
                "The server keeps your sign-in; this browser holds only a cookie page scripts cannot read.",
                size="2",
                color_scheme="gray",
            ),
            rx.cond(
                SignInPage.signed_in,
                rx.text("You are signed in as ", rx.text.strong(SignInPage.user_name),
                        ". Signing in again switches this browser to the person you give.", size="2"),
            ),
            rx.input(name="name", placeholder="Display name", width="100%", size="3", required=True,
                     max_length=200, id="signin-name", auto_complete="name"),
            rx.input(name="email", placeholder="Email", type="email", width="100%", size="3", required=True,
                     max_length=320, id="signin-email", auto_complete="email"),
            rx.el.input(type="hidden", name="next", value=SignInPage.next_path),
            error_callout(),
            rx.text("An existing person keeps the name they first signed in with.", size="1", color_scheme="gray"),
            rx.button("Continue", type="submit", size="3", width="100%", id="signin-submit"),
            spacing="3",
        ),
        action=AUTH_LOCAL,
        id="signin-form",
    )


def error_callout() -> rx.Component:
    return rx.cond(
        SignInPage.error != "",
        rx.callout(SignInPage.error, icon="triangle-alert", color_scheme="red", size="1", width="100%",
                   id="signin-error"),
    )


def github_sign_in() -> rx.Component:
    """GitHub is who says who you are: a plain link to the server's start of GitHub's sign-in."""
    return rx.vstack(
        rx.heading("Sign in", size="5"),
        rx.text(
            "Open-Inspect uses your GitHub account: your name and email go on the prompts you send and on "
            "the commits the agent makes for you, and pull requests you ask for are opened as you.",
            size="2",
            color_scheme="gray",
        ),
        rx.cond(
            SignInPage.signed_in,
            rx.text("You are signed in as ", rx.text.strong(SignInPage.user_name),
                    ". Signing in again switches this browser to the GitHub account you choose.", size="2"),
        ),
        error_callout(),
        # A link that looks like a button (Radix's as_child puts the button's look on the <a>). The
        # browser itself must follow it (reload_document): it is a server endpoint, not a page.
        rx.button(
            rx.el.a(github_mark(18), "Sign in with GitHub", href=SignInPage.github_url, reload_document=True,
                    id="signin-github"),
            as_child=True,
            size="3",
            width="100%",
            color_scheme="gray",
            high_contrast=True,
        ),
        spacing="3",
    )


def unavailable() -> rx.Component:
    return rx.vstack(
        rx.heading("Signing in is not available here", size="5"),
        rx.text(SignInPage.unavailable_reason, size="2", id="signin-unavailable"),
        error_callout(),
        spacing="3",
    )


def sign_in_page() -> rx.Component:
    return page(
        rx.center(
            rx.card(
                rx.match(
                    SignInPage.mode,
                    (LOCAL, local_form()),
                    (GITHUB, github_sign_in()),
                    (UNAVAILABLE, unavailable()),
                    rx.center(rx.spinner(size="3"), padding="2em"),
                ),
                width="100%",
                max_width="420px",
            ),
            padding_top="10vh",
        ),
    )
