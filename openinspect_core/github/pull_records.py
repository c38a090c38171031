"""What the control plane keeps of a session's pushes and pull requests, and the drafts it offers.

Owns the rows and timeline events (no GitHub calls, no transactions of its own:
callers pass their unit of work's database session):

- the pushed branch: one ``Artifact(kind="branch")`` per session and branch,
  upserted on every ``push_complete`` (:func:`record_push`), and the session's
  ``pushed_sha``;
- a pull request: one ``Artifact(kind="pr")`` per PR (its ``ref`` is the PR's
  page), whose ``data`` is the card's face (:func:`pull_data`), and a
  :class:`PullRequestChanged` event each time it is opened or changes
  (:func:`save_pull`); a refusal is a :class:`PullRequestFailed` event
  (:func:`record_failure`);
- the draft a person edits before opening a PR (:func:`draft`).

What GitHub is asked, and when, is :mod:`openinspect_core.github.pulls`' business.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from openinspect_protocol.status import MessageStatus
from openinspect_protocol.timeline import PromptAuthor, PullRequestChanged, PullRequestFailed
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from openinspect_core.models import Artifact, Message, Repo, Session, User, utcnow
from openinspect_core.services import sessions, timeline

KIND_PR, KIND_BRANCH, KIND_COMMIT = "pr", "branch", "commit"
SESSION_PAGE = "/sessions/{session_id}"  # the web app's session page (openinspect_app/routes.py)
MAX_TITLE_CHARS = 256  # GitHub's own limits on a pull request
MAX_BODY_CHARS = 65_536
# What a draft lists (the rest is summarised as "and N more"): enough to review by, short enough to read.
DRAFT_PROMPTS = 20
DRAFT_COMMITS = 50
PROMPT_LINE_CHARS = 200
TITLE_FROM_PROMPT_CHARS = 72  # git's own convention for a subject line

OpenedAs = Literal["user", "app"]

# GitHub's token formats (classic, fine-grained, App installation/user/refresh, OAuth): a message that
# mentions one is never shown or stored with it.
_TOKEN_PATTERN = re.compile(r"\b(gh[pousr]_[A-Za-z0-9_]{16,}|github_pat_[A-Za-z0-9_]{20,})")
_AUTH_HEADER = re.compile(
    r"(?i)\b(authorization|x-access-token)\b[\"']?\s*[:=]\s*[\"']?(bearer |token |basic )?[^\s\"',}]+")


def scrub(text: str, *secrets: str | None) -> str:
    """``text`` without any token in it: the known ``secrets``, anything shaped like a GitHub token,
    and the value of an ``Authorization`` header (an error from the client may quote its request)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    text = _TOKEN_PATTERN.sub("[redacted]", text)
    return _AUTH_HEADER.sub(lambda m: f"{m.group(1)}: [redacted]", text)


def author_of(user: User | None) -> PromptAuthor | None:
    return None if user is None else PromptAuthor(id=user.id, name=user.name, email=user.email)


def branch_url(repo: Repo, branch: str) -> str | None:
    """The branch's page on GitHub (the repository's clone URL is ``<web>/<owner>/<name>.git``)."""
    if repo.full_name is None:
        return None
    return f"{repo.url.removesuffix('.git')}/tree/{branch}"


# ------------------------------------------------------------------ pushes


async def record_push(db: AsyncSession, session: Session, branch: str, head_sha: str) -> Artifact:
    """The branch is on the remote at ``head_sha``: the session's ``pushed_sha`` and its branch artifact."""
    repo = await db.get(Repo, session.repo_id)
    assert repo is not None
    now = utcnow()
    session.pushed_sha = head_sha
    db.add(session)
    artifact = (await db.exec(select(Artifact).where(
        Artifact.session_id == session.id, Artifact.kind == KIND_BRANCH, Artifact.ref == branch))).first()
    data = {"head_sha": head_sha, "url": branch_url(repo, branch), "pushed_at": now.isoformat()}
    if artifact is None:
        artifact = Artifact(session_id=session.id, kind=KIND_BRANCH, ref=branch, data=data)
    else:
        artifact.data = data  # a new dict: the JSON column is written again
    db.add(artifact)
    await db.flush()
    return artifact


async def unpushed_commits(db: AsyncSession, session_id: str) -> int:
    """Commits the sandbox reported since the session's branch was last pushed (all of them, before that)."""
    pushed_at = None
    for branch in (await db.exec(select(Artifact).where(
            Artifact.session_id == session_id, Artifact.kind == KIND_BRANCH))).all():
        stamp = (branch.data or {}).get("pushed_at")
        if isinstance(stamp, str) and (pushed_at is None or stamp > pushed_at):
            pushed_at = stamp
    query = select(sa.func.count()).select_from(Artifact).where(
        Artifact.session_id == session_id, Artifact.kind == KIND_COMMIT)
    if pushed_at is not None:
        query = query.where(col(Artifact.created_at) > datetime.fromisoformat(pushed_at))
    return int((await db.exec(query)).one())


# ------------------------------------------------------------ pull requests


