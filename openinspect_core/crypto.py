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
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from openinspect_core import keys
from openinspect_core.settings import ConfigError, Settings

KEY_FILE_NAME = "encryption-key"
KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # GCM's standard nonce; random per value (2^32 values per key stay far from collisions)
VERSION = "v1"


class DecryptionError(ValueError):
    """A stored value does not decrypt with this key and associated data (wrong key, moved, or altered)."""


class Cipher:
    """Encrypts and decrypts short values with one AES-256-GCM key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ConfigError(f"the encryption key must be {KEY_BYTES} bytes, got {len(key)}")
        self._aead = AESGCM(key)
        self.key_id = hashlib.sha256(key).hexdigest()[:8]

    def __repr__(self) -> str:
        return f"Cipher(key_id={self.key_id!r})"

    @classmethod
    def from_settings(cls, settings: Settings) -> Cipher:
        """The key of ``OPENINSPECT_ENCRYPTION_KEY``, else the data directory's key file."""
        if settings.encryption_key:
            try:
                key = base64.b64decode(settings.encryption_key.encode(), altchars=b"-_", validate=True)
            except (binascii.Error, ValueError):
                raise ConfigError("OPENINSPECT_ENCRYPTION_KEY must be base64 (32 random bytes)") from None
            return cls(key)
        return cls(keys.load_or_create(Path(settings.data_dir) / KEY_FILE_NAME, KEY_BYTES))

    def encrypt(self, plaintext: str, associated_data: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), associated_data.encode())
        return f"{VERSION}.{self.key_id}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def decrypt(self, stored: str, associated_data: str) -> str:
        version, _, rest = stored.partition(".")
        key_id, _, payload = rest.partition(".")
        if version != VERSION or not payload:
            raise DecryptionError("not a value this system encrypted")
        if key_id != self.key_id:
            raise DecryptionError(f"encrypted with another key ({key_id}); this one is {self.key_id}")
        try:
            raw = base64.urlsafe_b64decode(payload.encode())
            return self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], associated_data.encode()).decode()
        except (InvalidTag, binascii.Error, ValueError):
            raise DecryptionError("the value does not decrypt here (altered, or moved from another row)") from None
