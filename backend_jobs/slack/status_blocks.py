"""The thread's messages in Block Kit: the status message and the replies, from the folded state.

Pure: a :class:`~backend_jobs.slack.thread_state.Status` or a reply in, a
:class:`SlackMessage` (a fallback ``text`` and ``blocks``) out. Blocks are
built with slack-sdk's own models, which refuse what Slack would refuse
(a text over 3,000 characters, a button label over 75), so a bad message
fails here, in a test, not as ``invalid_blocks`` from Slack. Every text
that came from the agent or a person goes through
:func:`~backend_jobs.slack.mrkdwn.escape` (or ``code``/``link``, which escape).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from backend_jobs.slack import actions
from backend_jobs.slack.mrkdwn import code, cut, escape, link, short
from backend_jobs.slack.thread_state import (
    Completion,
    Notice,
    Phase,
    PromptMirror,
    PullRequestNews,
    Reply,
    Status,
)

SUMMARY_CHARS = 2_500  # of the agent's summary in the reply; the rest is on the session's page
MIRRORED_PROMPT_CHARS = 1_500
REASON_CHARS = 500
FILES_SHOWN = 15
COMMITS_SHOWN = 5
FALLBACK_CHARS = 150  # the notification's text: a glance, not the message
_SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,31}$")  # only a real user id becomes a mention


@dataclass(frozen=True)
class ThreadHeader:
    """What the thread's messages say about the session itself (from its rows, not its events)."""

    session_id: str
    session_url: str
    repository: str  # owner/name, or the URL for a repository not on GitHub
    repository_url: str | None
    slack_user_id: str  # who asked


@dataclass(frozen=True)
class SlackMessage:
    text: str  # the fallback: notifications and screen readers (mrkdwn, escaped like the blocks)
    blocks: list[dict[str, Any]]


# The status message's first line per phase: an emoji and a word a glance understands.
_HEADLINES = {
    Phase.STARTING: ":hourglass_flowing_sand: *Starting a sandbox…*",
    Phase.SETTING_UP: ":gear: *Setting up*",
    Phase.QUEUED: ":inbox_tray: *Queued*",
    Phase.READY: ":large_green_circle: *Ready*",
    Phase.WORKING: ":hammer_and_wrench: *Working*",
    Phase.DONE: ":white_check_mark: *Done*",
    Phase.FAILED: ":x: *Failed*",
    Phase.STOPPED: ":octagonal_sign: *Stopped*",
    Phase.ARCHIVED: ":file_cabinet: *Archived*",
}


def status_message(status: Status, header: ThreadHeader) -> SlackMessage:
    """The message posted when the session starts and updated in place as it goes."""
    line = _HEADLINES[status.phase]
    if status.phase == Phase.WORKING and status.detail:
        line += f": running {code(status.detail, 40)}"
    elif status.phase == Phase.QUEUED:
        line += " — waiting for its turn"
    elif status.detail:
        line += " — " + escape(short(status.detail, REASON_CHARS))
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=line))]
    if status.extra:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=code(status.extra, 150))]))
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=_about(header))]))
    blocks.append(ActionsBlock(elements=[_view_session(header)]))
    return SlackMessage(_fallback(line), _dicts(blocks))


def reply_message(reply: Reply, header: ThreadHeader) -> SlackMessage:
    """A reply in the thread for something the session did (see thread_state's replies)."""
    match reply:
        case Completion():
            return completion_message(reply, header)
        case PromptMirror():
            return _mirror(reply)
        case PullRequestNews():
            return _pull_request_news(reply)
        case Notice():
            return _notice(reply, header)


def completion_message(done: Completion, header: ThreadHeader) -> SlackMessage:
    """A finished prompt: the agent's summary, the files it changed, the pull request (or the button)."""
    blocks: list[Block] = []
    if done.outcome == "failed":
        first = ":x: *The prompt failed*" + (f": {escape(short(done.error, REASON_CHARS))}" if done.error else "")
    elif done.outcome == "stopped":
        first = ":octagonal_sign: *Stopped*"
    else:
        first = ""
    summary, summary_cut = cut(done.summary, SUMMARY_CHARS)
    text = escape(summary)
    if summary_cut or done.summary_cut:
        text += " … " + link(header.session_url, "see the rest")
    if not text and not first:
        text = "_The agent finished without a summary._"
    fallback = first or (":white_check_mark: " + escape(short(done.summary, FALLBACK_CHARS)) if done.summary
                         else ":white_check_mark: Done")
    blocks.append(SectionBlock(text=MarkdownTextObject(text="\n".join(t for t in (first, text) if t))))
    if done.files:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=_files(done.files))))
    if done.commits:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=_commits(done))]))
    if done.push_problem:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(
            text=":warning: " + escape(short(done.push_problem, REASON_CHARS)))]))
    buttons: list[ButtonElement] = []
    if done.pull_request is not None:
        pr = done.pull_request
        buttons.append(ButtonElement(text=f"View pull request #{pr.number}", action_id=actions.VIEW_PULL_REQUEST,
                                     url=_url_or(pr.url, header.session_url)))
    elif done.can_open_pull_request:
        buttons.append(ButtonElement(text="Create pull request", action_id=actions.CREATE_PULL_REQUEST,
                                     value=header.session_id, style="primary"))
    buttons.append(_view_session(header))
    blocks.append(ActionsBlock(elements=buttons))
    return SlackMessage(_fallback(fallback), _dicts(blocks))


