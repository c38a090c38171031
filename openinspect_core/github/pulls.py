"""Pull requests of sessions: opened on request as the person who asked, kept current from webhooks.

Owns the conversation with GitHub about a session's pull request
(:func:`open_for_session`) and what a ``pull_request`` webhook changes
(:func:`apply_webhook`). The rows and timeline events are
:mod:`.pull_records`' (re-exported here: :func:`draft`).

Who opens it: with the requester's own user token (``accounts.user_token``), so
GitHub shows them as its author; a person without one (local sign-in) gets it
opened by the App's installation (a token narrowed to the repository with
``pull_requests: write``), its body saying who asked. A PR already open for the
session's branch is linked, never duplicated. Every refusal is written on the
session's timeline as a ``pull_request_failed`` event (with a compare link when
the branch is on GitHub, so a person can open it by hand) and raised as a
:class:`~openinspect_core.services.errors.ServiceError` whose message says why.

GitHub is never called inside a transaction (a slow answer must not hold the
database), and no token reaches a message, an event or a log (:func:`.pull_records.scrub`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from openinspect_protocol.logs import EventLog
from openinspect_protocol.timeline import PromptAuthor
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from openinspect_core.github import accounts, pull_records
from openinspect_core.github.client import PR_PERMISSIONS, GitHubApp, GitHubError, explain
from openinspect_core.github.pull_records import draft, scrub
from openinspect_core.github.running import Running
from openinspect_core.models import Artifact, Repo, Session, User
from openinspect_core.services import changes, sessions
from openinspect_core.services.errors import Conflict, ServiceError

__all__ = ["NotOnGitHub", "NothingPushed", "PullRequestRefused", "apply_webhook", "draft", "open_for_session"]

log = EventLog(__name__)

UserTokenSource = Callable[[Running, str], Awaitable[str | None]]
"""Where a person's GitHub user token comes from (``accounts.user_token``; tests may pass another)."""


class PullRequestRefused(ServiceError):
    """GitHub refused the pull request, or could not be reached."""

    status_code = 502
    code = "github_refused"

    def __init__(self, message: str, *, compare_url: str | None = None) -> None:
        super().__init__(message)
        self.compare_url = compare_url


class NothingPushed(Conflict):
    code = "nothing_pushed"


class NotOnGitHub(Conflict):
    code = "not_on_github"


@dataclass(frozen=True)
class _Target:
    """What opening the session's PR needs, read in one short transaction."""

    github: GitHubApp
    full_name: str
    installation_id: int | None
    head: str
    base: str | None

    @property
    def owner(self) -> str:
        return self.full_name.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.full_name.split("/", 1)[1]


