"""Sign-in with GitHub: the GitHub App's user authorization (OAuth 2.0 authorization code + PKCE).

Owns the OAuth side only: the authorize URL (with a fresh ``state`` and a PKCE
S256 challenge), exchanging the code GitHub sends back for the person's user
token, and refreshing that token (GitHub Apps' user tokens expire after 8 hours;
their refresh tokens are single use and last 6 months). Everything goes through
Authlib's :class:`AsyncOAuth2Client`.

It leaves to others: where the state and verifier wait between the two legs (the
web app's signed cookie, ``openinspect_app/api/github_routes.py``), who may sign
in and where tokens are stored (:mod:`openinspect_core.github.accounts`).

The client secret travels in the body (``client_secret_post``), as GitHub's
documentation shows it; GitHub ignores ``scope`` for Apps (the App's permissions
decide), so none is sent.
"""

from __future__ import annotations

import secrets
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from openinspect_core.models import utcnow
from openinspect_core.settings import Settings

with warnings.catch_warnings():
    # Why: Authlib 1.9 prefers the httpx2 package and warns (once, at import) when it falls back to
    # httpx, which this project pins; the fallback is the supported client until Authlib drops it.
    # Its own module adds an "always" filter for its warnings when imported, so it is imported first
    # (inside this block, so that filter does not outlive it) and the "ignore" goes in front of it.
    import authlib.deprecate  # type: ignore[import-untyped]  # noqa: F401

    warnings.filterwarnings("ignore", message="The httpx module is deprecated")
    from authlib.integrations.httpx_client import (  # type: ignore[import-untyped]
        AsyncOAuth2Client,
        OAuthError,
    )

AUTHORIZE_PATH = "/login/oauth/authorize"
TOKEN_PATH = "/login/oauth/access_token"
CALLBACK_PATH = "/api/auth/github/callback"
# Why: RFC 7636 allows 43..128 characters; 64 random URL-safe characters carry 384 bits.
VERIFIER_CHARS = 64
STATE_BYTES = 32  # 256 bits: the state cannot be guessed by a page that wants to plant a sign-in
# Why: GitHub answers the token endpoint in well under a second; 30 s means it is down.
TOKEN_TIMEOUT_SECONDS = 30.0


class OAuthFailed(RuntimeError):
    """GitHub refused the code or the refresh token, or could not be reached; ``code`` is GitHub's error
    (``bad_verification_code``, ``bad_refresh_token``, ...) or ``unreachable``."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class OAuthConfig:
    """Where GitHub's OAuth endpoints are and who we are to them."""

    client_id: str
    client_secret: str = field(repr=False)
    web_url: str  # GitHub's web address (github.com, or a GitHub Enterprise Server)
    redirect_uri: str  # our callback, as GitHub must send the browser back to it

    @classmethod
    def from_settings(cls, settings: Settings) -> OAuthConfig | None:
        """The configuration, or None when no client id/secret is set (GitHub sign-in is then off)."""
        if not settings.github_client_id or not settings.github_client_secret:
            return None
        return cls(client_id=settings.github_client_id, client_secret=settings.github_client_secret,
                   web_url=settings.github_url.rstrip("/"), redirect_uri=settings.origin + CALLBACK_PATH)

    @property
    def authorize_url(self) -> str:
        return self.web_url + AUTHORIZE_PATH

    @property
    def token_url(self) -> str:
        return self.web_url + TOKEN_PATH


@dataclass(frozen=True)
class PendingSignIn:
    """What the first leg leaves for the second: kept by the browser, signed by us, never shown to GitHub
    (GitHub sees only ``state`` and the verifier's S256 challenge)."""

    state: str
    code_verifier: str = field(repr=False)
    next_path: str


@dataclass(frozen=True)
class UserTokens:
    """A person's user token and refresh token with their expiries (None: GitHub said they do not expire,
    which happens when the App has expiring user tokens turned off)."""

    access_token: str = field(repr=False)
    access_expires_at: datetime | None
    refresh_token: str | None = field(default=None, repr=False)
    refresh_expires_at: datetime | None = None

    @classmethod
    def from_answer(cls, answer: dict[str, Any]) -> UserTokens:
        now = utcnow()

        def after(key: str) -> datetime | None:
            seconds = answer.get(key)
            return now + timedelta(seconds=int(seconds)) if seconds not in (None, "") else None

        token = answer.get("access_token")
        if not isinstance(token, str) or not token:
            raise OAuthFailed("GitHub's token answer has no access_token", "invalid_answer")
        refresh = answer.get("refresh_token")
        return cls(access_token=token, access_expires_at=after("expires_in"),
                   refresh_token=refresh if isinstance(refresh, str) and refresh else None,
                   refresh_expires_at=after("refresh_token_expires_in"))


def _client(config: OAuthConfig) -> AsyncOAuth2Client:
    return AsyncOAuth2Client(client_id=config.client_id, client_secret=config.client_secret,
                             token_endpoint_auth_method="client_secret_post", redirect_uri=config.redirect_uri,
                             code_challenge_method="S256", timeout=TOKEN_TIMEOUT_SECONDS, trust_env=False)


def start(config: OAuthConfig, next_path: str) -> tuple[str, PendingSignIn]:
    """The authorize URL to send the browser to, and what the callback needs to finish."""
    state = secrets.token_urlsafe(STATE_BYTES)
    verifier = secrets.token_urlsafe(VERIFIER_CHARS)[:VERIFIER_CHARS]
    client = _client(config)
    url, _ = client.create_authorization_url(config.authorize_url, state=state, code_verifier=verifier)
    return url, PendingSignIn(state=state, code_verifier=verifier, next_path=next_path)


def state_matches(pending: PendingSignIn | None, returned_state: str | None) -> bool:
    """Whether GitHub sent back the state this browser started with (constant time)."""
    if pending is None or not returned_state:
        return False
    return secrets.compare_digest(pending.state.encode(), returned_state.encode())


async def exchange(config: OAuthConfig, pending: PendingSignIn, code: str) -> UserTokens:
    """The person's tokens for the code GitHub sent back (the verifier proves we asked for it)."""
    async with _client(config) as client:
        try:
            answer = await client.fetch_token(config.token_url, grant_type="authorization_code", code=code,
                                              code_verifier=pending.code_verifier)
        except OAuthError as exc:
            raise OAuthFailed(f"GitHub refused the sign-in code: {exc.description or exc.error}",
                              str(exc.error)) from None
        except Exception as exc:  # network errors: httpx's, whatever their class
            raise OAuthFailed(f"GitHub could not be reached to finish the sign-in: {type(exc).__name__}",
                              "unreachable") from None
    return UserTokens.from_answer(dict(answer))


async def refresh(config: OAuthConfig, refresh_token: str) -> UserTokens:
    """New tokens for a refresh token (which GitHub then spends: keep the new one)."""
    async with _client(config) as client:
        try:
            answer = await client.refresh_token(config.token_url, refresh_token=refresh_token)
        except OAuthError as exc:
            raise OAuthFailed(f"GitHub refused the refresh token: {exc.description or exc.error}",
                              str(exc.error)) from None
        except Exception as exc:
            raise OAuthFailed(f"GitHub could not be reached to refresh a token: {type(exc).__name__}",
                              "unreachable") from None
    return UserTokens.from_answer(dict(answer))
