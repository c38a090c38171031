"""Channels' repositories, aliases and keywords: validated, and what the chooser's candidates carry."""

from __future__ import annotations

from pathlib import Path

import pytest

from openinspect_core.db import Database
from openinspect_core.models import Repo
from openinspect_core.services.errors import ServiceError
from openinspect_core.slack import hints
from openinspect_core.slack.repo_choice import load_candidates
from tests.openinspect_core.slack.world import make_world


async def test_a_channels_repository_is_set_replaced_and_cleared(database: Database, tmp_path: Path) -> None:
    world = await make_world(database, tmp_path)
    async with world.context.work() as work:
        await hints.set_channel_repo(work.db, channel_id="<#C0SHOP001|shop>", repo_id=world.repo.id, by=world.ada,
                                     channel_name="#shop")
        await hints.set_channel_repo(work.db, channel_id="G0LEGACY1", repo_id=world.repo.id, by=world.ada)
        await hints.set_channel_repo(work.db, channel_id="G0LEGACY1", repo_id=world.other.id, by=world.grace)
    async with database.session() as db:
        assert await hints.channel_repo(db, "C0SHOP001") == world.repo.id
        listed = [(c.association.channel_id, c.association.channel_name, c.repo.name, c.association.updated_by)
                  for c in await hints.list_channel_repos(db)]
    assert sorted(listed, key=str) == sorted([("C0SHOP001", "shop", "shop", world.ada.id),
                                              ("G0LEGACY1", None, "legacy", world.grace.id)], key=str)
    async with world.context.work() as work:
        assert await hints.clear_channel_repo(work.db, "C0SHOP001")
        assert not await hints.clear_channel_repo(work.db, "C0SHOP001")
        assert await hints.channel_repo(work.db, "C0SHOP001") is None
    for channel_id, repo_id, code in (("general", world.repo.id, "slack_invalid_channel"),
                                      ("c0lower01", world.repo.id, "slack_invalid_channel"),
                                      ("C0SHOP001", "0" * 32, "no_such_repo")):
        with pytest.raises(ServiceError) as refused:
            async with world.context.work() as work:
                await hints.set_channel_repo(work.db, channel_id=channel_id, repo_id=repo_id, by=world.ada)
        assert refused.value.code == code


async def test_aliases_are_unique_keywords_shared_and_candidates_carry_both(database: Database, tmp_path: Path) -> None:
    world = await make_world(database, tmp_path)
    async with world.context.work() as work:
        alias = await hints.add_hint(work.db, repo_id=world.repo.id, kind="alias", value="  Store ", by=world.ada)
        again = await hints.add_hint(work.db, repo_id=world.repo.id, kind="alias", value="store", by=world.grace)
        await hints.add_hint(work.db, repo_id=world.repo.id, kind="keyword", value="checkout", by=world.ada)
        await hints.add_hint(work.db, repo_id=world.other.id, kind="keyword", value="checkout", by=world.ada)
        await hints.add_hint(work.db, repo_id=world.other.id, kind="alias", value="old-php.site", by=world.ada)
        assert again.id == alias.id and alias.value == "store"
    refusals = [("alias", "store", world.other.id, "slack_alias_taken"), ("alias", "two words", world.repo.id,
                "slack_invalid_hint"), ("keyword", "-dash", world.repo.id, "slack_invalid_hint"),
                ("keyword", "x" * 101, world.repo.id, "slack_invalid_hint"), ("tag", "x", world.repo.id,
                "slack_invalid_hint"), ("alias", "fine", "0" * 32, "no_such_repo")]
    for kind, value, repo_id, code in refusals:
        with pytest.raises(ServiceError) as refused:
            async with world.context.work() as work:
                await hints.add_hint(work.db, repo_id=repo_id, kind=kind, value=value, by=world.ada)
        assert refused.value.code == code, value
    async with database.session() as db:
        candidates = {c.name: (c.aliases, c.keywords) for c in await load_candidates(db)}
        assert [h.value for h in await hints.list_hints(db, world.other.id)] == ["old-php.site", "checkout"]
    assert candidates == {"shop": (("store",), ("checkout",)), "legacy": (("old-php.site",), ("checkout",))}
    async with world.context.work() as work:
        assert await hints.remove_hint(work.db, alias.id)
        assert not await hints.remove_hint(work.db, alias.id)
        assert [h.value for h in await hints.list_hints(work.db, world.repo.id)] == ["checkout"]
        # With a GitHub App, only the repositories an installation covers now.
        work.db.add(Repo(url="https://github.com/acme/api", name="api", full_name="acme/api", installation_id=7))
        work.db.add(Repo(url="https://github.com/acme/gone", name="gone", full_name="acme/gone", installation_id=None))
    async with database.session() as db:
        assert [c.full_name for c in await load_candidates(db)] == ["acme/api"]
        assert [c.full_name for c in await load_candidates(db, github_only=True)] == ["acme/api"]
        everything = await load_candidates(db, github_only=False)
    assert sorted(c.name for c in everything) == ["api", "gone", "legacy", "shop"]

