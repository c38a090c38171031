"""The Slack link page (``/settings/slack/link?code=…``): "link Slack user X to you?", then done.

What it shows and does is ``state/slack.py``'s :class:`SlackLinkPage`.
"""

from __future__ import annotations

import reflex as rx

from openinspect_app.components.layout import page
from openinspect_app.routes import SESSIONS, SETTINGS
from openinspect_app.state.slack import SlackLinkPage


def _ask() -> rx.Component:
    return rx.vstack(
        rx.text("Link the Slack user ", rx.code(SlackLinkPage.slack_user_id, id="slack-link-user"), " to you, ",
                rx.text.strong(SlackLinkPage.user_name), "?", size="3"),
        rx.cond(SlackLinkPage.slack_request != "",
                rx.blockquote(SlackLinkPage.slack_request, size="2", id="slack-link-request")),
        rx.text("Everything that Slack user asks the bot will then run as you: your name on their prompts and "
                "commits, pull requests opened as you. Confirm only if that Slack account is yours.", size="2",
                color_scheme="gray"),
        rx.hstack(
            rx.button("Link to me", on_click=SlackLinkPage.confirm, id="slack-link-confirm"),
            rx.link(rx.button("Cancel", variant="soft", color_scheme="gray"), href=SETTINGS),
            spacing="2",
        ),
        spacing="3",
        width="100%",
    )


def slack_link_page() -> rx.Component:
    return page(
        rx.vstack(
            rx.heading("Link your Slack account", size="5"),
            rx.match(
                SlackLinkPage.link_state,
                ("ask", _ask()),
                ("done", rx.callout(SlackLinkPage.link_message, icon="check", color_scheme="green", width="100%",
                                    id="slack-link-done")),
                ("refused", rx.callout(SlackLinkPage.link_message, icon="triangle-alert", color_scheme="red",
                                       width="100%", id="slack-link-refused")),
                rx.spinner(),
            ),
            rx.link("Back to the sessions", href=SESSIONS, size="2"),
            spacing="4",
            width="100%",
        ),
        max_width="640px",
    )