async def open_for_session(ctx: Running, session_id: str, requester: User, title: str | None = None,
                           body: str | None = None, draft: bool = False, *, message_id: str | None = None,
                           user_token: UserTokenSource | None = None) -> Artifact:
    """Open (or link) the session's pull request for ``requester``; its artifact.

    ``title``/``body`` default to :func:`draft`'s; ``message_id`` is the prompt that asked
    (the agent's tool), kept on the artifact. Raises :class:`NotOnGitHub` or
    :class:`NothingPushed` (409) and :class:`PullRequestRefused` (502), each recorded on the
    timeline first.
    """
    asker = pull_records.author_of(requester)
    async with ctx.db.session() as db:
        session = await sessions.get(db, session_id)
        repo = await db.get(Repo, session.repo_id)
        assert repo is not None
        existing = await pull_records.open_pull(db, session_id, session.work_branch)
        drafted = (await pull_records.draft(db, session_id, origin=ctx.settings.origin)
                   if title is None or body is None else None)
        verify_warning = changes.verify_warning(await changes.last_verify(db, session_id))
    target = _target(ctx.github, session, repo)
    if isinstance(target, ServiceError):
        await _record(ctx, session_id, target.message, target.code, None, asker)
        raise target
    if existing is not None:
        return existing  # already open: linked, not opened twice
    title = (title or (drafted[0] if drafted else "")).strip()[:pull_records.MAX_TITLE_CHARS]
    body = body if body is not None else (drafted[1] if drafted else "")
    body = with_verify_warning(body, verify_warning)  # a PR opened while verify.sh fails says so
    token = await (user_token or accounts.user_token)(ctx, requester.id)
    compare_url = None
    try:
        async with await _client(target, token) as gh:
            base = target.base or await _default_branch(gh, target)
            compare_url = target.github.compare_url(target.full_name, base, target.head)
            found = await _open_on_github(gh, target)
            action = "linked"
            if found is None:
                if token is None:
                    body = _on_behalf(body, requester)
                found = await _create(gh, target, title=title, body=body, base=base, draft=draft)
                action = "opened"
    except GitHubError as error:
        reason = scrub(str(error), token)
        log.warning("pulls.refused", session_id=session_id, status=error.status, reason=reason)
        await _record(ctx, session_id, reason, "github_refused",
                      compare_url or target.github.compare_url(target.full_name, target.base or "HEAD", target.head),
                      asker)
        raise PullRequestRefused(reason, compare_url=compare_url) from None
    opened_as: pull_records.OpenedAs = "user" if token is not None else "app"
    if action == "linked":
        opened_as = "app" if getattr(found.user, "type", None) == "Bot" else "user"
    data = pull_records.pull_data(found, full_name=target.full_name, opened_as=opened_as, requested_by=asker)
    async with ctx.work() as work:
        artifact = await pull_records.save_pull(work.db, session_id, data, action=action, message_id=message_id)
        work.changed(session_id, control=False)
    log.info("pulls.opened", session_id=session_id, number=data["number"], opened_as=opened_as, action=action)
    return artifact


def _target(github: GitHubApp | None, session: Session, repo: Repo) -> _Target | ServiceError:
    if github is None or repo.full_name is None:
        return NotOnGitHub("this session's repository is not on GitHub, so there is nothing to open a pull "
                           "request on")
    if session.work_branch is None or session.pushed_sha is None:
        branch = session.work_branch or "its branch"
        return NothingPushed(f"nothing has been pushed yet: the session's branch ({branch}) reaches GitHub after "
                             "a turn in which the agent makes commits; ask for a change first")
    return _Target(github, repo.full_name, repo.installation_id, session.work_branch,
                   session.branch or repo.default_branch)


async def _record(ctx: Running, session_id: str, reason: str, code: str, compare_url: str | None,
                  asker: PromptAuthor | None) -> None:
    async with ctx.work() as work:
        await pull_records.record_failure(work.db, session_id, reason=reason, code=code, compare_url=compare_url,
                                          requested_by=asker)
        work.changed(session_id, control=False)


async def _client(target: _Target, token: str | None) -> Any:
    if token is not None:
        return target.github.user_client(token)
    if target.installation_id is None:
        raise GitHubError(f"the GitHub App is no longer installed on {target.full_name}")
    return await target.github.installation_client(target.installation_id, permissions=PR_PERMISSIONS,
                                                   repositories=[target.name])


async def _default_branch(gh: Any, target: _Target) -> str:
    try:
        repo = (await gh.rest.repos.async_get(target.owner, target.name)).parsed_data
    except Exception as exc:
        raise explain(exc, f"reading {target.full_name}") from None
    return str(repo.default_branch)


async def _open_on_github(gh: Any, target: _Target) -> Any | None:
    """The PR open on GitHub from the session's branch (opened by hand from a compare link, say)."""
    try:
        found = (await gh.rest.pulls.async_list(target.owner, target.name, state="open",
                                                head=f"{target.owner}:{target.head}")).parsed_data
    except Exception as exc:
        raise explain(exc, f"listing the pull requests of {target.full_name}") from None
    return found[0] if found else None


