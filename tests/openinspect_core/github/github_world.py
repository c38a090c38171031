"""A fake GitHub with an App installed on one organisation, and the control plane's rows pointing at it.

For the pushes, pull requests and credential broker tests: ``acme/widgets`` (the
sessions' repository) and ``acme/gadgets`` (another one the installation also
covers), Ada a member of ``acme`` with a GitHub account in the fake, and a
control-plane :class:`AppContext` whose settings point at the fake.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openinspect_protocol.timeline import SessionStatusChanged
from sqlmodel import select

from openinspect_core.context import AppContext
from openinspect_core.db import Database
from openinspect_core.models import Participant, Repo, Session, User
from openinspect_core.notify.local import Notifier
from openinspect_core.services import timeline, users
from openinspect_core.settings import Settings
from tests.fakes.github import FakeGitHub, serve_fake_github

ORG, REPO, OTHER_REPO = "acme", "widgets", "gadgets"
FULL_NAME = f"{ORG}/{REPO}"
ADA = {"name": "Ada Lovelace", "email": "ada@example.com"}


@dataclass
class GitHubWorld:
    gh: FakeGitHub
    app: Any
    installation_id: int
    context: AppContext

    def user_token(self, login: str = "ada") -> str:
        """A user token of ``login`` for the App, as the sign-in would have stored it."""
        return str(self.gh.issue_user_token(self.app, login)["access_token"])


def github_settings(gh: FakeGitHub, app: Any, data_dir: Path, database_url: str, **extra: Any) -> Settings:
    return Settings.from_env({"OPENINSPECT_DATA_DIR": str(data_dir)}, database_url=database_url,
                             repo_roots=("/tmp",), github_app_id=str(app.id),
                             github_app_private_key=app.private_key_pem, github_url=gh.base_url,
                             github_api_url=gh.api_url, github_webhook_secret=app.webhook_secret, **extra)


@contextmanager
def github_world(tmp_path: Path, database: Database) -> Iterator[GitHubWorld]:
    with serve_fake_github(tmp_path / "github") as gh:
        app = gh.add_app(slug="openinspect-test")
        gh.add_user("ada", name=ADA["name"], email=ADA["email"], orgs=[ORG])
        gh.add_repo(ORG, REPO, files={"README.md": "widgets\n"})
        gh.add_repo(ORG, OTHER_REPO, files={"README.md": "gadgets\n"})
        inst = gh.add_installation(app, account=ORG, repos=[FULL_NAME, f"{ORG}/{OTHER_REPO}"])
        settings = github_settings(gh, app, tmp_path / "data", database.url)
        yield GitHubWorld(gh, app, inst.id, AppContext.of(settings, database, Notifier()))


async def github_session(world: GitHubWorld, *, installation_id: int | None = -1, title: str | None = None,
                         pushed: bool = False, person: dict[str, str] = ADA) -> tuple[User, str]:
    """A session of ``person`` on acme/widgets with its own branch (``pushed``: a commit on it in the fake,
    and its ``pushed_sha``). ``installation_id`` -1: the world's installation."""
    github = world.context.github
    assert github is not None
    async with world.context.work() as work:
        user = await users.get_or_create(work.db, person["name"], person["email"])
        repo = (await work.db.exec(select(Repo).where(Repo.full_name == FULL_NAME))).first()
        if repo is None:
            row = Repo(url=github.clone_url(FULL_NAME), name=REPO, full_name=FULL_NAME, default_branch="main",
                       installation_id=world.installation_id if installation_id == -1 else installation_id,
                       private=True)
            work.db.add(row)
            await work.db.flush()
            repo_id = row.id
        else:
            repo_id = repo.id
        session = Session(repo_id=repo_id, title=title, title_from_user=title is not None, created_by=user.id)
        session.work_branch = f"openinspect/{session.id[:8]}-widgets"
        work.db.add(session)
        await work.db.flush()
        work.db.add(Participant(session_id=session.id, user_id=user.id, role="owner"))
        await timeline.append(work.db, session.id, SessionStatusChanged(status=session.status))
        if pushed:
            session.pushed_sha = world.gh.commit(FULL_NAME, session.work_branch, {"change.txt": "a change\n"},
                                                 message="Make a change")
            work.db.add(session)
        return user, session.id
