"""People who sign in with GitHub: who may, who they are, their tokens (encrypted, refreshed, cleared when
dead) and the re-check that signs out someone removed from the organisation. Against the fake GitHub, on
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from openinspect_core.crypto import DecryptionError
from openinspect_core.db import Database
from openinspect_core.github import accounts
from openinspect_core.models import GitHubAccount, SignIn, User, utcnow
from openinspect_core.services import identity, users
from tests.openinspect_core.github.identity_world import ORG, GitHubWorld, github_world


async def sign_in(world: GitHubWorld, login: str) -> tuple[User, str, str]:
    """Sign ``login`` in as the callback does; the person, the sign-in token and the user token."""
    tokens = world.tokens_for(login)
    github = world.context.github
    assert github is not None
    profile = await accounts.fetch_profile(github, tokens.access_token)
    async with world.context.work() as work:
        user, token = await accounts.sign_in_github(work.db, world.context.cipher, profile, tokens, ttl_seconds=3600)
    return user, token, tokens.access_token


async def account_row(world: GitHubWorld, user_id: str) -> GitHubAccount:
    async with world.context.db.session() as db:
        row = await accounts.account_of(db, user_id)
    assert row is not None
    return row


async def age(world: GitHubWorld, user_id: str, *, token_expired: bool = False, verified_ago: timedelta | None = None
              ) -> None:
    async with world.context.db.writer() as db:
        row = (await db.exec(select(GitHubAccount).where(GitHubAccount.user_id == user_id))).one()
        if token_expired:
            row.access_token_expires_at = utcnow() - timedelta(seconds=1)
        if verified_ago is not None:
            row.updated_at = utcnow() - verified_ago
        db.add(row)
        await db.commit()


async def test_members_may_sign_in_and_outsiders_may_not(database: Database, tmp_path: Path) -> None:
    async with github_world(database, tmp_path) as world:
        github, settings = world.context.github, world.context.settings
        assert github is not None
        assert await accounts.is_allowed(github, settings, world.tokens_for("ada").access_token, "ada")
        assert not await accounts.is_allowed(github, settings, world.tokens_for("eve").access_token, "eve")


async def test_an_allowed_login_may_sign_in_without_the_organisation(database: Database, tmp_path: Path) -> None:
    async with github_world(database, tmp_path, github_orgs=(), github_allowed_logins=("EVE",)) as world:
        assert world.context.github is not None
        assert await accounts.is_allowed(world.context.github, world.context.settings,
                                         world.tokens_for("eve").access_token, "eve")
        assert not await accounts.is_allowed(world.context.github, world.context.settings,
                                             world.tokens_for("ada").access_token, "ada")


async def test_the_profile_is_the_github_name_and_primary_verified_email(database: Database, tmp_path: Path) -> None:
    async with github_world(database, tmp_path) as world:
        github = world.context.github
        assert github is not None
        ada = await accounts.fetch_profile(github, world.tokens_for("ada").access_token)
        eve = await accounts.fetch_profile(github, world.tokens_for("eve").access_token)
        world.gh.add_user("nameless", email=None)
        nameless = await accounts.fetch_profile(github, world.tokens_for("nameless").access_token)
    assert (ada.login, ada.name, ada.email, ada.email_verified) == ("ada", "Ada Lovelace", "ada@example.com", True)
    assert (eve.email, eve.email_verified) == ("eve@private.example.com", True)  # private, but primary and verified
    assert nameless.name == "nameless"  # no name on GitHub: the login


async def test_tokens_are_stored_only_encrypted_and_bound_to_their_row_and_column(
        database: Database, tmp_path: Path) -> None:
    async with github_world(database, tmp_path) as world:
        user, _, access = await sign_in(world, "ada")
        row = await account_row(world, user.id)
        assert row.access_token is not None and row.refresh_token is not None
        assert access not in row.access_token and "ghu_" not in row.access_token and "ghr_" not in row.refresh_token
        assert row.github_id > 0 and row.login == "ada" and user.email == "ada@example.com"
        cipher = world.context.cipher
        assert cipher.decrypt(row.access_token, accounts.associated_data(row.id, "access_token")) == access
        with pytest.raises(DecryptionError):  # copied into another column, it does not decrypt
            cipher.decrypt(row.access_token, accounts.associated_data(row.id, "refresh_token"))
        async with world.context.db.session() as db:
            sign_ins = (await db.exec(select(SignIn).where(SignIn.user_id == user.id))).all()
        assert [s.provider for s in sign_ins] == ["github"]
        assert await accounts.user_token(world.context, user.id) == access


async def test_a_returning_person_is_found_by_github_id_not_by_email(database: Database, tmp_path: Path) -> None:
    async with github_world(database, tmp_path) as world:
        first, _, _ = await sign_in(world, "ada")
        with world.gh.world.lock:
            account = world.gh.world.user("ada")
            account.email = account.primary_email = "ada@new.example.com"
            account.name = "Ada King"
        again, _, _ = await sign_in(world, "ada")
        async with world.context.db.session() as db:
            people = (await db.exec(select(User))).all()
    assert again.id == first.id and len(people) == 1
    assert (people[0].name, people[0].email) == ("Ada King", "ada@new.example.com")


async def test_a_local_person_with_the_verified_email_is_linked_once(database: Database, tmp_path: Path) -> None:
    async with github_world(database, tmp_path) as world:
        async with world.context.work() as work:
            local = await users.get_or_create(work.db, "Ada (local)", "ada@example.com")
        linked, _, _ = await sign_in(world, "ada")
        assert linked.id == local.id
        # A second GitHub identity claiming the same (verified) email may not take that person over.
        world.gh.add_user("ada2", name="Another Ada", email="ada@example.com", orgs=[ORG])
        with pytest.raises(accounts.EmailTaken):
            await sign_in(world, "ada2")


async def test_an_unverified_email_never_links_to_someone_else(database: Database, tmp_path: Path) -> None:
    async with github_world(database, tmp_path) as world:
        github = world.context.github
        assert github is not None
        profile = await accounts.fetch_profile(github, world.tokens_for("eve").access_token)
        async with world.context.work() as work:
            await users.get_or_create(work.db, "Somebody", profile.email)
        unverified = accounts.GitHubProfile(id=profile.id, login="eve", name="Eve", email=profile.email,
                                            email_verified=False)
        with pytest.raises(accounts.EmailTaken):
            async with world.context.work() as work:
                await accounts.sign_in_github(work.db, world.context.cipher, unverified, world.tokens_for("eve"),
                                              ttl_seconds=60)


async def test_an_expired_token_is_refreshed_and_stored_again(database: Database, tmp_path: Path) -> None:
    async with github_world(database, tmp_path) as world:
        user, _, old = await sign_in(world, "ada")
        before = await account_row(world, user.id)
        world.gh.expire_user_tokens("ada")
        await age(world, user.id, token_expired=True)
        new = await accounts.user_token(world.context, user.id)
        after = await account_row(world, user.id)
        assert new is not None and new != old and new.startswith("ghu_")
        assert after.access_token not in (None, before.access_token) and new not in (after.access_token or "")
        assert after.refresh_token != before.refresh_token  # GitHub spent the old one; the new one is kept
        assert after.access_token_expires_at is not None and after.access_token_expires_at > utcnow()
        assert await accounts.user_token(world.context, user.id) == new  # fresh now: no second refresh
        github = world.context.github
        assert github is not None
        assert (await accounts.fetch_profile(github, new)).login == "ada"  # and GitHub takes it


async def test_a_dead_refresh_token_gives_none_and_clears_the_tokens(database: Database, tmp_path: Path) -> None:
    async with github_world(database, tmp_path) as world:
        user, _, _ = await sign_in(world, "ada")
        world.gh.revoke_user_tokens("ada")
        await age(world, user.id, token_expired=True)
        assert await accounts.user_token(world.context, user.id) is None
        row = await account_row(world, user.id)
        assert (row.access_token, row.refresh_token, row.access_token_expires_at) == (None, None, None)
        assert await accounts.user_token(world.context, user.id) is None
        async with world.context.db.session() as db:
            assert await accounts.user_token(world.context, "no-such-person") is None
            assert await accounts.account_of(db, "no-such-person") is None


async def test_the_recheck_signs_out_a_person_removed_from_the_organisation(
        database: Database, tmp_path: Path) -> None:
    async with github_world(database, tmp_path) as world:
        user, token, _ = await sign_in(world, "ada")
        assert await accounts.still_allowed(world.context, user.id)
        with world.gh.world.lock:
            world.gh.world.account(ORG).members.pop("ada")  # type: ignore[union-attr]
        assert await accounts.still_allowed(world.context, user.id)  # verified minutes ago: not asked yet
        await age(world, user.id, verified_ago=accounts.RECHECK_INTERVAL + timedelta(seconds=5))
        assert not await accounts.still_allowed(world.context, user.id)
        async with world.context.db.session() as db:
            assert await identity.find_sign_in(db, token) is None
            row = await accounts.account_of(db, user.id)
        assert row is not None and row.access_token is None
        assert not await accounts.still_allowed(world.context, user.id)  # stays out until they sign in again


async def test_the_recheck_keeps_a_member_and_notes_when(database: Database, tmp_path: Path) -> None:
    async with github_world(database, tmp_path) as world:
        user, token, _ = await sign_in(world, "ada")
        await age(world, user.id, verified_ago=accounts.RECHECK_INTERVAL * 2)
        assert await accounts.still_allowed(world.context, user.id)
        row = await account_row(world, user.id)
        assert utcnow() - row.updated_at < timedelta(minutes=1)
        async with world.context.db.session() as db:
            assert await identity.find_sign_in(db, token) is not None


async def test_the_recheck_signs_out_a_person_whose_token_is_dead(database: Database, tmp_path: Path) -> None:
    async with github_world(database, tmp_path) as world:
        user, token, _ = await sign_in(world, "ada")
        world.gh.revoke_user_tokens("ada")
        await age(world, user.id, token_expired=True, verified_ago=accounts.RECHECK_INTERVAL * 2)
        assert not await accounts.still_allowed(world.context, user.id)
        async with world.context.db.session() as db:
            assert await identity.find_sign_in(db, token) is None
