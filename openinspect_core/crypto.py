"""Encryption at rest: AES-256-GCM for the tokens and secrets the control plane keeps.

Every value gets a fresh 96-bit nonce, and the caller binds it to where it lives
with *associated data* (e.g. ``github_account:<row id>:access_token``): a
ciphertext copied into another row or column does not decrypt. The stored text
is ``v1.<key id>.<base64url(nonce || ciphertext+tag)>``; the key id (the first
8 hex digits of the key's SHA-256) says which key made it, so a rotation can
tell old values from new ones.

The key is ``OPENINSPECT_ENCRYPTION_KEY`` (base64 of 32 bytes) or, by default, a
random key kept in ``<data dir>/encryption-key`` with mode 0600 (made the first
time; :mod:`openinspect_core.keys`). Several processes (web, workers) must share
it: set the setting (from a Kubernetes Secret) when they do not share a disk.

New values are always encrypted with that *current* key. *Previous* keys
(``OPENINSPECT_ENCRYPTION_PREVIOUS_KEYS`` and ``<data dir>/encryption-key.previous``,
one per line, 0600) only decrypt: they keep values readable across a rotation
(``python -m openinspect_core.secrets.rotate``) until every value is re-encrypted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from openinspect_core import keys
from openinspect_core.settings import ConfigError, Settings

KEY_FILE_NAME = "encryption-key"
PREVIOUS_KEYS_FILE_NAME = "encryption-key.previous"
KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # GCM's standard nonce; random per value (2^32 values per key stay far from collisions)
VERSION = "v1"


class DecryptionError(ValueError):
    """A stored value does not decrypt with this key and associated data (wrong key, moved, or altered)."""


def key_id_of(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


def stored_key_id(stored: str) -> str | None:
    """The id of the key that made a stored value (None: not a value this system encrypted)."""
    version, _, rest = stored.partition(".")
    key_id, _, payload = rest.partition(".")
    return key_id if version == VERSION and payload else None


def decode_key(text: str, where: str) -> bytes:
    """A key written as base64 (standard or URL-safe alphabet) of exactly 32 bytes."""
    try:
        key = base64.b64decode(text.strip().replace("-", "+").replace("_", "/").encode(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{where} must be base64 (32 random bytes)") from None
    if len(key) != KEY_BYTES:
        raise ConfigError(f"{where}: the encryption key must be {KEY_BYTES} bytes, got {len(key)}")
    return key


class Cipher:
    """Encrypts with the current AES-256-GCM key; decrypts with it or any previous key, chosen by key id."""

    def __init__(self, key: bytes, previous: Iterable[bytes] = ()) -> None:
        if len(key) != KEY_BYTES:
            raise ConfigError(f"the encryption key must be {KEY_BYTES} bytes, got {len(key)}")
        self._aead = AESGCM(key)
        self.key_id = key_id_of(key)
        self._by_id = {self.key_id: self._aead}
        for old in previous:
            if len(old) != KEY_BYTES:
                raise ConfigError(f"a previous encryption key must be {KEY_BYTES} bytes, got {len(old)}")
            self._by_id.setdefault(key_id_of(old), AESGCM(old))

    def __repr__(self) -> str:
        return f"Cipher(key_id={self.key_id!r}, previous={sorted(self.previous_key_ids)!r})"

    @property
    def previous_key_ids(self) -> frozenset[str]:
        return frozenset(self._by_id) - {self.key_id}

    @classmethod
    def from_settings(cls, settings: Settings) -> Cipher:
        """The key of ``OPENINSPECT_ENCRYPTION_KEY``, else the data directory's key file; with the
        previous keys of ``OPENINSPECT_ENCRYPTION_PREVIOUS_KEYS`` and the previous-keys file."""
        if settings.encryption_key:
            key = decode_key(settings.encryption_key, "OPENINSPECT_ENCRYPTION_KEY")
        else:
            key = keys.load_or_create(Path(settings.data_dir) / KEY_FILE_NAME, KEY_BYTES)
        previous = [decode_key(text, "OPENINSPECT_ENCRYPTION_PREVIOUS_KEYS")
                    for text in settings.encryption_previous_keys]
        previous += keys.read_all(Path(settings.data_dir) / PREVIOUS_KEYS_FILE_NAME)
        return cls(key, previous)

    def encrypt(self, plaintext: str, associated_data: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), associated_data.encode())
        return f"{VERSION}.{self.key_id}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def decrypt(self, stored: str, associated_data: str) -> str:
        key_id = stored_key_id(stored)
        if key_id is None:
            raise DecryptionError("not a value this system encrypted")
        aead = self._by_id.get(key_id)
        if aead is None:
            raise DecryptionError(f"encrypted with another key ({key_id}); this one is {self.key_id}"
                                  + (f" (previous: {', '.join(sorted(self.previous_key_ids))})"
                                     if self.previous_key_ids else ""))
        try:
            raw = base64.urlsafe_b64decode(stored.split(".", 2)[2].encode())
            return aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], associated_data.encode()).decode()
        except (InvalidTag, binascii.Error, ValueError):
            raise DecryptionError("the value does not decrypt here (altered, or moved from another row)") from None

    def reencrypt(self, stored: str, associated_data: str) -> str | None:
        """``stored`` under the current key, or None when it already is (a rotation's one step)."""
        if stored_key_id(stored) == self.key_id:
            return None
        return self.encrypt(self.decrypt(stored, associated_data), associated_data)
