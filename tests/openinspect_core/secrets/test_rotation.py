"""Keys: the current one encrypts, previous ones only decrypt; rotating (the real command) keeps every
value readable — secrets and GitHub user tokens — and leaves none under the old key."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from openinspect_core.crypto import KEY_FILE_NAME, PREVIOUS_KEYS_FILE_NAME, Cipher, DecryptionError
from openinspect_core.db import Database
from openinspect_core.github import accounts, oauth
from openinspect_core.keys import KeyFileError
from openinspect_core.models import GitHubAccount, Secret, utcnow
from openinspect_core.secrets import store
from openinspect_core.secrets.store import GLOBAL
from openinspect_core.settings import ConfigError, Settings
from tests.openinspect_core.secrets.world import World, context_for, secrets_world
from tests.support.rows import every_row

REPO_ROOT = Path(__file__).resolve().parents[3]
GITHUB_TOKEN, GITHUB_REFRESH = "ghu_rotation_access_token", "ghr_rotation_refresh_token"
VALUES = {("global", "DEPLOY_KEY"): "deploy-value-1", ("repo", "DEPLOY_KEY"): "deploy-value-repo",
          ("repo", "DB_PASSWORD"): "hunter2-but-longer"}


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def test_previous_keys_decrypt_and_only_the_current_one_encrypts() -> None:
    old, new = os.urandom(32), os.urandom(32)
    stored = Cipher(old).encrypt("before the rotation", "ad")
    rotated = Cipher(new, [old])
    assert rotated.decrypt(stored, "ad") == "before the rotation"
    assert rotated.encrypt("after", "ad").split(".")[1] == rotated.key_id != Cipher(old).key_id
    again = rotated.reencrypt(stored, "ad")
    assert again is not None and Cipher(new).decrypt(again, "ad") == "before the rotation"
    assert rotated.reencrypt(again, "ad") is None  # already under the current key
    with pytest.raises(DecryptionError, match="moved from another row"):
        rotated.decrypt(stored, "other ad")  # the previous key does not loosen the binding
    with pytest.raises(DecryptionError, match=f"another key \\({Cipher(old).key_id}\\)"):
        Cipher(new).decrypt(stored, "ad")


def test_previous_keys_come_from_the_setting_and_the_private_file(tmp_path: Path) -> None:
    old_setting, old_file, current = os.urandom(32), os.urandom(32), os.urandom(32)
    previous_file = tmp_path / PREVIOUS_KEYS_FILE_NAME
    previous_file.write_text(f"# rotated 2026-01\n{base64.urlsafe_b64encode(old_file).decode()}\n")
    os.chmod(tmp_path / PREVIOUS_KEYS_FILE_NAME, 0o600)
    settings = Settings.from_env({"OPENINSPECT_DATA_DIR": str(tmp_path), "OPENINSPECT_ENCRYPTION_KEY": b64(current),
                                  "OPENINSPECT_ENCRYPTION_PREVIOUS_KEYS": b64(old_setting)})
    assert b64(old_setting) not in repr(settings)
    cipher = Cipher.from_settings(settings)
    assert cipher.key_id == Cipher(current).key_id
    assert cipher.previous_key_ids == {Cipher(old_setting).key_id, Cipher(old_file).key_id}
    for old in (old_setting, old_file):
        assert cipher.decrypt(Cipher(old).encrypt("kept", "ad"), "ad") == "kept"
    os.chmod(tmp_path / PREVIOUS_KEYS_FILE_NAME, 0o644)
    with pytest.raises(KeyFileError, match="readable by other users"):
        Cipher.from_settings(settings)
    with pytest.raises(ConfigError, match="OPENINSPECT_ENCRYPTION_PREVIOUS_KEYS"):
        Cipher.from_settings(Settings.from_env({"OPENINSPECT_DATA_DIR": str(tmp_path / "x"),
                                                "OPENINSPECT_ENCRYPTION_PREVIOUS_KEYS": "not base64!"}))


async def fill(world: World) -> str:
    """The values above and a GitHub account with both tokens; the account's id."""
    async with world.context.work() as work:
        for (where, name), value in VALUES.items():
            await store.set_secret(work.db, world.context.cipher, GLOBAL if where == "global" else world.repo, name,
                                   value, world.user)
        profile = accounts.GitHubProfile(id=4242, login="ada-gh", name="Ada", email="ada@example.com",
                                         email_verified=True)
        tokens = oauth.UserTokens(GITHUB_TOKEN, utcnow() + timedelta(hours=8), GITHUB_REFRESH,
                                  utcnow() + timedelta(days=30))
        await accounts.sign_in_github(work.db, world.context.cipher, profile, tokens, ttl_seconds=3600)
        account = (await work.db.exec(select(GitHubAccount))).one()
    return account.id


