"""The GitHub App's clients: its JWT, installation tokens (cached), and clients acting as a person.

:class:`GitHubApp` is built once per process from the settings (``from_settings``)
and shared. It holds the App's private key and nothing else secret; tokens it
mints are cached in memory until shortly before they expire
(:data:`TOKEN_REFRESH_MARGIN_SECONDS`), keyed by installation, repositories and
permissions, so a narrowed token is never handed out for a wider request.

- ``app_client()``: acts as the App itself (JWT, RS256; githubkit signs it).
- ``installation_token(installation_id, repositories=..., permissions=...)``: a
  token for an installation, narrowed when asked (what the credential broker
  hands to a sandbox: one repository, ``contents: write``).
- ``installation_client(installation_id)``: acts as the installation (repositories,
  pull requests opened by the App).
- ``user_client(access_token)``: acts as a person (their user token).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from githubkit import AppAuthStrategy, GitHub, TokenAuthStrategy
from githubkit.cache import MemCacheStrategy
from githubkit.exception import GitHubException, RequestFailed

from openinspect_core.models import utcnow
from openinspect_core.settings import Settings

# Why: a token handed out must outlive the git command or API call it is for; GitHub's last
# 5 minutes before expiry are a margin wide enough for a slow clone to start.
TOKEN_REFRESH_MARGIN_SECONDS = 300.0
# Why: GitHub answers in well under a second; 30 s means it is down, and a sandbox waiting on
# its credentials should hear so rather than hang.
REQUEST_TIMEOUT_SECONDS = 30.0
USER_AGENT = "openinspect"
PUSH_PERMISSIONS: Mapping[str, str] = {"contents": "write"}  # what a sandbox's git needs, and no more
PR_PERMISSIONS: Mapping[str, str] = {"pull_requests": "write", "contents": "read"}


class GitHubError(RuntimeError):
    """GitHub refused or could not be reached; ``status`` is GitHub's HTTP status (None: unreachable)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def explain(exc: Exception, doing: str) -> GitHubError:
    """A :class:`GitHubError` saying what failed while ``doing`` something, in words a person reads."""
    if isinstance(exc, RequestFailed):
        status = exc.response.status_code
        try:
            message = str(exc.response.json().get("message") or "")
        except ValueError:
            message = ""
        return GitHubError(f"GitHub refused {doing} ({status}{': ' + message if message else ''})", status)
    if isinstance(exc, GitHubException):
        return GitHubError(f"GitHub could not be reached while {doing}: {exc}", None)
    return GitHubError(f"{doing} failed: {type(exc).__name__}: {exc}", None)


@dataclass(frozen=True)
class InstallationToken:
    token: str = field(repr=False)
    expires_at: datetime
    installation_id: int
    repositories: tuple[str, ...]  # names (not owner/name); empty: every repository of the installation
    permissions: tuple[tuple[str, str], ...]

    def fresh(self, margin_seconds: float = TOKEN_REFRESH_MARGIN_SECONDS) -> bool:
        return self.expires_at - utcnow() > timedelta(seconds=margin_seconds)