_SOURCES = {"web": "on the web", "api": "through the API"}


def _mirror(mirror: PromptMirror) -> SlackMessage:
    where = _SOURCES.get(mirror.source, f"via {escape(short(mirror.source, 20))}")
    content, left_out = cut(mirror.content.strip(), MIRRORED_PROMPT_CHARS)
    quoted = "\n".join("> " + escape(line) for line in (content + (" …" if left_out else "")).splitlines())
    line = f":speech_balloon: *{escape(short(mirror.author, 100))}* {where}:"
    return SlackMessage(_fallback(f"{line} {escape(short(mirror.content, FALLBACK_CHARS))}"),
                        _dicts([SectionBlock(text=MarkdownTextObject(text=f"{line}\n{quoted}"))]))


_PR_VERBS = {"opened": "opened", "linked": "is open", "reopened": "reopened", "merged": "merged", "closed": "closed"}


def _pull_request_news(news: PullRequestNews) -> SlackMessage:
    pr = news.pull_request
    emoji = {"merged": ":tada:", "closed": ":no_entry_sign:"}.get(news.action, ":twisted_rightwards_arrows:")
    verb = _PR_VERBS.get(news.action, news.action)
    label = short(f"#{pr.number} {pr.title}", 200)
    by = f" for {escape(short(news.opened_by, 100))}" if news.action in ("opened", "linked") and news.opened_by else ""
    line = f"{emoji} Pull request {link(pr.url, label)} {verb}{by}"
    return SlackMessage(_fallback(line), _dicts([SectionBlock(text=MarkdownTextObject(text=line))]))


def _notice(notice: Notice, header: ThreadHeader) -> SlackMessage:
    reason = escape(short(notice.text, REASON_CHARS))
    match notice.kind:
        case "session_failed":
            line = ":x: *The session failed*" + (f": {reason}" if reason else "")
        case "archived":
            line = ":file_cabinet: This session was archived."
        case "restored":
            line = ":arrow_forward: This session was restored."
        case "pull_request_failed":
            line = ":warning: No pull request was opened" + (f": {reason}" if reason else "")
            if notice.url:
                line += " " + link(notice.url, "Open it on GitHub")
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=line))]
    if notice.kind == "session_failed":
        blocks.append(ActionsBlock(elements=[_view_session(header)]))
    return SlackMessage(_fallback(line), _dicts(blocks))


# ------------------------------------------------------------------ parts


def _about(header: ThreadHeader) -> str:
    repository = link(header.repository_url, header.repository) if header.repository_url else code(header.repository)
    asked = f" · asked by <@{header.slack_user_id}>" if _SLACK_USER_ID.match(header.slack_user_id) else ""
    return f"{repository}{asked}"


def _view_session(header: ThreadHeader) -> ButtonElement:
    # A link button: Slack opens the page and still sends the click, which the bot acknowledges.
    return ButtonElement(text="View session", action_id=actions.VIEW_SESSION, url=header.session_url)


def _files(files: list[str]) -> str:
    shown = ", ".join(code(path, 120) for path in files[:FILES_SHOWN])
    more = f" and {len(files) - FILES_SHOWN} more" if len(files) > FILES_SHOWN else ""
    return f"*Files changed ({len(files)})*: {shown}{more}"


def _commits(done: Completion) -> str:
    lines = [f"{code(commit.sha[:7])} {escape(short(commit.subject, 100))}" for commit in done.commits[:COMMITS_SHOWN]]
    more = f" and {len(done.commits) - COMMITS_SHOWN} more" if len(done.commits) > COMMITS_SHOWN else ""
    noun = "Commit" if len(done.commits) == 1 else "Commits"
    return f"{noun}: " + "; ".join(lines) + more


def _url_or(url: str, fallback: str) -> str:
    return url if url.lower().startswith(("https://", "http://")) else fallback


def _fallback(line: str) -> str:
    # Already short (its parts are cut before they are escaped: cutting here could split an escape or a link).
    return line


def _dicts(blocks: list[Block]) -> list[dict[str, Any]]:
    return [block.to_dict() for block in blocks]
