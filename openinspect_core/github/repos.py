"""The GitHub App's repositories: synced from its installations, searched, and their branches.

Owns the :class:`~openinspect_core.models.GitHubInstallation` rows and the GitHub
columns of :class:`~openinspect_core.models.Repo` (``full_name``, ``github_id``,
``installation_id``, ``private``, ``updated_at``). A repository a session may use
is one whose ``installation_id`` is set: an installation covers it *now*. When an
installation loses a repository (removed from it, suspended, uninstalled) the
row stays (old sessions point at it) with ``installation_id`` None, so no new
session can be made on it.

:func:`sync` reads everything from GitHub first and then writes in one
transaction (a SQLite writer is never held across a network call). Webhooks
apply their payload at once (:func:`apply_installation_event`: a removal takes
effect before anything else is asked of GitHub) and then fill in the details
with :func:`sync_installation`. Who calls :func:`sync` on a timer is the
process's composition root (:func:`keep_synced`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from openinspect_protocol.logs import EventLog
from sqlmodel import col, func, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from openinspect_core.github.client import GitHubApp, explain
from openinspect_core.github.running import Running
from openinspect_core.models import GitHubInstallation, Repo, utcnow
from openinspect_core.services.errors import NotFound

log = EventLog(__name__)

SYNC_INTERVAL_SECONDS = 600.0  # Why: webhooks carry changes at once; the timer only mends missed deliveries
PAGE_SIZE = 100  # GitHub's largest page
MAX_SEARCH_RESULTS = 100


def _field(data: Any, key: str) -> Any:
    """A field of a githubkit model or of a webhook's plain dict (None when absent)."""
    return data.get(key) if isinstance(data, dict) else getattr(data, key, None)


@dataclass(frozen=True)
class RepoInfo:
    github_id: int
    full_name: str
    private: bool
    default_branch: str | None = None  # webhook payloads do not say; a sync fills it in
    description: str | None = None

    @classmethod
    def of(cls, data: Any) -> RepoInfo:
        """From a githubkit model or a webhook's plain dict."""
        branch, description = _field(data, "default_branch"), _field(data, "description")
        return cls(github_id=int(_field(data, "id")), full_name=str(_field(data, "full_name")),
                   private=bool(_field(data, "private")),
                   default_branch=branch if isinstance(branch, str) else None,
                   description=description if isinstance(description, str) else None)


@dataclass(frozen=True)
class InstallationInfo:
    id: int
    account_login: str
    account_type: str
    repository_selection: str
    suspended: bool

    @classmethod
    def of(cls, data: Any) -> InstallationInfo:
        account = _field(data, "account") or {}
        login = _field(account, "login") or _field(account, "slug") or _field(account, "name") or ""
        return cls(id=int(_field(data, "id")), account_login=str(login)[:100],
                   account_type=str(_field(account, "type") or "Organization")[:32],
                   repository_selection=str(_field(data, "repository_selection") or "selected")[:16],
                   suspended=_field(data, "suspended_at") is not None)


# -- reading GitHub ------------------------------------------------------------------------------------


async def _installations(github: GitHubApp) -> list[InstallationInfo]:
    async with github.app_client() as gh:
        try:
            return [InstallationInfo.of(i) async for i in gh.rest.paginate(
                gh.rest.apps.async_list_installations, per_page=PAGE_SIZE)]
        except Exception as exc:
            raise explain(exc, "listing the App's installations") from None


async def _installation_repos(github: GitHubApp, installation_id: int) -> list[RepoInfo]:
    async with await github.installation_client(installation_id) as gh:
        try:
            return [RepoInfo.of(r) async for r in gh.rest.paginate(
                gh.rest.apps.async_list_repos_accessible_to_installation,
                map_func=lambda answer: answer.parsed_data.repositories, per_page=PAGE_SIZE)]
        except Exception as exc:
            raise explain(exc, f"listing the repositories of installation {installation_id}") from None


# -- writing the tables --------------------------------------------------------------------------------


async def upsert_installation(db: AsyncSession, info: InstallationInfo) -> GitHubInstallation:
    row = await db.get(GitHubInstallation, info.id)
    if row is None:
        row = GitHubInstallation(id=info.id, account_login=info.account_login)
    row.account_login, row.account_type = info.account_login, info.account_type
    row.repository_selection, row.suspended, row.updated_at = info.repository_selection, info.suspended, utcnow()
    db.add(row)
    return row


async def _find_repo(db: AsyncSession, info: RepoInfo, clone_url: str) -> Repo | None:
    for condition in (Repo.github_id == info.github_id, func.lower(Repo.full_name) == info.full_name.lower(),
                      Repo.url == clone_url):
        found = (await db.exec(select(Repo).where(condition))).first()
        if found is not None:
            return found
    return None


async def upsert_repo(db: AsyncSession, github: GitHubApp, info: RepoInfo, installation_id: int | None) -> Repo:
    """The repository's row, made or brought up to date (a renamed repository keeps its row: same id)."""
    url = github.clone_url(info.full_name)
    repo = await _find_repo(db, info, url)
    if repo is None:
        repo = Repo(url=url, name=info.full_name.rsplit("/", 1)[-1])
    repo.url, repo.full_name, repo.name = url, info.full_name, info.full_name.rsplit("/", 1)[-1]
    repo.github_id, repo.installation_id, repo.private = info.github_id, installation_id, info.private
    if info.default_branch is not None:
        repo.default_branch = info.default_branch
    if info.description is not None:
        repo.description = info.description
    repo.updated_at = utcnow()
    db.add(repo)
    await db.flush()
    return repo


