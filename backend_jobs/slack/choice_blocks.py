"""The Block Kit the ingress posts: the repository choice (buttons + a searchable select) and the link prompt.

Pure builders (tested without Slack). The ids they carry are :mod:`.actions`' and what a click on
them means is :mod:`.clicks`'. Slack's limits are kept here: at most :data:`MAX_OPTIONS` options in
a ``static_select`` (Slack filters them as one types), 75 characters of option text, distinct
``action_id`` per element of a block (so each button gets ``CHOOSE_REPO.<n>``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from backend_jobs.slack import actions
from backend_jobs.slack.mrkdwn import escape
from backend_jobs.slack.texts import LINK_PROMPT, unknown_repositories
from openinspect_core.slack.repo_choice import Candidate

MAX_OPTIONS = 100  # Slack's limit for a static_select
MAX_OPTION_CHARS = 75  # Slack's limit for an option's text
MAX_BUTTON_CHARS = 75  # Slack's limit for a button's text


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": text if len(text) <= limit else text[: limit - 1] + "…", "emoji": False}


def choose_button_action_id(index: int) -> str:
    return f"{actions.CHOOSE_REPO}.{index}"


def is_choose_button(action_id: str) -> bool:
    head, _, index = action_id.rpartition(".")
    return head == actions.CHOOSE_REPO and index.isdigit()


def choice_blocks(pending_id: str, best: Sequence[Candidate], every: Sequence[Candidate], *,
                  slack_user_id: str, unknown: Sequence[str] = ()) -> tuple[str, list[dict[str, Any]]]:
    """The fallback text and blocks asking ``slack_user_id`` which repository: ``best`` as buttons
    (value ``<pending id>:<repo id>``) and ``every`` in a select (block id: the pending id)."""
    lead = f"<@{slack_user_id}> which repository should I work on?"
    if unknown:
        lead = f"{unknown_repositories(list(unknown))} {lead}"
    elements: list[dict[str, Any]] = [
        {"type": "button", "action_id": choose_button_action_id(i), "text": _plain(c.label, MAX_BUTTON_CHARS),
         "value": f"{pending_id}:{c.repo_id}"}
        for i, c in enumerate(best)
    ]
    if every:
        elements.append({
            "type": "static_select", "action_id": actions.SELECT_REPO,
            "placeholder": _plain("Another repository…" if best else "Choose a repository…", 150),
            "options": [{"text": _plain(c.label, MAX_OPTION_CHARS), "value": c.repo_id} for c in every[:MAX_OPTIONS]],
        })
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": lead}},
        {"type": "actions", "block_id": pending_id, "elements": elements},
    ]
    return lead, blocks


def chosen_blocks(label: str, slack_user_id: str) -> tuple[str, list[dict[str, Any]]]:
    """What the choice message becomes once answered (its buttons gone: one choice per request)."""
    text = f"<@{slack_user_id}> chose *{escape(label)}*."
    return text, [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]


def link_blocks(url: str) -> tuple[str, list[dict[str, Any]]]:
    """The link prompt (sent only to the person: the code in the URL links *their* Slack account)."""
    return LINK_PROMPT, [
        {"type": "section", "text": {"type": "mrkdwn", "text": LINK_PROMPT}},
        {"type": "actions", "elements": [
            {"type": "button", "action_id": actions.LINK_ACCOUNT, "text": _plain("Link my account", 75),
             "url": url, "style": "primary"},
        ]},
    ]
