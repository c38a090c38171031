"""A control plane pointed at the fake GitHub, for the identity and repository tests (part A).

``github_world`` serves the fake with an App installed on the ``acme`` organisation
(members may sign in) and yields the fake, the App and an ``AppContext`` whose
settings point at it; nothing is monkeypatched.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openinspect_core.context import AppContext
from openinspect_core.db import Database
from openinspect_core.github import oauth
from openinspect_core.notify.local import Notifier
from openinspect_core.settings import Settings
from tests.fakes.github import FakeGitHub, serve_fake_github
from tests.fakes.github.world import App
from tests.support.system import ServedApi, served_api

WEBHOOK_SECRET = "webhook-s3cret"
ORG = "acme"


def github_overrides(gh: FakeGitHub, app: App, **overrides: Any) -> dict[str, Any]:
    """Settings (as field names) that point the control plane at the fake, signing in with GitHub."""
    return {
        "identity_provider": "github", "github_app_id": str(app.id), "github_app_private_key": app.private_key_pem,
        "github_client_id": app.client_id, "github_client_secret": app.client_secret,
        "github_webhook_secret": WEBHOOK_SECRET, "github_orgs": (ORG,), "github_allowed_logins": (),
        "github_url": gh.base_url, "github_api_url": gh.api_url, "repo_roots": ("/tmp",), **overrides,
    }


def github_settings(gh: FakeGitHub, app: App, data_dir: Path, **overrides: Any) -> Settings:
    return Settings.from_env({"OPENINSPECT_DATA_DIR": str(data_dir)}, **github_overrides(gh, app, **overrides))


@dataclass
class GitHubWorld:
    gh: FakeGitHub
    app: App
    context: AppContext
    installation_id: int
    served: ServedApi | None = None  # the REST API on a real HTTP server, when asked for

    def tokens_for(self, login: str) -> oauth.UserTokens:
        """A user token pair as the sign-in would get it (without the browser)."""
        return oauth.UserTokens.from_answer(self.gh.issue_user_token(self.app, login))


@asynccontextmanager
async def github_world(database: Database, tmp_path: Path, *, serve: bool = False,
                       **settings: Any) -> AsyncIterator[GitHubWorld]:
    """The fake with: org acme (ada a member), outsider eve, repos acme/widgets (main, dev) and acme/gadgets
    (installed), acme/secret (not installed). With ``serve``, the REST API too (its context is the world's)."""
    with serve_fake_github(tmp_path / "fake-github") as gh:
        app = gh.add_app(slug="openinspect-test", webhook_secret=WEBHOOK_SECRET)
        gh.add_user("ada", name="Ada Lovelace", email="ada@example.com", orgs=[ORG])
        gh.add_user("eve", name="Eve Outsider", email=None)
        gh.add_repo(ORG, "widgets", files={"README.md": "widgets\n"}, branches=["main", "dev"],
                    description="Widgets for everyone")
        gh.add_repo(ORG, "gadgets", default_branch="trunk", files={"README.md": "gadgets\n"}, private=False)
        gh.add_repo(ORG, "secret", files={"README.md": "no\n"})
        inst = gh.add_installation(app, account=ORG, repos=[f"{ORG}/widgets", f"{ORG}/gadgets"])
        if serve:
            async with served_api(database, tmp_path / "data", **github_overrides(gh, app, **settings)) as served:
                yield GitHubWorld(gh, app, served.context, inst.id, served)
            return
        values = {"database_url": database.url, **settings}
        context = AppContext.of(github_settings(gh, app, tmp_path / "data", **values), database, Notifier())
        yield GitHubWorld(gh, app, context, inst.id)