class GitHubApp:
    """The App's identity and the clients made from it. One per process; safe to share between tasks."""

    def __init__(self, *, app_id: int, private_key: str, api_url: str, web_url: str,
                 client_id: str | None = None, client_secret: str | None = None,
                 webhook_secret: str | None = None) -> None:
        self.app_id = app_id
        self.api_url = api_url.rstrip("/")
        self.web_url = web_url.rstrip("/")
        self.client_id = client_id
        self._private_key = private_key
        self._client_secret = client_secret
        self._webhook_secret = webhook_secret
        self._tokens: dict[tuple[int, tuple[str, ...], tuple[tuple[str, str], ...]], InstallationToken] = {}
        self._lock = asyncio.Lock()
        self._slug: str | None = None
        # Why its own cache: githubkit's default one is process-wide and keys the App's JWT by app id
        # alone, so a JWT signed with an older key of the same id (a rotated key; tests' fake Apps)
        # would be sent for 8 minutes.
        self._cache = MemCacheStrategy()

    def __repr__(self) -> str:
        return f"GitHubApp(app_id={self.app_id}, api_url={self.api_url!r})"

    @classmethod
    def from_settings(cls, settings: Settings) -> GitHubApp | None:
        """The App the settings describe; None when no App is configured (the embedded default)."""
        if not settings.github_enabled:
            return None
        assert settings.github_app_id is not None
        return cls(app_id=int(settings.github_app_id), private_key=settings.github_private_key(),
                   api_url=settings.github_api_url, web_url=settings.github_url,
                   client_id=settings.github_client_id, client_secret=settings.github_client_secret,
                   webhook_secret=settings.github_webhook_secret)

    @property
    def client_secret(self) -> str | None:
        return self._client_secret

    @property
    def webhook_secret(self) -> str | None:
        return self._webhook_secret

    def clone_url(self, full_name: str) -> str:
        """Where git reaches a repository (no credentials: the sandbox's helper supplies them)."""
        return f"{self.web_url}/{full_name}.git"

    def compare_url(self, full_name: str, base: str, head: str) -> str:
        """The page where a person can open a pull request by hand."""
        return f"{self.web_url}/{full_name}/compare/{base}...{head}?expand=1"

    def _client(self, auth: AppAuthStrategy | TokenAuthStrategy) -> GitHub[AppAuthStrategy | TokenAuthStrategy]:
        return GitHub(auth, base_url=self.api_url, user_agent=USER_AGENT, timeout=REQUEST_TIMEOUT_SECONDS,
                      http_cache=False, auto_retry=False, cache_strategy=self._cache)

    def app_client(self) -> GitHub[AppAuthStrategy | TokenAuthStrategy]:
        return self._client(AppAuthStrategy(str(self.app_id), self._private_key))

    def user_client(self, access_token: str) -> GitHub[AppAuthStrategy | TokenAuthStrategy]:
        return self._client(TokenAuthStrategy(access_token))

    async def installation_client(self, installation_id: int,
                                  permissions: Mapping[str, str] | None = None,
                                  repositories: Sequence[str] = ()) -> GitHub[AppAuthStrategy | TokenAuthStrategy]:
        token = await self.installation_token(installation_id, repositories=repositories, permissions=permissions)
        return self._client(TokenAuthStrategy(token.token))

    async def slug(self) -> str:
        """The App's slug (its bot is ``<slug>[bot]``), asked of GitHub once."""
        if self._slug is None:
            async with self.app_client() as gh:
                try:
                    app = (await gh.rest.apps.async_get_authenticated()).parsed_data
                except Exception as exc:
                    raise explain(exc, "reading the App") from None
            self._slug = app.slug if app and isinstance(app.slug, str) else f"app-{self.app_id}"
        return self._slug

    async def installation_token(self, installation_id: int, *, repositories: Sequence[str] = (),
                                 permissions: Mapping[str, str] | None = None) -> InstallationToken:
        """A token for the installation, narrowed to ``repositories`` (names) and ``permissions`` when
        given; the cached one while it has more than the margin left."""
        key = (installation_id, tuple(sorted(repositories)), tuple(sorted((permissions or {}).items())))
        async with self._lock:
            cached = self._tokens.get(key)
            if cached is not None and cached.fresh():
                return cached
            body: dict[str, object] = {}
            if repositories:
                body["repositories"] = list(key[1])
            if permissions:
                body["permissions"] = dict(key[2])
            async with self.app_client() as gh:
                try:
                    answer = await gh.rest.apps.async_create_installation_access_token(
                        installation_id, **({"data": body} if body else {}))
                except Exception as exc:
                    raise explain(exc, f"a token for installation {installation_id}") from None
            parsed = answer.parsed_data
            token = InstallationToken(token=parsed.token, expires_at=_aware(parsed.expires_at),
                                      installation_id=installation_id, repositories=key[1], permissions=key[2])
            self._tokens = {k: v for k, v in self._tokens.items() if v.fresh(0)}
            self._tokens[key] = token
            return token

    def forget_installation(self, installation_id: int) -> None:
        """Drop cached tokens of an installation (it was removed or suspended)."""
        self._tokens = {k: v for k, v in self._tokens.items() if k[0] != installation_id}


def _aware(value: datetime | str) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value if value.tzinfo is not None else value.replace(tzinfo=utcnow().tzinfo)
