"""GitHub's webhook deliveries: verified, handled once, applied.

Owns the rules of ``POST /api/github/webhooks`` below HTTP: the
``X-Hub-Signature-256`` check (HMAC-SHA256 of the exact body with
``OPENINSPECT_GITHUB_WEBHOOK_SECRET``, compared in constant time; no secret
configured means every delivery is refused), deduplication on
``X-GitHub-Delivery`` (a :class:`~openinspect_core.models.WebhookDelivery` row
written in the *same* transaction as the delivery's effects: a delivery that
failed half-way is not remembered, so GitHub's redelivery is applied), and the
dispatch by event:

- ``installation`` / ``installation_repositories`` → the repository tables
  (:mod:`.repos`): applied from the payload at once, then the installation is
  read again from GitHub to fill in what payloads leave out (default branches);
- ``pull_request`` → :func:`openinspect_core.github.pulls.apply_webhook` (pull
  requests are that module's), and the session it names is published as changed;
- ``ping`` and anything else → nothing (200).

The HTTP route only reads the headers and body and maps the outcome to a status.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import importlib
from dataclasses import dataclass
from typing import Any, Literal

from openinspect_protocol.logs import EventLog
from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from openinspect_core.github import repos
from openinspect_core.github.client import GitHubApp, GitHubError
from openinspect_core.github.running import Running
from openinspect_core.models import GitHubInstallation, Repo, WebhookDelivery, utcnow

log = EventLog(__name__)

SIGNATURE_PREFIX = "sha256="
MAX_DELIVERY_ID_CHARS = 64  # the column
Outcome = Literal["applied", "duplicate", "ignored"]


def signature_valid(secret: str | None, body: bytes, header: str | None) -> bool:
    """Whether ``header`` is GitHub's signature of ``body`` with ``secret`` (constant-time compare)."""
    if not secret or not header or not header.startswith(SIGNATURE_PREFIX):
        return False
    expected = SIGNATURE_PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.strip().encode())


@dataclass(frozen=True)
class Handled:
    outcome: Outcome
    session_id: str | None = None  # a pull request's session that changed
    installation_id: int | None = None  # an installation to read again from GitHub


async def _remember(db: AsyncSession, delivery_id: str, event: str, action: str | None) -> bool:
    """Record the delivery; False when it was recorded before (a redelivery, or a concurrent twin)."""
    if (await db.get(WebhookDelivery, delivery_id)) is not None:
        return False
    try:
        async with db.begin_nested():
            db.add(WebhookDelivery(id=delivery_id, event=event[:64], action=(action or None) and action[:64],
                                   received_at=utcnow()))
    except IntegrityError:
        return False
    return True


async def apply_installation_event(db: AsyncSession, github: GitHubApp, event: str,
                                   payload: dict[str, Any]) -> int | None:
    """What an installation event changes in the tables; the installation to read again (None: it is gone
    or suspended, nothing to read)."""
    action = payload.get("action")
    data = payload.get("installation")
    if not isinstance(data, dict) or "id" not in data:
        return None
    info = repos.InstallationInfo.of(data)
    if event == "installation" and action == "deleted":
        await repos.detach(db, info.id)
        row = await db.get(GitHubInstallation, info.id)
        if row is not None:
            await db.delete(row)
        github.forget_installation(info.id)
        return None
    if event == "installation" and action == "suspend":
        await repos.upsert_installation(db, dataclasses.replace(info, suspended=True))
        await repos.detach(db, info.id)
        github.forget_installation(info.id)
        return None
    if event == "installation" and action == "unsuspend":
        info = dataclasses.replace(info, suspended=False)
    await repos.upsert_installation(db, info)
    added = payload.get("repositories") if event == "installation" else payload.get("repositories_added")
    for item in added if isinstance(added, list) else []:
        if isinstance(item, dict) and "id" in item and "full_name" in item:
            await repos.upsert_repo(db, github, repos.RepoInfo.of(item), info.id)
    removed = payload.get("repositories_removed") if event == "installation_repositories" else None
    for item in removed if isinstance(removed, list) else []:
        if isinstance(item, dict) and "id" in item:
            rows = await db.exec(select(Repo).where(Repo.github_id == int(item["id"]),
                                                    Repo.installation_id == info.id))
            for repo in rows.all():
                repo.installation_id, repo.updated_at = None, utcnow()
                db.add(repo)
    return info.id


async def _apply_pull_request(db: AsyncSession, payload: dict[str, Any]) -> str | None:
    # Imported when needed: pull requests are another module's (openinspect_core.github.pulls), and
    # this one must not fail to load while that one is being built or changed.
    try:
        pulls = importlib.import_module("openinspect_core.github.pulls")
    except ImportError:
        log.warning("github.webhook_pull_request_unhandled")
        return None
    session_id: str | None = await pulls.apply_webhook(db, payload)
    return session_id


async def handle(ctx: Running, *, delivery_id: str, event: str, payload: dict[str, Any]) -> Handled:
    """Apply one verified delivery once: its effects and its record commit together; then the session it
    changed is published and an installation it named is read again from GitHub (best effort)."""
    action = payload.get("action") if isinstance(payload.get("action"), str) else None
    github = ctx.github
    async with ctx.work() as work:
        if not await _remember(work.db, delivery_id[:MAX_DELIVERY_ID_CHARS], event, action):
            log.info("github.webhook_duplicate", delivery=delivery_id[:64], gh_event=event)
            return Handled("duplicate")
        handled = Handled("ignored")
        if event in ("installation", "installation_repositories") and github is not None:
            installation_id = await apply_installation_event(work.db, github, event, payload)
            handled = Handled("applied", installation_id=installation_id)
        elif event == "pull_request":
            session_id = await _apply_pull_request(work.db, payload)
            if session_id is not None:
                work.changed(session_id)
            handled = Handled("applied", session_id=session_id)
    log.info("github.webhook", delivery=delivery_id[:64], gh_event=event, action=action, outcome=handled.outcome)
    if handled.installation_id is not None:
        try:
            await repos.sync_installation(ctx, handled.installation_id)
        except GitHubError as exc:  # the payload's effects stand; the next sync mends the details
            log.warning("github.installation_sync_failed", installation_id=handled.installation_id, error=str(exc))
    return handled
