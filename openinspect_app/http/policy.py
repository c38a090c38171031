"""What the HTTP boundary enforces, derived once from the settings when the server starts."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from openinspect_app.http.origins import LOOPBACK_HOSTS, accepted_hosts, app_origin, host_of, own_origins
from openinspect_app.slack_bot import SlackBotHandle
from openinspect_core import keys
from openinspect_core.context import AppContext
from openinspect_core.services.sessions import SessionPolicy
from openinspect_core.settings import ConfigError, Settings

SESSION_SECRET_FILE = "session-secret"
MIN_SECRET_CHARS = 32


@functools.cache
def _key_file(path: Path) -> bytes:
    return keys.load_or_create(path)


def session_secret(settings: Settings) -> bytes:
    """The key that signs sign-in cookies: OPENINSPECT_SESSION_SECRET, else ``<data dir>/session-secret``."""
    if settings.session_secret:
        if len(settings.session_secret) < MIN_SECRET_CHARS:
            raise ConfigError(f"OPENINSPECT_SESSION_SECRET must have at least {MIN_SECRET_CHARS} characters "
                              "(or leave it unset to have a random key kept in the data directory)")
        return settings.session_secret.encode()
    return _key_file(settings.data_dir / SESSION_SECRET_FILE)


@dataclass(frozen=True)
class HttpPolicy:
    origins: tuple[str, ...]
    hosts: frozenset[str]
    max_request_bytes: int
    max_page_bytes: int
    secure_cookies: bool  # the app is reached over https: cookies say Secure
    session_secret: bytes
    session_ttl_seconds: int
    local_sign_in: bool  # local sign-in is the identity provider and the server listens on loopback only
    github_sign_in: bool = False  # people sign in with GitHub (the App's user authorization)

    @classmethod
    def of(cls, settings: Settings) -> HttpPolicy:
        return cls(
            origins=own_origins(settings), hosts=accepted_hosts(settings),
            max_request_bytes=settings.max_request_bytes, max_page_bytes=settings.max_page_bytes,
            secure_cookies=app_origin(settings).startswith("https://"), session_secret=session_secret(settings),
            session_ttl_seconds=settings.session_ttl_seconds,
            local_sign_in=local_sign_in_allowed(settings),
            github_sign_in=settings.identity_provider == "github",
        )


@dataclass(frozen=True)
class Attached:
    """The running system as the HTTP boundary sees it."""

    context: AppContext
    policy: HttpPolicy
    sessions: SessionPolicy  # what creating a session is checked against (repositories, limits)
    slack: SlackBotHandle | None = None  # the Slack bot, when it runs in this process (POST /slack/events)

    @classmethod
    def of(cls, context: AppContext, slack: SlackBotHandle | None = None) -> Attached:
        return cls(context, HttpPolicy.of(context.settings), SessionPolicy.from_settings(context.settings), slack)


Current = Callable[[], Attached | None]  # None while the server is starting or stopping


def local_sign_in_allowed(settings: Settings) -> bool:
    """Local sign-in trusts whoever reaches the server, so only where that is someone on this machine:
    the server listens on loopback and browsers reach it there (not through a proxy at a public URL)."""
    return (settings.identity_provider == "local" and settings.on_loopback
            and host_of(app_origin(settings)) in LOOPBACK_HOSTS)


def check_listening(settings: Settings) -> None:
    """Refuse to serve beyond loopback with local sign-in: anyone who could reach the server could
    then sign in as anyone by typing their email. GitHub sign-in may listen anywhere (GitHub says who
    is asking), but it needs the App (its user authorization, and the client GitHub is asked with).
    Called by the web process before it serves."""
    if settings.identity_provider == "github":
        if not settings.github_enabled:
            raise ConfigError("OPENINSPECT_IDENTITY_PROVIDER=github needs the GitHub App: set "
                              "OPENINSPECT_GITHUB_APP_ID and its private key (docs/github.md)")
        return
    if settings.identity_provider != "local":
        return
    if not settings.on_loopback:
        raise ConfigError(
            f"OPENINSPECT_WEB_HOST={settings.web_host} listens beyond loopback, but the identity provider is "
            "local sign-in (anyone who reaches the server could sign in as anyone). Listen on 127.0.0.1, or "
            "configure another identity provider (OPENINSPECT_IDENTITY_PROVIDER).")
    if host_of(app_origin(settings)) not in LOOPBACK_HOSTS:
        raise ConfigError(
            f"OPENINSPECT_PUBLIC_URL={settings.public_url} is not a loopback address, but the identity provider is "
            "local sign-in (a proxy at that URL would let anyone sign in as anyone). Configure another identity "
            "provider (OPENINSPECT_IDENTITY_PROVIDER), or leave OPENINSPECT_PUBLIC_URL unset.")
