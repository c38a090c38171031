"""Fixtures for the fake GitHub's own tests: a running fake and a small seeded world.

The world: App ``openinspect-test`` installed on organization ``acme`` for
``acme/widgets`` (private; ``main``, ``dev`` and ``feature`` one commit ahead) and
``acme/gadgets`` (public); ``ada`` (member of ``acme``, public email) and ``mallory``
(no organization, private email).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fakes.github import FakeGitHub, serve_fake_github
from tests.fakes.github.app_jwt import generate_key_pair
from tests.fakes.github.world import Account, App, Installation, Repo


@dataclass
class Seeded:
    gh: FakeGitHub
    app: App
    ada: Account
    mallory: Account
    widgets: Repo
    gadgets: Repo
    inst: Installation
    feature_sha: str


@pytest.fixture
def gh(tmp_path: Path) -> Iterator[FakeGitHub]:
    with serve_fake_github(tmp_path / "github") as fake:
        yield fake


@pytest.fixture(scope="session")
def app_key_pair() -> tuple[str, str]:
    """One RSA key for the seeded Apps of the whole run (making one costs a tenth of a second)."""
    return generate_key_pair()


@pytest.fixture
def seeded(gh: FakeGitHub, app_key_pair: tuple[str, str]) -> Seeded:
    app = gh.add_app(slug="openinspect-test", client_id="Iv23liTESTCLIENT0001", client_secret="shh-client",
                     webhook_secret="shh-hook", key_pair=app_key_pair)
    ada = gh.add_user("ada", name="Ada Lovelace", email="ada@example.com", orgs=["acme"])
    mallory = gh.add_user("mallory", orgs=[])
    widgets = gh.add_repo("acme", "widgets", files={"README.md": "hi\n"}, branches=["main", "dev"], private=True,
                          description="Widgets")
    gadgets = gh.add_repo("acme", "gadgets", private=False)
    inst = gh.add_installation(app, account="acme", repos=["acme/widgets", "acme/gadgets"])
    sha = gh.commit("acme/widgets", "feature", {"src/feature.py": "print('x')\n"}, message="Add feature",
                    author=("Ada Lovelace", "ada@example.com"))
    return Seeded(gh, app, ada, mallory, widgets, gadgets, inst, sha)
