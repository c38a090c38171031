"""Encryption at rest: AES-256-GCM, a fresh nonce per value, bound to where the value lives."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from openinspect_core.crypto import KEY_FILE_NAME, Cipher, DecryptionError
from openinspect_core.settings import ConfigError, Settings


def test_a_value_comes_back_only_with_its_associated_data() -> None:
    cipher = Cipher(os.urandom(32))
    stored = cipher.encrypt("ghu_secret", "github_account:a1:access_token")
    assert "ghu_secret" not in stored
    assert cipher.decrypt(stored, "github_account:a1:access_token") == "ghu_secret"
    with pytest.raises(DecryptionError, match="moved from another row"):
        cipher.decrypt(stored, "github_account:b2:access_token")  # copied into another row
    with pytest.raises(DecryptionError):
        cipher.decrypt(stored, "github_account:a1:refresh_token")  # or another column


def test_every_value_gets_its_own_nonce() -> None:
    cipher = Cipher(os.urandom(32))
    first, second = cipher.encrypt("same", "ad"), cipher.encrypt("same", "ad")
    assert first != second
    nonce = lambda s: base64.urlsafe_b64decode(s.split(".")[2])[:12]  # noqa: E731
    assert nonce(first) != nonce(second)


def test_an_altered_value_or_another_key_is_refused_saying_which() -> None:
    cipher, other = Cipher(os.urandom(32)), Cipher(os.urandom(32))
    stored = cipher.encrypt("value", "ad")
    version, key_id, payload = stored.split(".")
    flipped = payload[:-4] + ("AAAA" if payload[-4:] != "AAAA" else "BBBB")
    with pytest.raises(DecryptionError):
        cipher.decrypt(f"{version}.{key_id}.{flipped}", "ad")
    with pytest.raises(DecryptionError, match=f"another key \\({cipher.key_id}\\)"):
        other.decrypt(stored, "ad")
    with pytest.raises(DecryptionError, match="not a value"):
        cipher.decrypt("plaintext", "ad")


def test_the_key_is_made_once_in_a_private_file(tmp_path: Path) -> None:
    settings = Settings.from_env({"OPENINSPECT_DATA_DIR": str(tmp_path)})
    first = Cipher.from_settings(settings)
    key_file = tmp_path / KEY_FILE_NAME
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    stored = first.encrypt("kept across restarts", "ad")
    assert Cipher.from_settings(settings).decrypt(stored, "ad") == "kept across restarts"


def test_the_key_from_the_setting(tmp_path: Path) -> None:
    key = os.urandom(32)
    settings = Settings.from_env({"OPENINSPECT_DATA_DIR": str(tmp_path),
                                  "OPENINSPECT_ENCRYPTION_KEY": base64.b64encode(key).decode()})
    assert Cipher.from_settings(settings).key_id == Cipher(key).key_id
    assert not (tmp_path / KEY_FILE_NAME).exists()
    for bad in ("not base64!", base64.b64encode(b"short").decode()):
        with pytest.raises(ConfigError, match=r"OPENINSPECT_ENCRYPTION_KEY|32 bytes"):
            Cipher.from_settings(Settings.from_env({"OPENINSPECT_DATA_DIR": str(tmp_path),
                                                    "OPENINSPECT_ENCRYPTION_KEY": bad}))
    assert "key" not in repr(Cipher(key)).replace("key_id", "")