def pull_data(pr: Any, *, full_name: str, opened_as: OpenedAs, requested_by: PromptAuthor | None) -> dict[str, Any]:
    """The card's face (the artifact's ``data``) from GitHub's pull request (a githubkit model)."""
    merged = bool(getattr(pr, "merged_at", None)) or bool(getattr(pr, "merged", False))
    state = "merged" if merged else ("closed" if pr.state == "closed" else "open")
    return {
        "number": int(pr.number), "title": str(pr.title), "state": state, "draft": bool(pr.draft or False),
        "url": str(pr.html_url), "head": str(pr.head.ref), "base": str(pr.base.ref), "repo": full_name,
        "author_login": str(pr.user.login) if pr.user is not None else "",
        "opened_as": opened_as,
        "requested_by": requested_by.model_dump() if requested_by is not None else None,
    }


def changed_event(data: dict[str, Any], action: str) -> PullRequestChanged:
    requested = data.get("requested_by")
    return PullRequestChanged(
        number=data["number"], url=data["url"], title=data["title"], state=data["state"],
        draft=bool(data.get("draft")), head=data["head"], base=data["base"], author_login=data["author_login"],
        opened_as=data["opened_as"], requested_by=PromptAuthor(**requested) if requested else None, action=action)


async def find_pull(db: AsyncSession, *, url: str) -> Artifact | None:
    return (await db.exec(select(Artifact).where(Artifact.kind == KIND_PR, Artifact.ref == url)
                          .order_by(col(Artifact.created_at)))).first()


async def open_pull(db: AsyncSession, session_id: str, branch: str | None) -> Artifact | None:
    """The session's open pull request from ``branch``, as last known."""
    if branch is None:
        return None
    rows = (await db.exec(select(Artifact).where(Artifact.session_id == session_id, Artifact.kind == KIND_PR)
                          .order_by(col(Artifact.created_at).desc()))).all()
    return next((a for a in rows if a.data.get("head") == branch and a.data.get("state") == "open"), None)


async def save_pull(db: AsyncSession, session_id: str, data: dict[str, Any], *, action: str,
                    message_id: str | None = None) -> Artifact:
    """Upsert the PR's artifact and add its :class:`PullRequestChanged` event to the timeline."""
    artifact = (await db.exec(select(Artifact).where(
        Artifact.session_id == session_id, Artifact.kind == KIND_PR, Artifact.ref == data["url"]))).first()
    if artifact is None:
        artifact = Artifact(session_id=session_id, message_id=message_id, kind=KIND_PR, ref=data["url"])
    artifact.data = dict(data)
    db.add(artifact)
    await db.flush()
    await timeline.append(db, session_id, changed_event(data, action))
    return artifact


async def record_failure(db: AsyncSession, session_id: str, *, reason: str, code: str,
                         compare_url: str | None, requested_by: PromptAuthor | None) -> None:
    await timeline.append(db, session_id, PullRequestFailed(reason=reason, code=code, compare_url=compare_url,
                                                            requested_by=requested_by))


# ------------------------------------------------------------------ drafts


async def draft(db: AsyncSession, session_id: str, *, origin: str = "") -> tuple[str, str]:
    """A title and body for the session's pull request: its title (or first prompt), what was asked,
    the commits, and a link to the session (``origin`` is the app's, e.g. ``settings.origin``; without
    it the link is relative)."""
    session = await sessions.get(db, session_id)
    asked = (await db.exec(
        select(Message, User).join(User, col(User.id) == Message.author_id)
        .where(Message.session_id == session_id,
               col(Message.status).not_in((MessageStatus.CANCELLED, MessageStatus.QUEUED)))
        .order_by(col(Message.created_at)))).all()
    commits = (await db.exec(select(Artifact).where(Artifact.session_id == session_id, Artifact.kind == KIND_COMMIT)
                             .order_by(col(Artifact.created_at)))).all()
    first_prompt = _first_line(asked[0][0].content) if asked else ""
    title = session.title or first_prompt[:TITLE_FROM_PROMPT_CHARS] or f"Changes from session {session_id[:8]}"
    lines: list[str] = []
    if asked:
        lines.append("## What was asked")
        lines += [f"- **{user.name}**: {_first_line(message.content)[:PROMPT_LINE_CHARS]}"
                  for message, user in asked[:DRAFT_PROMPTS]]
        if len(asked) > DRAFT_PROMPTS:
            lines.append(f"- … and {len(asked) - DRAFT_PROMPTS} more")
        lines.append("")
    if commits:
        lines.append("## Commits")
        lines += [f"- `{c.ref[:7]}` {(c.data or {}).get('subject') or ''!s}" for c in commits[:DRAFT_COMMITS]]
        if len(commits) > DRAFT_COMMITS:
            lines.append(f"- … and {len(commits) - DRAFT_COMMITS} more")
        lines.append("")
    page = origin.rstrip("/") + SESSION_PAGE.format(session_id=session_id)
    lines.append(f"Made in an [Open-Inspect session]({page}).")
    return title[:MAX_TITLE_CHARS], "\n".join(lines)[:MAX_BODY_CHARS]


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")