def rotate(data_dir: Path, database: Database, *args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "openinspect_core.secrets.rotate", *args], cwd=REPO_ROOT, capture_output=True,
        text=True, timeout=120,
        env={**os.environ, "OPENINSPECT_DATA_DIR": str(data_dir), "OPENINSPECT_DATABASE_URL": database.url,
             **(env or {})})
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


async def readable_with(cipher: Cipher, world: World, account_id: str) -> None:
    """Every value, read back with ``cipher``: secrets as a session gets them, the GitHub tokens."""
    context = context_for(world.context.db, world.context.settings.data_dir)
    object.__setattr__(context, "cipher", cipher)
    got = await store.secrets_for_session(context, world.session_id)
    assert got == {"DEPLOY_KEY": VALUES[("repo", "DEPLOY_KEY")], "DB_PASSWORD": VALUES[("repo", "DB_PASSWORD")]}
    async with world.context.db.session() as db:
        account = await db.get(GitHubAccount, account_id)
        secrets = (await db.exec(select(Secret))).all()
    assert account is not None and account.access_token and account.refresh_token
    assert cipher.decrypt(account.access_token, accounts.associated_data(account_id, "access_token")) == GITHUB_TOKEN
    refresh = cipher.decrypt(account.refresh_token, accounts.associated_data(account_id, "refresh_token"))
    assert refresh == GITHUB_REFRESH
    assert cipher.decrypt(next(s.value for s in secrets if s.scope_key == "global"),
                          "secret:global:DEPLOY_KEY") == VALUES[("global", "DEPLOY_KEY")]


async def test_rotating_the_key_file_keeps_every_value_readable(database: Database, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    async with secrets_world(database, data_dir) as world:
        account_id = await fill(world)
        old = world.context.cipher
        assert f"v1.{old.key_id}." in repr(await every_row(database))

        out = rotate(data_dir, database)
        new = Cipher.from_settings(world.context.settings)
        assert new.key_id != old.key_id and new.previous_key_ids == {old.key_id}
        assert os.stat(data_dir / KEY_FILE_NAME).st_mode & 0o777 == 0o600
        assert os.stat(data_dir / PREVIOUS_KEYS_FILE_NAME).st_mode & 0o777 == 0o600
        assert "secrets: 3 re-encrypted" in out and "github tokens: 2 re-encrypted" in out
        for value in (*VALUES.values(), GITHUB_TOKEN, GITHUB_REFRESH):
            assert value not in out
        dump = repr(await every_row(database))
        assert old.key_id not in dump  # neither in a ciphertext nor in a key_id column
        async with database.session() as db:
            assert {s.key_id for s in (await db.exec(select(Secret))).all()} == {new.key_id}
        await readable_with(new, world, account_id)
        key = (data_dir / KEY_FILE_NAME).read_text().strip()
        await readable_with(Cipher(base64.urlsafe_b64decode(key)), world, account_id)  # the new key alone reads all

        again = rotate(data_dir, database, "--reencrypt-only")  # idempotent: nothing left to do
        assert "secrets: 0 re-encrypted, 3 already" in again and "github tokens: 0 re-encrypted, 2 already" in again
        assert Cipher.from_settings(world.context.settings).key_id == new.key_id


async def test_rotating_to_a_key_in_the_setting(database: Database, tmp_path: Path) -> None:
    first, second = os.urandom(32), os.urandom(32)
    data_dir = tmp_path / "data"
    async with secrets_world(database, data_dir, encryption_key=b64(first)) as world:
        account_id = await fill(world)
        keys = {"OPENINSPECT_ENCRYPTION_KEY": b64(second), "OPENINSPECT_ENCRYPTION_PREVIOUS_KEYS": b64(first)}
        out = rotate(data_dir, database, "--reencrypt-only", env=keys)
        assert "secrets: 3 re-encrypted" in out
        assert not (data_dir / KEY_FILE_NAME).exists()
        assert Cipher(first).key_id not in repr(await every_row(database))
        await readable_with(Cipher(second), world, account_id)
