"""How pushes and pull requests look on a session's timeline: one entry per event, one card per PR.

Pure, like :mod:`openinspect_app.live.timeline_view`, which matches on the events
and calls these builders. Kept apart because the GitHub events have their own
vocabulary (branches, pull request states, who opened a PR and for whom) that
the rest of the timeline does not need.

A pull request is one card whatever happens to it: the ``pull_request`` event
that opened it creates the card (keyed by the PR's number), and each later one
for the same number — a webhook saying it was merged, closed, edited — changes
that card in place, so the timeline never shows a PR twice.
"""

from __future__ import annotations

from typing import Any

import openinspect_protocol as p
from openinspect_protocol.timeline import PromptAuthor, PullRequestChanged, PullRequestFailed

# The face of a pull request card (``Entry.status``); ``draft`` is GitHub's open-but-draft.
PR_OPEN, PR_DRAFT, PR_MERGED, PR_CLOSED = "open", "draft", "merged", "closed"
# A PR in one of these may still take the session's new commits: no second one is offered.
PR_LIVE_STATES = (PR_OPEN, PR_DRAFT)

PULL_REQUEST = "pull_request"  # Entry.kind of a PR card
PUSH = "push"  # Entry.kind of a completed push


def pull_request_key(number: int) -> str:
    return f"pr:{number}"


def pull_request_fields(event: PullRequestChanged) -> dict[str, Any]:
    """What a PR card shows, from the newest event about it (the card's fields, for a new or changed entry)."""
    return {
        "title": event.title,
        "status": PR_DRAFT if event.state == "open" and event.draft else event.state,
        "author": event.author_login,
        "url": web_url(event.url),
        "meta": f"#{event.number}",
        "text": f"{event.head} → {event.base}",
        "detail": opened_by(event.opened_as, event.requested_by, event.author_login),
    }


def web_url(url: str | None) -> str:
    """``url`` if it is a web address, else "": it becomes a link's ``href``, where a ``javascript:``
    address would run (the URLs come from GitHub, but a link is no place to find out otherwise)."""
    return url if url and url.lower().startswith(("https://", "http://")) else ""


def opened_by(opened_as: str, requested_by: PromptAuthor | None, author_login: str) -> str:
    """Whose PR this is: GitHub shows the person as its author, or the App's bot opened it for them."""
    if opened_as == "user":
        return f"opened as {requested_by.name if requested_by else author_login}"
    return f"opened by the App for {requested_by.name}" if requested_by else "opened by the App"


def pushed_text(event: p.PushComplete) -> str:
    commits = event.commits_ahead
    return f"Pushed {event.branch} ({commits} commit{'' if commits == 1 else 's'})"


def push_error_text(event: p.PushError) -> str:
    if event.code == "secret_in_diff":  # the sandbox refused on purpose: say so first
        return f"Push refused, a commit contains a secret: {event.message}"
    return f"Could not push {event.branch}: {event.message}"


def requested_text(event: p.PullRequestRequested) -> str:
    return "The agent asked for a pull request" + (f": {event.title}" if event.title else "")


def pull_request_failed_text(event: PullRequestFailed) -> str:
    asked = f" (asked by {event.requested_by.name})" if event.requested_by else ""
    return f"No pull request was opened{asked}: {event.reason}"
