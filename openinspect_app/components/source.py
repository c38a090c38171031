"""Where a session was started, as a badge: "Slack" or "API"; none for the web (the page itself).

The sessions list and the session page show it; on the session page a Slack-started session also
links to its thread in Slack (``slack_thread_link``).
"""

from __future__ import annotations

from typing import Any

import reflex as rx

SOURCE_LABELS = {"slack": "Slack", "api": "API"}  # Session.source values with a badge


def source_badge(source: rx.Var[str], **props: Any) -> rx.Component:
    return rx.match(
        source,
        ("slack", rx.badge(rx.icon("hash", size=12), SOURCE_LABELS["slack"], color_scheme="purple", variant="soft",
                           custom_attrs={"data-source": "slack"}, **props)),
        ("api", rx.badge(rx.icon("terminal", size=12), SOURCE_LABELS["api"], color_scheme="gray", variant="soft",
                         custom_attrs={"data-source": "api"}, **props)),
        rx.fragment(),
    )


def slack_thread_link(url: rx.Var[str], **props: Any) -> rx.Component:
    """A link to the session's Slack thread ("" when it has none: nothing shown)."""
    return rx.cond(
        url != "",
        rx.link(rx.hstack(rx.icon("message-square", size=14), rx.text("Slack thread", size="1"), align="center",
                          spacing="1"),
                href=url, is_external=True, **props),
    )
