"""GitHub's webhook deliveries through ``POST /api/github/webhooks``, sent by the fake GitHub as GitHub
would (signed): bad signatures refused with nothing stored, redeliveries done once, installation events
applied to the repository tables. On SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any

from sqlmodel import select

from openinspect_core.db import Database
from openinspect_core.github import repos, webhooks
from openinspect_core.models import GitHubInstallation, Repo, WebhookDelivery
from tests.openinspect_core.github.identity_world import ORG, WEBHOOK_SECRET, GitHubWorld, github_world
from tests.support.rows import every_row


def url(world: GitHubWorld) -> str:
    assert world.served is not None
    return f"{world.served.base_url}/api/github/webhooks"


async def listed(world: GitHubWorld) -> list[str]:
    async with world.context.db.session() as db:
        return [r.full_name or "" for r in await repos.search(db, "")]


async def snapshot(world: GitHubWorld) -> dict[str, list[Any]]:
    return await every_row(world.context.db)


def test_the_signature_is_githubs_hmac_of_the_exact_body() -> None:
    from tests.fakes.github import signature_256
    body = b'{"zen": "Keep it logically awesome."}'
    assert webhooks.signature_valid("s3cret", body, signature_256("s3cret", body))
    assert not webhooks.signature_valid("s3cret", body + b" ", signature_256("s3cret", body))
    assert not webhooks.signature_valid("other", body, signature_256("s3cret", body))
    assert not webhooks.signature_valid(None, body, signature_256("s3cret", body))  # no secret: refuse all
    assert not webhooks.signature_valid("s3cret", body, None)
    assert not webhooks.signature_valid("s3cret", body, "sha1=" + "0" * 40)


async def test_a_bad_or_missing_signature_is_refused_and_nothing_is_stored(database: Database, tmp_path: Path) -> None:
    async with github_world(database, tmp_path, serve=True) as world:
        await repos.sync(world.context)
        payload = world.gh.installation_repositories_webhook(world.installation_id, removed=[f"{ORG}/widgets"])
        before = await snapshot(world)
        wrong = await world.gh.asend_webhook(url(world), "installation_repositories", payload, secret="not-it")
        headers, body = world.gh.webhook_request("installation_repositories", payload)
        headers = {k: v for k, v in headers.items() if k.lower() != "x-hub-signature-256"}
        assert world.served is not None
        async with world.served.client() as http:
            missing = await http.post("/api/github/webhooks", content=body, headers=headers)
        for answer in (wrong, missing):
            assert answer.status_code == 401, answer.text
            assert answer.json()["error"]["code"] == "bad_signature"
        assert await snapshot(world) == before
        assert f"{ORG}/widgets" in await listed(world)


async def test_a_redelivery_is_handled_once(database: Database, tmp_path: Path) -> None:
    async with github_world(database, tmp_path, serve=True) as world:
        await repos.sync(world.context)
        payload = world.gh.installation_repositories_webhook(world.installation_id, removed=[f"{ORG}/widgets"])
        first = await world.gh.asend_webhook(url(world), "installation_repositories", payload, delivery="d-1")
        assert (first.status_code, first.json()) == (200, {"outcome": "applied"})
        assert await listed(world) == [f"{ORG}/gadgets"]
        # Were it applied again it would detach the repository a second time; put it back to see it is not.
        async with world.context.db.writer() as db:
            row = (await db.exec(select(Repo).where(Repo.full_name == f"{ORG}/widgets"))).one()
            row.installation_id = world.installation_id
            db.add(row)
            await db.commit()
        again = await world.gh.asend_webhook(url(world), "installation_repositories", payload, delivery="d-1")
        assert (again.status_code, again.json()) == (200, {"outcome": "duplicate"})
        assert f"{ORG}/widgets" in await listed(world)
        async with world.context.db.session() as db:
            deliveries = (await db.exec(select(WebhookDelivery))).all()
        assert [(d.id, d.event, d.action) for d in deliveries] == [("d-1", "installation_repositories", "removed")]


async def test_installation_events_update_the_repositories(database: Database, tmp_path: Path) -> None:
    async with github_world(database, tmp_path, serve=True) as world:
        gh = world.gh
        assert await listed(world) == []
        created = gh.installation_webhook(world.installation_id, "created")
        assert (await gh.asend_webhook(url(world), "installation", created)).status_code == 200
        assert await listed(world) == [f"{ORG}/gadgets", f"{ORG}/widgets"]
        async with world.context.db.session() as db:
            gadgets = (await db.exec(select(Repo).where(Repo.full_name == f"{ORG}/gadgets"))).one()
        assert gadgets.default_branch == "trunk"  # filled in from GitHub after the payload

        added = gh.installation_repositories_webhook(world.installation_id, added=[f"{ORG}/secret"])
        assert (await gh.asend_webhook(url(world), "installation_repositories", added)).status_code == 200
        assert f"{ORG}/secret" in await listed(world)

        removed = gh.installation_repositories_webhook(world.installation_id, removed=[f"{ORG}/secret"])
        assert (await gh.asend_webhook(url(world), "installation_repositories", removed)).status_code == 200
        assert f"{ORG}/secret" not in await listed(world)

        deleted = gh.installation_webhook(world.installation_id, "deleted")
        assert (await gh.asend_webhook(url(world), "installation", deleted)).status_code == 200
        assert await listed(world) == []
        async with world.context.db.session() as db:
            assert await db.get(GitHubInstallation, world.installation_id) is None
            assert len((await db.exec(select(Repo))).all()) == 3  # the rows stay for old sessions


async def test_ping_and_other_events_are_answered_and_recorded(database: Database, tmp_path: Path) -> None:
    async with github_world(database, tmp_path, serve=True) as world:
        ping = await world.gh.asend_webhook(url(world), "ping", {"zen": "Design for failure.", "hook_id": 1},
                                            app=world.app)
        assert (ping.status_code, ping.json()) == (200, {"outcome": "ignored"})
        assert world.served is not None
        headers, body = world.gh.webhook_request("ping", {"zen": "x"}, app=world.app)
        async with world.served.client() as http:
            no_delivery = await http.post("/api/github/webhooks", content=body, headers={
                k: v for k, v in headers.items() if k.lower() != "x-github-delivery"})
            assert no_delivery.status_code == 400
            not_json = await http.post("/api/github/webhooks", content=b"nope", headers={
                **headers, "X-Hub-Signature-256": webhooks.SIGNATURE_PREFIX + hmac.new(
                    WEBHOOK_SECRET.encode(), b"nope", hashlib.sha256).hexdigest()})
            assert not_json.status_code == 400
