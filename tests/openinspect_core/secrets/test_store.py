"""Secrets at rest, on SQLite and PostgreSQL: encrypted and bound to their place, listed by name only,
merged for a session (the repository's value wins), limited per scope, imported all or nothing, audited."""

from __future__ import annotations

from pathlib import Path

import pytest
from openinspect_protocol.redaction import process_redactor
from sqlmodel import select

from openinspect_core.crypto import DecryptionError
from openinspect_core.db import Database
from openinspect_core.models import Secret, SecretAudit
from openinspect_core.secrets import names, store
from openinspect_core.secrets.store import GLOBAL, Scope
from openinspect_core.services.errors import ServiceError
from tests.openinspect_core.secrets.world import World, secrets_world
from tests.support.rows import every_row


async def put(world: World, scope: Scope, name: str, value: str) -> None:
    async with world.context.work() as work:
        await store.set_secret(work.db, world.context.cipher, scope, name, value, world.user)


async def rows(world: World) -> list[Secret]:
    async with world.context.db.session() as db:
        return list((await db.exec(select(Secret).order_by(Secret.scope_key, Secret.name))).all())


async def test_values_are_stored_encrypted_bound_to_scope_and_name(database: Database, tmp_path: Path) -> None:
    async with secrets_world(database, tmp_path) as world:
        await put(world, GLOBAL, "API_KEY", "global-value-1")
        await put(world, world.repo, "API_KEY", "repo-value-22")
        await put(world, world.repo, "OTHER_KEY", "other-value-333")
        dump = repr(await every_row(database))
        for value in ("global-value-1", "repo-value-22", "other-value-333"):
            assert value not in dump
        stored = {(r.scope_key, r.name): r for r in await rows(world)}
        assert {r.key_id for r in stored.values()} == {world.context.cipher.key_id}
        cipher = world.context.cipher
        repo_row = stored[(world.repo.key, "API_KEY")]
        assert cipher.decrypt(repo_row.value, store.associated_data(world.repo, "API_KEY")) == "repo-value-22"
        # A ciphertext moved into another row (scope, or name) does not decrypt there.
        for scope, name in [(GLOBAL, "API_KEY"), (world.repo, "OTHER_KEY"), (Scope("f" * 32), "API_KEY")]:
            with pytest.raises(DecryptionError, match="moved from another row"):
                cipher.decrypt(repo_row.value, store.associated_data(scope, name))
        # ... and the session, given it, refuses to start rather than run without it.
        async with world.context.db.writer() as db:
            other = (await db.exec(select(Secret).where(Secret.scope_key == world.repo.key,
                                                        Secret.name == "OTHER_KEY"))).one()
            other.value = repo_row.value
            db.add(other)
            await db.commit()
        with pytest.raises(store.SecretUnreadable, match="OTHER_KEY"):
            await store.secrets_for_session(world.context, world.session_id)


async def test_a_session_gets_the_global_secrets_with_its_repository_s_on_top(database: Database,
                                                                                tmp_path: Path) -> None:
    async with secrets_world(database, tmp_path) as world:
        await put(world, GLOBAL, "SHARED_KEY", "global-shared")
        await put(world, GLOBAL, "ONLY_GLOBAL", "global-only")
        await put(world, world.repo, "SHARED_KEY", "repo-shared-wins")
        other = Scope("0" * 32)  # no such repository
        async with world.context.work() as work:
            with pytest.raises(ServiceError) as missing:
                await store.set_secret(work.db, world.context.cipher, other, "NOPE_KEY", "abcdefgh", world.user)
        assert missing.value.status_code == 404 and missing.value.code == "no_such_repo"
        values = await store.secrets_for_session(world.context, world.session_id)
        assert values == {"SHARED_KEY": "repo-shared-wins", "ONLY_GLOBAL": "global-only"}
        assert process_redactor().scrub("x repo-shared-wins y") == "x [secret:SHARED_KEY] y"
        await put(world, world.repo, "SHARED_KEY", "repo-shared-changed")  # the next sandbox gets the change
        assert (await store.secrets_for_session(world.context, world.session_id))["SHARED_KEY"] == "repo-shared-changed"
        with pytest.raises(ServiceError, match="no session"):
            await store.secrets_for_session(world.context, "0" * 32)


async def test_names_only_are_listed_with_who_and_when_and_every_change_is_audited(database: Database,
                                                                                   tmp_path: Path) -> None:
    async with secrets_world(database, tmp_path) as world:
        await put(world, world.repo, "TOKEN_A", "value-aaaaaa")
        await put(world, world.repo, "TOKEN_A", "value-bbbbbb")
        async with world.context.work() as work:
            await store.import_dotenv(work.db, world.context.cipher, world.repo,
                                      "TOKEN_B=value-cccccc\nexport TOKEN_C='value-dddddd'\n", world.user)
            await store.delete_secret(work.db, world.repo, "TOKEN_B", world.user)
            with pytest.raises(ServiceError) as gone:
                await store.delete_secret(work.db, world.repo, "TOKEN_B", world.user)
        assert gone.value.code == "no_such_secret"
        async with world.context.db.session() as db:
            listed = await store.list_secrets(db, world.repo)
            assert await store.list_secrets(db, GLOBAL) == []
            audit = await store.audit_log(db, world.repo)
            everything = await store.audit_log(db)
            audit_rows = (await db.exec(select(SecretAudit))).all()
        assert [(s.name, s.scope, s.repo_id, s.updated_by_name) for s in listed] == [
            ("TOKEN_A", "repository", world.repo.repo_id, "Ada"), ("TOKEN_C", "repository", world.repo.repo_id, "Ada")]
        assert [(a.action, a.name) for a in audit] == [  # newest first
            ("delete", "TOKEN_B"), ("import", "TOKEN_C"), ("import", "TOKEN_B"), ("set", "TOKEN_A"), ("set", "TOKEN_A")]
        assert everything == audit
        assert {a.user_name for a in audit} == {"Ada"}
        assert "value-" not in repr(audit_rows)


async def test_limits_hold_and_an_import_is_all_or_nothing(database: Database, tmp_path: Path) -> None:
    async with secrets_world(database, tmp_path) as world:
        before = await rows(world)
        for bad in ("GOOD_ONE=abcdefgh\nPATH=/bin\n", "GOOD_ONE=abcdefgh\nbroken line\n", "# only a comment\n"):
            async with world.context.work() as work:
                with pytest.raises(ServiceError):
                    await store.import_dotenv(work.db, world.context.cipher, GLOBAL, bad, world.user)
        assert await rows(world) == before
        many = "".join(f"KEY_{i}=value-{i:04d}\n" for i in range(names.MAX_PER_SCOPE))
        async with world.context.work() as work:
            await store.import_dotenv(work.db, world.context.cipher, GLOBAL, many, world.user)
        async with world.context.work() as work:
            with pytest.raises(ServiceError) as full:
                await store.set_secret(work.db, world.context.cipher, GLOBAL, "ONE_MORE", "abcdefgh", world.user)
            await store.set_secret(work.db, world.context.cipher, GLOBAL, "KEY_7", "replaced-ok", world.user)
            await store.set_secret(work.db, world.context.cipher, world.repo, "ONE_MORE", "abcdefgh", world.user)
        assert full.value.code == "too_many_secrets" and full.value.status_code == 429
        assert len(await rows(world)) == names.MAX_PER_SCOPE + 1
