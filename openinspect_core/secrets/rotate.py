"""Rotate the encryption key: ``python -m openinspect_core.secrets.rotate [--reencrypt-only]``.

1. With the data directory's key file (``OPENINSPECT_ENCRYPTION_KEY`` unset): a new random key
   replaces it, and the old one is appended to ``<data dir>/encryption-key.previous`` first, so
   every value stays readable whatever happens next. With the setting, the operator puts the
   new key there and the old one in ``OPENINSPECT_ENCRYPTION_PREVIOUS_KEYS``; this step is skipped.
2. Every encrypted value — secrets and GitHub user tokens — not yet under the current key is
   decrypted (with its previous key) and encrypted again with the current one, bound to the
   same associated data.

It prints what it did (counts and key ids; never a value). Running it again re-encrypts only
what is still under another key, so after restarting the other processes (they read the keys at
start, and until then write with the old one) ``--reencrypt-only`` picks up the stragglers; once
it reports nothing under previous keys, those keys may be removed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import col, select

from openinspect_core import keys
from openinspect_core.crypto import (
    KEY_BYTES,
    KEY_FILE_NAME,
    PREVIOUS_KEYS_FILE_NAME,
    Cipher,
    DecryptionError,
    key_id_of,
    stored_key_id,
)
from openinspect_core.db import Database
from openinspect_core.github.accounts import associated_data as github_associated_data
from openinspect_core.models import GitHubAccount, Secret
from openinspect_core.secrets.store import row_associated_data
from openinspect_core.settings import Settings

GITHUB_TOKEN_COLUMNS = ("access_token", "refresh_token")


@dataclass
class Report:
    key_id: str
    reencrypted: dict[str, int] = field(default_factory=lambda: {"secrets": 0, "github tokens": 0})
    current: dict[str, int] = field(default_factory=lambda: {"secrets": 0, "github tokens": 0})
    unreadable: list[str] = field(default_factory=list)  # where: "secret NAME (scope)", "github_account ID column"

    def lines(self) -> list[str]:
        found = [f"{kind}: {self.reencrypted[kind]} re-encrypted, {self.current[kind]} already under the current key"
                 for kind in self.reencrypted]
        found += [f"does not decrypt with any key here (left as it is): {where}" for where in self.unreadable]
        return found


def new_key_file(data_dir: Path) -> tuple[str, str]:
    """Replace the key file with a new key, the old one kept as previous; (old key id, new key id)."""
    key_file = data_dir / KEY_FILE_NAME
    old = keys.load_or_create(key_file, KEY_BYTES)
    keys.append(data_dir / PREVIOUS_KEYS_FILE_NAME, old)  # first: a crash after this loses nothing
    new = keys.replace(key_file, KEY_BYTES)
    return key_id_of(old), key_id_of(new)


async def reencrypt_all(database: Database, cipher: Cipher) -> Report:
    """Every encrypted value not under ``cipher``'s current key, re-encrypted with it."""
    report = Report(cipher.key_id)
    async with database.writer() as db:
        for row in (await db.exec(select(Secret).with_for_update())).all():
            if stored_key_id(row.value) == cipher.key_id and row.key_id == cipher.key_id:
                report.current["secrets"] += 1
                continue
            try:
                row.value = cipher.reencrypt(row.value, row_associated_data(row)) or row.value
            except DecryptionError:
                report.unreadable.append(f"secret {row.name} ({row.scope_key})")
                continue
            row.key_id = cipher.key_id
            db.add(row)
            report.reencrypted["secrets"] += 1
        accounts = (await db.exec(select(GitHubAccount).where(
            col(GitHubAccount.access_token).is_not(None) | col(GitHubAccount.refresh_token).is_not(None))
            .with_for_update())).all()
        for account in accounts:
            for column in GITHUB_TOKEN_COLUMNS:
                stored = getattr(account, column)
                if stored is None:
                    continue
                try:
                    again = cipher.reencrypt(stored, github_associated_data(account.id, column))
                except DecryptionError:
                    report.unreadable.append(f"github_account {account.id} {column}")
                    continue
                if again is None:
                    report.current["github tokens"] += 1
                else:
                    setattr(account, column, again)
                    db.add(account)
                    report.reencrypted["github tokens"] += 1
        await db.commit()
    return report


async def _run(settings: Settings, new_key: bool) -> int:
    if new_key and settings.encryption_key:
        print("OPENINSPECT_ENCRYPTION_KEY is set, so no key file is rotated: put the new key in it and the old one "
              "in OPENINSPECT_ENCRYPTION_PREVIOUS_KEYS, restart, and run this again to re-encrypt.")
    elif new_key:
        old_id, new_id = new_key_file(Path(settings.data_dir))
        print(f"new encryption key {new_id}; the old key {old_id} is kept in "
              f"{Path(settings.data_dir) / PREVIOUS_KEYS_FILE_NAME} to read older values")
    cipher = Cipher.from_settings(settings)
    database = Database(settings.database_url)
    try:
        database.migrate()
        report = await reencrypt_all(database, cipher)
    finally:
        await database.dispose()
    print(f"current key: {cipher.key_id}")
    for line in report.lines():
        print(line)
    if report.unreadable:
        return 1
    print("every value is under the current key; restart the web and worker processes (they read the keys at "
          "start), run this again with --reencrypt-only, then the previous keys may be removed")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m openinspect_core.secrets.rotate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reencrypt-only", action="store_true",
                        help="make no new key; re-encrypt what is not under the current key yet")
    args = parser.parse_args(argv)
    return asyncio.run(_run(Settings.from_env(os.environ), new_key=not args.reencrypt_only))


if __name__ == "__main__":
    sys.exit(main())
