"""Tokens and OAuth codes: issuing, looking up, expiring, revoking.

Owns every credential the fake hands out — installation tokens (``ghs_``, one hour),
user access tokens (``ghu_``, eight hours) and their refresh tokens (``ghr_``, six
months, single use), and OAuth authorization codes (ten minutes, single use,
optionally bound to a PKCE S256 challenge). Token values have GitHub's format: a
prefix, random base62 and a base62 CRC32 checksum. Records carry an ``id`` so the
request log never holds a token value.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import string
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from .world import Account, App, Installation

TokenKind = Literal["installation", "user", "refresh"]

INSTALLATION_TOKEN_TTL = timedelta(hours=1)
USER_TOKEN_TTL = timedelta(seconds=28800)
REFRESH_TOKEN_TTL = timedelta(seconds=15811200)
CODE_TTL = timedelta(minutes=10)

_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_PREFIX = {"installation": "ghs_", "user": "ghu_", "refresh": "ghr_"}


def _base62(number: int, width: int) -> str:
    digits = []
    while number:
        number, rest = divmod(number, 62)
        digits.append(_BASE62[rest])
    return "".join(reversed(digits)).rjust(width, "0")


def new_token_value(kind: TokenKind) -> str:
    """``ghs_``/``ghu_``/``ghr_`` + random base62 + a six-character base62 CRC32 of the random part."""
    length = 70 if kind == "refresh" else 30
    body = "".join(secrets.choice(_BASE62) for _ in range(length))
    return _PREFIX[kind] + body + _base62(zlib.crc32(body.encode()), 6)


def pkce_s256(verifier: str) -> str:
    """The S256 code challenge of a PKCE code verifier (RFC 7636)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(eq=False)
class Token:
    id: int
    value: str
    kind: TokenKind
    app: App
    created_at: datetime
    expires_at: datetime
    installation: Installation | None = None
    repo_ids: frozenset[int] | None = None  # installation tokens narrowed to some repositories
    permissions: dict[str, str] | None = None
    user: Account | None = None
    revoked: bool = False
    used: bool = False  # refresh tokens: spent by a refresh


@dataclass(eq=False)
class OAuthCode:
    value: str
    app: App
    user: Account
    redirect_uri: str
    code_challenge: str | None
    issued_at: datetime
    used: bool = False


class TokenStore:
    """All tokens and codes ever issued. Callers hold the world's lock."""

    def __init__(self) -> None:
        self._tokens: dict[str, Token] = {}
        self._codes: dict[str, OAuthCode] = {}
        self._next_id = 0

    def _issue(self, kind: TokenKind, app: App, now: datetime, ttl: timedelta, **fields: object) -> Token:
        self._next_id += 1
        token = Token(id=self._next_id, value=new_token_value(kind), kind=kind, app=app, created_at=now,
                      expires_at=now + ttl, **fields)  # type: ignore[arg-type]
        self._tokens[token.value] = token
        return token

    def issue_installation(self, inst: Installation, now: datetime, *, repo_ids: frozenset[int] | None,
                           permissions: dict[str, str]) -> Token:
        return self._issue("installation", inst.app, now, INSTALLATION_TOKEN_TTL, installation=inst,
                           repo_ids=repo_ids, permissions=dict(permissions))

    def issue_user_pair(self, app: App, user: Account, now: datetime) -> tuple[Token, Token]:
        access = self._issue("user", app, now, USER_TOKEN_TTL, user=user)
        refresh = self._issue("refresh", app, now, REFRESH_TOKEN_TTL, user=user)
        return access, refresh

    def find(self, value: str) -> Token | None:
        """The token with this value, valid or not."""
        return self._tokens.get(value)

    def valid(self, value: str, now: datetime, kind: TokenKind | None = None) -> Token | None:
        """The token if it exists, is of ``kind``, unexpired, unrevoked and unspent."""
        token = self._tokens.get(value)
        if token is None or token.revoked or token.used or token.expires_at <= now:
            return None
        if kind is not None and token.kind != kind:
            return None
        if token.installation is not None and token.installation.suspended_at is not None:
            return None
        return token

    def values(self) -> list[str]:
        return list(self._tokens)

    def of_user(self, login: str) -> list[Token]:
        return [t for t in self._tokens.values() if t.user is not None and t.user.login == login]

    def of_installation(self, inst: Installation) -> list[Token]:
        return [t for t in self._tokens.values() if t.installation is inst]

    def expire_user(self, login: str, now: datetime) -> None:
        for token in self.of_user(login):
            if token.kind == "user" and token.expires_at > now:
                token.expires_at = now - timedelta(seconds=1)

    def revoke_user(self, login: str) -> None:
        for token in self.of_user(login):
            token.revoked = True

    # -- OAuth codes -------------------------------------------------------------------------------

    def issue_code(self, app: App, user: Account, redirect_uri: str, code_challenge: str | None,
                   now: datetime) -> OAuthCode:
        code = OAuthCode(secrets.token_hex(10), app, user, redirect_uri, code_challenge, now)
        self._codes[code.value] = code
        return code

    def redeem_code(self, value: str, app: App, now: datetime) -> OAuthCode | None:
        """The code if it belongs to the App, is unused and younger than ten minutes."""
        code = self._codes.get(value)
        if code is None or code.app is not app or code.used or now - code.issued_at > CODE_TTL:
            return None
        return code
