"""The GitHub App's repositories: synced from the fake's installations, searched, their branches, and
sessions made from owner/name (on SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from openinspect_core.db import Database
from openinspect_core.github import repos
from openinspect_core.models import GitHubInstallation, Repo, Session
from openinspect_core.services import sessions, users
from openinspect_core.services.errors import InvalidInput, NotFound
from tests.openinspect_core.github.identity_world import ORG, GitHubWorld, github_world


async def names(world: GitHubWorld, query: str = "") -> list[str]:
    async with world.context.db.session() as db:
        return [r.full_name or "" for r in await repos.search(db, query)]


async def create(world: GitHubWorld, **fields: str) -> Session:
    policy = sessions.SessionPolicy.from_settings(world.context.settings)
    async with world.context.work() as work:
        ada = await users.get_or_create(work.db, "Ada", "ada@example.com")
        return await sessions.create(work.db, creator=ada, policy=policy, **fields)  # type: ignore[arg-type]


def test_the_work_branch_is_the_short_id_and_a_slug() -> None:
    branch = sessions.work_branch_name("0123456789abcdef", "Fix the Login page!")
    assert branch == "openinspect/01234567-fix-the-login-page"
    assert sessions.work_branch_name("0123456789abcdef", "¡¡!!") == "openinspect/01234567"
    long = sessions.work_branch_name("0123456789abcdef", "word " * 30)
    slug = long.removeprefix("openinspect/01234567-")
    assert len(slug) <= 40 and not slug.endswith("-") and set(slug) <= set("abcdefghijklmnopqrstuvwxyz0123456789-")


async def test_sync_lists_the_installations_repositories(database: Database, tmp_path: Path) -> None:
    async with github_world(database, tmp_path) as world:
        assert await repos.sync(world.context) == 2
        assert await repos.sync(world.context) == 2  # again: nothing doubled
        async with world.context.db.session() as db:
            rows = {r.full_name: r for r in (await db.exec(select(Repo))).all()}
            installation = await db.get(GitHubInstallation, world.installation_id)
        assert set(rows) == {f"{ORG}/widgets", f"{ORG}/gadgets"}  # not acme/secret: not installed there
        widgets, gadgets = rows[f"{ORG}/widgets"], rows[f"{ORG}/gadgets"]
        assert widgets.url == f"{world.gh.base_url}/{ORG}/widgets.git" and widgets.name == "widgets"
        assert (widgets.default_branch, widgets.private, widgets.description) == ("main", True, "Widgets for everyone")
        assert (gadgets.default_branch, gadgets.private) == ("trunk", False)
        assert widgets.installation_id == world.installation_id and widgets.github_id
        assert installation is not None and installation.account_login == ORG


async def test_search_matches_name_and_description_case_insensitively(database: Database, tmp_path: Path) -> None:
    async with github_world(database, tmp_path) as world:
        assert await names(world) == []  # nothing before a sync
        await repos.sync(world.context)
        assert await names(world) == [f"{ORG}/gadgets", f"{ORG}/widgets"]
        assert await names(world, "WIDG") == [f"{ORG}/widgets"]
        assert await names(world, "everyone") == [f"{ORG}/widgets"]
        assert await names(world, "acme/") == [f"{ORG}/gadgets", f"{ORG}/widgets"]
        assert await names(world, "%") == [] and await names(world, "_") == []  # wildcards are plain characters
        async with world.context.db.session() as db:
            assert len(await repos.search(db, "", limit=1)) == 1


async def test_branches_come_from_github_default_first(database: Database, tmp_path: Path) -> None:
    async with github_world(database, tmp_path) as world:
        world.gh.commit(f"{ORG}/widgets", "alpha", {"a.txt": "a"})
        await repos.sync(world.context)
        assert await repos.branches(world.context, f"{ORG}/widgets") == ["main", "alpha", "dev"]
        assert await repos.branches(world.context, f"{ORG}/GADGETS") == ["trunk"]
        with pytest.raises(NotFound):
            await repos.branches(world.context, f"{ORG}/secret")


async def test_a_repository_removed_from_the_installation_is_not_listed_nor_usable(
        database: Database, tmp_path: Path) -> None:
    async with github_world(database, tmp_path) as world:
        await repos.sync(world.context)
        before = await create(world, repo=f"{ORG}/widgets", title="Before removal")
        world.gh.installation_repositories_webhook(world.installation_id, removed=[f"{ORG}/widgets"])
        await repos.sync(world.context)
        assert await names(world) == [f"{ORG}/gadgets"]
        with pytest.raises(InvalidInput) as refused:
            await create(world, repo=f"{ORG}/widgets")
        assert refused.value.code == "repo_not_installed"
        with pytest.raises(NotFound):
            await repos.branches(world.context, f"{ORG}/widgets")
        async with world.context.db.session() as db:  # the old session keeps its repository row
            assert (await db.get(Repo, before.repo_id)) is not None


async def test_a_session_on_github_is_made_from_owner_and_name(database: Database, tmp_path: Path) -> None:
    async with github_world(database, tmp_path) as world:
        await repos.sync(world.context)
        session = await create(world, repo=f"{ORG}/widgets", title="Fix the login page")
        assert session.work_branch == f"openinspect/{session.id[:8]}-fix-the-login-page"
        untitled = await create(world, repo=f"{ORG}/Gadgets")
        assert untitled.work_branch == f"openinspect/{untitled.id[:8]}-gadgets"
        async with world.context.db.session() as db:
            repo = await db.get(Repo, session.repo_id)
        github = world.context.github
        assert repo is not None and github is not None and repo.url == github.clone_url(f"{ORG}/widgets")
        for fields, code in [({"repo_url": "https://github.com/acme/widgets"}, "github_repo_required"),
                             ({"repo_url": "/tmp/some/repo"}, "github_repo_required"),
                             ({"repo": "not a repo"}, "invalid_repo"),
                             ({"repo": f"{ORG}/secret"}, "repo_not_installed")]:
            with pytest.raises(InvalidInput) as refused:
                await create(world, **fields)
            assert refused.value.code == code, fields


async def test_without_github_owner_and_name_is_refused(database: Database, tmp_path: Path) -> None:
    from tests.openinspect_core.services.seed import POLICY
    async with database.writer() as db:
        ada = await users.get_or_create(db, "Ada", "ada@example.com")
        with pytest.raises(InvalidInput) as refused:
            await sessions.create(db, repo="acme/widgets", creator=ada, policy=POLICY)
        assert refused.value.code == "github_not_configured"
        session = await sessions.create(db, repo_url="/tmp/repo", creator=ada, policy=POLICY)
        assert session.work_branch is None