async def _create(gh: Any, target: _Target, *, title: str, body: str, base: str, draft: bool) -> Any:
    data = {"title": title, "body": body, "head": target.head, "base": base, "draft": draft}
    try:
        return (await gh.rest.pulls.async_create(target.owner, target.name, data=data)).parsed_data
    except Exception as exc:
        error = explain(exc, "opening the pull request")
        if error.status == 422:  # opened meanwhile (another request, or by hand): link that one
            raced = await _open_on_github(gh, target)
            if raced is not None:
                return raced
        raise error from None


def with_verify_warning(body: str, warning: str) -> str:
    """``body`` led by ``warning`` (the last verify did not pass), once, within GitHub's limit."""
    if not warning or warning in body:
        return body
    return f"{warning}\n\n{body}"[:pull_records.MAX_BODY_CHARS] if body.strip() else warning


def _on_behalf(body: str, requester: User) -> str:
    note = (f"Opened through Open-Inspect by its GitHub App on behalf of **{requester.name}**, "
            "who asked for it there (they have no GitHub account connected).")
    return f"{body.rstrip()}\n\n---\n{note}"[:pull_records.MAX_BODY_CHARS] if body.strip() else note


# ------------------------------------------------------------------ webhooks

_ACTIONS = {"opened", "closed", "reopened", "edited", "ready_for_review", "converted_to_draft", "synchronize"}


async def apply_webhook(db: AsyncSession, payload: dict[str, Any]) -> str | None:
    """What a ``pull_request`` delivery changes: the PR's artifact and a timeline event; the session id
    whose PR changed (None: not one of ours, or nothing changed). The caller commits and publishes."""
    pr, repository = _object(payload.get("pull_request")), _object(payload.get("repository"))
    action = str(payload.get("action") or "")
    url, full_name = pr.get("html_url"), repository.get("full_name")
    if action not in _ACTIONS or not isinstance(url, str) or not isinstance(full_name, str):
        return None
    artifact = await pull_records.find_pull(db, url=url)
    before: dict[str, Any] = dict(artifact.data) if artifact is not None else {}
    session_id = artifact.session_id if artifact is not None else await _session_of_branch(db, full_name, pr)
    if session_id is None:
        return None
    face = _face(pr, full_name, before)
    if face == before:
        return None
    shown = "merged" if face["state"] == "merged" and before.get("state") != "merged" else action
    await pull_records.save_pull(db, session_id, face, action=shown)
    return session_id


async def _session_of_branch(db: AsyncSession, full_name: str, pr: dict[str, Any]) -> str | None:
    """The session whose own branch a PR we did not open comes from (opened by hand, from a compare link)."""
    head = _object(pr.get("head"))
    branch = head.get("ref")
    if _object(head.get("repo")).get("full_name") != full_name or not isinstance(branch, str):
        return None  # from a fork: not a session's branch
    return (await db.exec(select(Session.id).join(Repo, col(Repo.id) == Session.repo_id).where(
        Repo.full_name == full_name, Session.work_branch == branch))).first()


def _object(value: Any) -> dict[str, Any]:
    """A JSON object of the payload, or an empty one (GitHub sends null for what is absent)."""
    return value if isinstance(value, dict) else {}


def _face(pr: dict[str, Any], full_name: str, before: dict[str, Any]) -> dict[str, Any]:
    user = _object(pr.get("user"))
    state = "merged" if pr.get("merged") or pr.get("merged_at") else ("closed" if pr.get("state") == "closed"
                                                                       else "open")
    return {
        "number": int(pr.get("number") or before.get("number") or 0),
        "title": str(pr.get("title") or before.get("title") or ""),
        "state": state,
        "draft": bool(pr.get("draft")),
        "url": str(pr["html_url"]),
        "head": str(_object(pr.get("head")).get("ref") or before.get("head") or ""),
        "base": str(_object(pr.get("base")).get("ref") or before.get("base") or ""),
        "repo": full_name,
        "author_login": str(before.get("author_login") or user.get("login") or ""),
        "opened_as": before.get("opened_as") or ("app" if user.get("type") == "Bot" else "user"),
        "requested_by": before.get("requested_by"),
    }
