"""What the bot says when it does not start a session: short, plain, one reply per refusal.

Owns the wording of the ingress's replies; anything they repeat (repository names, error messages)
passes :func:`.mrkdwn.escape` — a name with ``<!channel>`` in it must not ping a channel. The status
message and the completion replies are the reporter's.
"""

from __future__ import annotations

from backend_jobs.slack.mrkdwn import escape
from openinspect_core.services.errors import ServiceError

HELP = ("Tell me what to do in the same message, e.g. `@Open-Inspect in acme/api: fix the flaky login test`. "
        "I pick the repository from the message, the channel, or ask you.")
NO_REPOSITORIES = ("No repository is available to work on yet: an admin adds them on Open-Inspect's settings page "
                   "(or installs the GitHub App on some).")
NOT_YOURS = "Only <@{user}> can choose the repository for their request."
GONE = "This request is no longer waiting (it was answered, or it expired): mention me again."
REPO_UNAVAILABLE = "That repository is not available any more: choose another one, or mention me again."
NOT_LINKED_FOR_PR = ("I don't know who you are on Open-Inspect yet, so I can't open a pull request for you: "
                     "mention me once with a request and follow the link I send you.")
LINK_PROMPT = ("I don't know who you are on Open-Inspect yet. Link your Slack account (one click, then sign in) "
               "and I'll carry on with this request.")
LINKED = "Thanks <@{user}>, you're linked. On it."
SOMETHING_WENT_WRONG = "Something went wrong on my side; nothing was started. Please try again in a minute."

# Refusals of the core services the bot can meet, in the person's words (the code is in the log).
_REFUSALS = {
    "queue_full": "This session already has too many prompts waiting; try again when some have run.",
    "session_archived": "This session is archived: restore it on the web first, then reply again.",
    "prompt_too_long": "That message is too long for one prompt; shorten it, or send it from the web.",
    "empty_prompt": HELP,
}


def refusal(error: ServiceError) -> str:
    """What a service's refusal means to the person who asked (its own message when there is no better one)."""
    return _REFUSALS.get(error.code) or f"I couldn't do that: {escape(error.message)}"


def unknown_repositories(names: list[str]) -> str:
    return "I don't know " + ", ".join(f"`{escape(name)}`" for name in names) + "."