async def detach(db: AsyncSession, installation_id: int, keep_github_ids: Iterable[int] = ()) -> int:
    """Repositories the installation no longer covers lose it; how many did."""
    keep = set(keep_github_ids)
    rows = (await db.exec(select(Repo).where(Repo.installation_id == installation_id))).all()
    dropped = 0
    for repo in rows:
        if repo.github_id not in keep:
            repo.installation_id, repo.updated_at = None, utcnow()
            db.add(repo)
            dropped += 1
    return dropped


async def _apply(db: AsyncSession, github: GitHubApp, info: InstallationInfo, found: list[RepoInfo]) -> None:
    await upsert_installation(db, info)
    live = [] if info.suspended else found
    for repo in live:
        await upsert_repo(db, github, repo, info.id)
    await detach(db, info.id, (r.github_id for r in live))


async def sync(ctx: Running) -> int:
    """Installations and their repositories from GitHub into the tables; the number of repositories a
    session may now use. Nothing happens without an App (the embedded default)."""
    github = ctx.github
    if github is None:
        return 0
    installations = await _installations(github)
    found = {i.id: ([] if i.suspended else await _installation_repos(github, i.id)) for i in installations}
    async with ctx.db.writer() as db:
        for info in installations:
            await _apply(db, github, info, found[info.id])
        gone = (await db.exec(select(GitHubInstallation).where(
            col(GitHubInstallation.id).not_in([i.id for i in installations])))).all()
        for row in gone:  # uninstalled while no webhook reached us
            await detach(db, row.id)
            await db.delete(row)
        await db.commit()
    for info in installations:
        if info.suspended:
            github.forget_installation(info.id)
    total = sum(len(repos) for repos in found.values())
    log.info("github.synced", installations=len(installations), repos=total)
    return total


async def sync_installation(ctx: Running, installation_id: int) -> int:
    """One installation's repositories from GitHub (after a webhook about it)."""
    github = ctx.github
    if github is None:
        return 0
    async with github.app_client() as gh:
        try:
            info = InstallationInfo.of((await gh.rest.apps.async_get_installation(installation_id)).parsed_data)
        except Exception as exc:
            raise explain(exc, f"reading installation {installation_id}") from None
    found = [] if info.suspended else await _installation_repos(github, installation_id)
    async with ctx.db.writer() as db:
        await _apply(db, github, info, found)
        await db.commit()
    return len(found)


async def keep_synced(ctx: Running, interval_seconds: float = SYNC_INTERVAL_SECONDS) -> None:
    """Sync now and then every ``interval_seconds``, until cancelled; a failed round is logged and retried."""
    while True:
        try:
            await sync(ctx)
        except Exception as exc:
            log.warning("github.sync_failed", error=str(exc)[:500])
        await asyncio.sleep(interval_seconds)


# -- reading the tables --------------------------------------------------------------------------------


async def search(db: AsyncSession, query: str, limit: int = 20) -> list[Repo]:
    """Repositories of the installations whose ``owner/name`` or description contains ``query``
    (case-insensitive; an empty query lists them all), by name."""
    needle = query.strip().lower()
    where: list[Any] = [col(Repo.installation_id).is_not(None)]
    if needle:
        where.append(or_(func.lower(col(Repo.full_name)).contains(needle, autoescape=True),
                         func.lower(col(Repo.description)).contains(needle, autoescape=True)))
    rows = await db.exec(select(Repo).where(*where).order_by(func.lower(col(Repo.full_name)))
                         .limit(min(max(limit, 1), MAX_SEARCH_RESULTS)))
    return list(rows.all())


async def usable(db: AsyncSession, full_name: str) -> Repo | None:
    """The repository ``owner/name`` if an installation covers it now."""
    return (await db.exec(select(Repo).where(func.lower(col(Repo.full_name)) == full_name.strip().lower(),
                                             col(Repo.installation_id).is_not(None)))).first()


async def branches(ctx: Running, full_name: str) -> list[str]:
    """The repository's branches, the default first, then by name (asked of GitHub as the installation)."""
    async with ctx.db.session() as db:
        repo = await usable(db, full_name)
    if repo is None or ctx.github is None or repo.full_name is None or repo.installation_id is None:
        raise NotFound(f"{full_name} is not one of the GitHub App's repositories", code="repo_not_found")
    owner, name = repo.full_name.split("/", 1)
    async with await ctx.github.installation_client(repo.installation_id) as gh:
        try:
            names = [b.name async for b in gh.rest.paginate(gh.rest.repos.async_list_branches, owner=owner,
                                                              repo=name, per_page=PAGE_SIZE)]
        except Exception as exc:
            raise explain(exc, f"listing the branches of {repo.full_name}") from None
    default = repo.default_branch
    return sorted(names, key=lambda b: (b != default, b.lower()))
