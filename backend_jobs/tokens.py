"""Sandbox tokens: random, shown once to the sandbox, stored only as a hash."""

from __future__ import annotations

import hashlib
import secrets

TOKEN_BYTES = 32


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    # A fast hash is right here: the token is 256 random bits, not a password.
    return hashlib.sha256(token.encode()).hexdigest()
