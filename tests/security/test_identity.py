"""The identity service and the key file, on SQLite and PostgreSQL: sign-ins and API tokens are
random, stored hashed, expire or are revoked, and nobody's name is changed by someone else."""

from __future__ import annotations

import stat
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from openinspect_core import keys
from openinspect_core.db import Database
from openinspect_core.models import ApiToken, SignIn, User, utcnow
from openinspect_core.services import identity, users
from openinspect_core.services.errors import InvalidInput, NotFound

ADA = ("Ada Lovelace", "ada@example.com")


async def test_an_existing_person_is_never_renamed(database: Database) -> None:
    async with database.writer() as db:
        ada = await users.get_or_create(db, *ADA)
        again = await users.get_or_create(db, "Mallory", " ADA@example.com ")
        signed_in, _ = await identity.sign_in_local(db, "Also Mallory", "ada@example.com", ttl_seconds=60)
        await db.commit()
    assert again.id == ada.id == signed_in.id
    async with database.session() as db:
        assert [(u.name, u.email) for u in (await db.exec(select(User))).all()] == [ADA]


@pytest.mark.parametrize(("name", "email"), [("", "a@b"), ("Ada", "no-at"), ("Ada", "a b@c"), ("x" * 201, "a@b"),
                                             ("Ada", "a@" + "b" * 320), ("Ada", "@b"), ("Ada", "a@")])
async def test_a_person_needs_a_name_and_an_email_that_fit(database: Database, name: str, email: str) -> None:
    async with database.writer() as db:
        with pytest.raises(InvalidInput):
            await users.get_or_create(db, name, email)


async def test_a_sign_in_works_until_it_expires_or_is_revoked(database: Database) -> None:
    async with database.writer() as db:
        user, token = await identity.sign_in_local(db, *ADA, ttl_seconds=3600)
        _, other = await identity.sign_in_local(db, *ADA, ttl_seconds=3600)
        await db.commit()
    assert token != other and len(token) >= 43
    async with database.writer() as db:
        assert (await identity.user_for_sign_in(db, token)).id == user.id  # type: ignore[union-attr]
        stored = (await db.exec(select(SignIn))).all()
        assert token not in {s.token_hash for s in stored} and identity.token_hash(token) in {
            s.token_hash for s in stored}
        await identity.sign_out(db, token)
        await db.commit()
    async with database.writer() as db:
        assert await identity.user_for_sign_in(db, token) is None
        assert await identity.user_for_sign_in(db, other) is not None  # only that sign-in ended
        row = (await db.exec(select(SignIn).where(SignIn.token_hash == identity.token_hash(other)))).one()
        row.expires_at = utcnow() - timedelta(seconds=1)
        db.add(row)
        await db.commit()
    async with database.writer() as db:
        assert await identity.user_for_sign_in(db, other) is None
        assert await identity.user_for_sign_in(db, "no such token") is None


async def test_last_seen_is_refreshed_at_most_once_a_minute(database: Database) -> None:
    async with database.writer() as db:
        _, token = await identity.sign_in_local(db, *ADA, ttl_seconds=3600)
        await db.commit()

    async def last_seen() -> object:
        async with database.session() as db:
            return (await db.exec(select(SignIn.last_seen_at))).one()

    first = await last_seen()
    async with database.writer() as db:
        await identity.user_for_sign_in(db, token)
        await db.commit()
    assert await last_seen() == first  # used again within a minute: no write
    async with database.writer() as db:
        row = (await db.exec(select(SignIn))).one()
        row.last_seen_at = utcnow() - timedelta(minutes=2)
        db.add(row)
        await db.commit()
    async with database.writer() as db:
        await identity.user_for_sign_in(db, token)
        await db.commit()
    assert utcnow() - await last_seen() < timedelta(minutes=1)  # type: ignore[operator]


async def test_api_tokens_are_shown_once_stored_hashed_listed_and_revoked(database: Database) -> None:
    async with database.writer() as db:
        ada = await users.get_or_create(db, *ADA)
        bob = await users.get_or_create(db, "Bob", "bob@example.com")
        row, plaintext = await identity.create_api_token(db, ada, " laptop ")
        await identity.create_api_token(db, bob, "bob's")
        await db.commit()
    assert plaintext.startswith("oi_") and row.prefix == plaintext[:10] and row.name == "laptop"
    async with database.writer() as db:
        stored = (await db.exec(select(ApiToken).where(ApiToken.id == row.id))).one()
        assert stored.token_hash == identity.token_hash(plaintext) and plaintext not in stored.token_hash
        assert stored.last_used_at is None
        assert (await identity.user_for_api_token(db, plaintext)).id == ada.id  # type: ignore[union-attr]
        await db.commit()
    async with database.writer() as db:
        assert [t.id for t in await identity.list_api_tokens(db, ada)] == [row.id]
        assert (await db.get(ApiToken, row.id)).last_used_at is not None  # type: ignore[union-attr]
        with pytest.raises(NotFound):
            await identity.revoke_api_token(db, bob, row.id)  # not Bob's to revoke
        await identity.revoke_api_token(db, ada, row.id)
        await db.commit()
    async with database.writer() as db:
        assert await identity.user_for_api_token(db, plaintext) is None
        assert await identity.list_api_tokens(db, ada) == []
        with pytest.raises(InvalidInput):
            await identity.create_api_token(db, ada, " ")


async def test_a_token_that_is_not_an_api_token_is_never_looked_up(database: Database) -> None:
    async with database.session() as db:
        assert await identity.find_api_token(db, "a-sandbox-bridge-token") is None
        assert await identity.find_api_token(db, "oi_guessed") is None


def test_a_key_file_is_made_once_private_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "data" / "session-secret"
    key = keys.load_or_create(path)
    assert len(key) == keys.KEY_BYTES
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keys.load_or_create(path) == key
    assert [p.name for p in path.parent.iterdir()] == ["session-secret"]  # no temporary file left


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "session-secret"
    keys.load_or_create(path)
    path.chmod(0o644)
    with pytest.raises(keys.KeyFileError, match="chmod 600"):
        keys.load_or_create(path)
    path.chmod(0o600)
    path.write_text("not base64 !!\n")
    with pytest.raises(keys.KeyFileError):
        keys.load_or_create(path)
