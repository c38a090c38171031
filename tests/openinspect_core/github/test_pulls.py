"""Pull requests of sessions against the fake GitHub, on SQLite and PostgreSQL: opened as the person
(or by the App saying who asked), linked not duplicated, refused with a reason, kept current by webhooks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from openinspect_protocol.timeline import PullRequestChanged, PullRequestFailed
from sqlmodel import select

from openinspect_core.db import Database
from openinspect_core.github import pulls
from openinspect_core.github.pull_records import scrub
from openinspect_core.models import Artifact, Message, Session
from openinspect_core.services import users
from tests.openinspect_core.github.github_world import FULL_NAME, ORG, REPO, GitHubWorld, github_session, github_world
from tests.openinspect_core.services.seed import seed, timeline_of


@pytest.fixture
def world(tmp_path: Path, database: Database) -> Iterator[GitHubWorld]:
    with github_world(tmp_path, database) as world:
        yield world


def token_of(token: str | None) -> pulls.UserTokenSource:
    async def source(_ctx: object, _user_id: str) -> str | None:
        return token
    return source


async def open_by_hand(world: GitHubWorld, title: str, head: str) -> int:
    """Ada opens a PR on GitHub herself (from a compare link, say); its number."""
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{world.gh.api_url}/repos/{FULL_NAME}/pulls",
                                   json={"title": title, "head": head, "base": "main"},
                                   headers={"Authorization": f"token {world.user_token()}"})
    assert response.status_code == 201, response.text
    return int(response.json()["number"])


async def pr_artifacts(world: GitHubWorld, session_id: str) -> list[Artifact]:
    async with world.context.db.session() as db:
        return list((await db.exec(select(Artifact).where(Artifact.session_id == session_id,
                                                          Artifact.kind == "pr"))).all())


async def test_with_a_user_token_the_person_is_the_author(world: GitHubWorld) -> None:
    ada, session_id = await github_session(world, title="Fix the widgets", pushed=True)
    artifact = await pulls.open_for_session(world.context, session_id, ada, user_token=token_of(world.user_token()))
    [pr] = world.gh.pulls(ORG, REPO)
    assert pr["user"]["login"] == "ada"
    assert (pr["title"], pr["head"]["ref"], pr["base"]["ref"]) == ("Fix the widgets", artifact.data["head"], "main")
    assert artifact.ref == pr["html_url"]
    assert {k: artifact.data[k] for k in ("number", "state", "author_login", "opened_as", "repo")} == {
        "number": pr["number"], "state": "open", "author_login": "ada", "opened_as": "user", "repo": FULL_NAME}
    assert artifact.data["requested_by"]["name"] == "Ada Lovelace"
    changed = [e for e in await timeline_of(world.context.db, session_id) if isinstance(e, PullRequestChanged)]
    assert [(e.number, e.action, e.opened_as, e.author_login) for e in changed] == [
        (pr["number"], "opened", "user", "ada")]


async def test_without_a_github_token_the_app_opens_it_and_says_who_asked(world: GitHubWorld) -> None:
    ada, session_id = await github_session(world, pushed=True)
    artifact = await pulls.open_for_session(world.context, session_id, ada, "Widgets", "The change.",
                                            user_token=token_of(None))
    [pr] = world.gh.pulls(ORG, REPO)
    assert pr["user"]["login"] == "openinspect-test[bot]" and pr["user"]["type"] == "Bot"
    assert pr["body"].startswith("The change.")
    assert "Ada Lovelace" in pr["body"] and "Open-Inspect" in pr["body"]
    assert (artifact.data["opened_as"], artifact.data["author_login"]) == ("app", "openinspect-test[bot]")


async def test_the_accounts_service_is_asked_by_default(world: GitHubWorld) -> None:
    # No GitHub account is stored for Ada: accounts.user_token says None, so the App opens it.
    ada, session_id = await github_session(world, pushed=True)
    artifact = await pulls.open_for_session(world.context, session_id, ada, "Widgets", "body")
    assert artifact.data["opened_as"] == "app"


async def test_an_open_pull_request_is_linked_not_duplicated(world: GitHubWorld) -> None:
    ada, session_id = await github_session(world, pushed=True)
    first = await pulls.open_for_session(world.context, session_id, ada, "One", "b", user_token=token_of(None))
    again = await pulls.open_for_session(world.context, session_id, ada, "Two", "b", user_token=token_of(None))
    assert again.id == first.id and len(world.gh.pulls(ORG, REPO)) == 1
    assert len(await pr_artifacts(world, session_id)) == 1


async def test_a_pull_request_opened_by_hand_is_linked(world: GitHubWorld) -> None:
    ada, session_id = await github_session(world, pushed=True)
    async with world.context.db.session() as db:
        session = await db.get(Session, session_id)
        assert session is not None
        branch = session.work_branch
    await open_by_hand(world, "By hand", branch or "")
    artifact = await pulls.open_for_session(world.context, session_id, ada, "Ignored", "b", user_token=token_of(None))
    assert len(world.gh.pulls(ORG, REPO)) == 1
    assert (artifact.data["title"], artifact.data["opened_as"], artifact.data["author_login"]) == (
        "By hand", "user", "ada")
    changed = [e for e in await timeline_of(world.context.db, session_id) if isinstance(e, PullRequestChanged)]
    assert [e.action for e in changed] == ["linked"]


async def test_nothing_pushed_is_refused_clearly(world: GitHubWorld) -> None:
    ada, session_id = await github_session(world, pushed=False)
    with pytest.raises(pulls.NothingPushed) as refused:
        await pulls.open_for_session(world.context, session_id, ada, user_token=token_of(None))
    assert refused.value.status_code == 409 and "nothing has been pushed yet" in refused.value.message
    assert world.gh.pulls(ORG, REPO) == []
    [failed] = [e for e in await timeline_of(world.context.db, session_id) if isinstance(e, PullRequestFailed)]
    assert (failed.code, failed.compare_url) == ("nothing_pushed", None)
    assert failed.requested_by is not None and failed.requested_by.name == "Ada Lovelace"


async def test_github_refusing_gives_a_reason_and_a_compare_link(world: GitHubWorld) -> None:
    ada, session_id = await github_session(world, pushed=True)
    async with world.context.db.session() as db:
        session = await db.get(Session, session_id)
        assert session is not None
    # The branch exists on GitHub but holds nothing the base lacks: GitHub answers 422.
    world.gh.commit(FULL_NAME, "main", {"change.txt": "a change\n"}, message="same")
    world.gh.commit(FULL_NAME, session.work_branch or "", {}, message="nothing", start=session.work_branch)
    async with world.context.work() as work:
        row = await work.db.get(Session, session_id)
        assert row is not None
        row.branch = session.work_branch  # base = head: "No commits between"
        work.db.add(row)
    with pytest.raises(pulls.PullRequestRefused) as refused:
        await pulls.open_for_session(world.context, session_id, ada, "T", "b", user_token=token_of(None))
    assert refused.value.status_code == 502 and "422" in refused.value.message
    [failed] = [e for e in await timeline_of(world.context.db, session_id) if isinstance(e, PullRequestFailed)]
    assert failed.code == "github_refused" and "422" in failed.reason
    branch = session.work_branch
    assert failed.compare_url == f"{world.gh.base_url}/{FULL_NAME}/compare/{branch}...{branch}?expand=1"
    assert refused.value.compare_url == failed.compare_url


async def test_a_local_repository_has_no_pull_request(world: GitHubWorld, database: Database) -> None:
    seeded = await seed(database)
    with pytest.raises(pulls.NotOnGitHub):
        await pulls.open_for_session(world.context, seeded.session_id, seeded.user, user_token=token_of(None))
    [failed] = [e for e in await timeline_of(database, seeded.session_id) if isinstance(e, PullRequestFailed)]
    assert failed.code == "not_on_github"


async def test_a_merged_webhook_turns_the_card_to_merged_once(world: GitHubWorld) -> None:
    ada, session_id = await github_session(world, pushed=True)
    artifact = await pulls.open_for_session(world.context, session_id, ada, "T", "b", user_token=token_of(None))
    opened = world.gh.pull_request_webhook(FULL_NAME, artifact.data["number"], "opened")
    async with world.context.work() as work:
        assert await pulls.apply_webhook(work.db, opened) is None  # what we already know: nothing changes
    world.gh.merge_pull(FULL_NAME, artifact.data["number"], by="ada")
    merged = world.gh.pull_request_webhook(FULL_NAME, artifact.data["number"], "closed", merged=True)
    async with world.context.work() as work:
        assert await pulls.apply_webhook(work.db, merged) == session_id
    async with world.context.work() as work:
        assert await pulls.apply_webhook(work.db, merged) is None  # a second delivery changes nothing
    [row] = await pr_artifacts(world, session_id)
    assert row.data["state"] == "merged" and row.data["opened_as"] == "app"
    changed = [e for e in await timeline_of(world.context.db, session_id) if isinstance(e, PullRequestChanged)]
    assert [(e.action, e.state) for e in changed] == [("opened", "open"), ("merged", "merged")]


async def test_a_webhook_of_a_pull_request_that_is_not_ours_is_ignored(world: GitHubWorld) -> None:
    world.gh.commit(FULL_NAME, "feature", {"x.txt": "x\n"})
    number = await open_by_hand(world, "Other", "feature")
    payload = world.gh.pull_request_webhook(FULL_NAME, number, "opened")
    async with world.context.work() as work:
        assert await pulls.apply_webhook(work.db, payload) is None
        assert await pulls.apply_webhook(work.db, {"action": "closed"}) is None


async def test_the_draft_says_what_was_asked_and_links_the_session(world: GitHubWorld) -> None:
    ada, session_id = await github_session(world, pushed=True)
    async with world.context.work() as work:
        bob = await users.get_or_create(work.db, "Bob", "bob@example.com")
        for author, text in ((ada, "Make the widgets blue\nwith details"), (bob, "And round")):
            work.db.add(Message(session_id=session_id, author_id=author.id, content=text, status="completed",
                                client_request_id=text))
        work.db.add(Artifact(session_id=session_id, kind="commit", ref="a" * 40, data={"subject": "Paint blue"}))
    async with world.context.db.session() as db:
        title, body = await pulls.draft(db, session_id, origin="https://oi.example")
    assert title == "Make the widgets blue"
    assert "- **Ada Lovelace**: Make the widgets blue" in body and "- **Bob**: And round" in body
    assert "`aaaaaaa` Paint blue" in body
    assert f"https://oi.example/sessions/{session_id}" in body


def test_tokens_are_scrubbed_from_messages() -> None:
    text = ("GitHub refused (401: Bad credentials ghs_abcdefghijklmnopqrstuvwxyz0123) "
            "headers={'authorization': 'token ghu_ABCDEFGHIJKLMNOPQRSTUVWX'} secret-value")
    cleaned = scrub(text, "secret-value")
    assert "ghs_" not in cleaned and "ghu_" not in cleaned and "secret-value" not in cleaned
    assert cleaned.startswith("GitHub refused (401: Bad credentials [redacted])")


async def test_a_pull_request_opened_from_the_compare_link_gets_its_card_from_the_webhook(
        world: GitHubWorld) -> None:
    _, session_id = await github_session(world, pushed=True)
    async with world.context.db.session() as db:
        session = await db.get(Session, session_id)
        assert session is not None and session.work_branch is not None
    number = await open_by_hand(world, "From the compare page", session.work_branch)
    async with world.context.work() as work:
        assert await pulls.apply_webhook(work.db, world.gh.pull_request_webhook(FULL_NAME, number, "opened")) == (
            session_id)
    [row] = await pr_artifacts(world, session_id)
    assert {k: row.data[k] for k in ("number", "state", "author_login", "opened_as", "requested_by")} == {
        "number": number, "state": "open", "author_login": "ada", "opened_as": "user", "requested_by": None}
