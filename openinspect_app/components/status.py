"""Status badges: the one place a status gets its colour.

Three kinds of status are shown: a session's (the header and the sessions list),
a timeline entry's (a prompt's :class:`MessageStatus`, or a tool or
script's running/completed/error) and a pull request's (open, draft, merged,
closed). Each has one colour map, and
:func:`status_badge` is the only builder, so a status looks the same on every page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import reflex as rx
from openinspect_protocol.status import MessageStatus, SessionStatus

from openinspect_app.live.github_entries import PR_CLOSED, PR_DRAFT, PR_MERGED, PR_OPEN
from openinspect_app.live.timeline_view import ERROR


@dataclass(frozen=True)
class Palette:
    colors: Mapping[str, str]
    default: str  # statuses not in ``colors`` (a session's start-up stages, say)


SESSION_COLORS = Palette(
    {
        SessionStatus.RUNNING: "blue",
        SessionStatus.READY: "green",
        SessionStatus.IDLE: "green",
        SessionStatus.FAILED: "red",
        SessionStatus.STOPPED: "gray",
    },
    default="amber",
)
ENTRY_COLORS = Palette(
    {
        MessageStatus.QUEUED: "gray",
        MessageStatus.RUNNING: "blue",
        MessageStatus.COMPLETED: "green",
        MessageStatus.FAILED: "red",
        MessageStatus.STOPPED: "orange",
        MessageStatus.CANCELLED: "gray",
        ERROR: "red",  # a tool's or script's; their running and completed are spelled as a prompt's
    },
    default="gray",
)

# GitHub's own colours for a pull request's state, so the badge reads at a glance.
PULL_REQUEST_COLORS = Palette({PR_OPEN: "green", PR_DRAFT: "gray", PR_MERGED: "purple", PR_CLOSED: "red"},
                              default="gray")


def status_color(status: rx.Var[str], palette: Palette) -> rx.Var:
    # Plain strings as the cases: they are compiled into the page as literals.
    return rx.match(status, *[(str(value), color) for value, color in palette.colors.items()], palette.default)


def status_badge(status: rx.Var[str], palette: Palette, **props: Any) -> rx.Component:
    return rx.badge(status, color_scheme=status_color(status, palette), **props)
