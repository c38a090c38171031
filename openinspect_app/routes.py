"""The web app's routes, and builders for links to them."""

from __future__ import annotations

from urllib.parse import quote

from openinspect_app.http.redirects import safe_next

SESSIONS = "/"
SIGN_IN = "/signin"
SETTINGS = "/settings"
SESSION = "/sessions/[session_id]"
SLACK_LINK = "/settings/slack/link"  # ?code=<the code the Slack bot gave>: link that Slack user to you
# The HTTP endpoints the pages post forms to (only an HTTP response can set an HttpOnly cookie).
AUTH_LOCAL = "/api/auth/local"
AUTH_SIGN_OUT = "/api/auth/sign-out"
AUTH_GITHUB_LOGIN = "/api/auth/github/login"  # starts GitHub's sign-in (an HTTP redirect, no page script)


def session_url(session_id: str) -> str:
    return f"/sessions/{session_id}"


def sign_in_url(next_path: str) -> str:
    return f"{SIGN_IN}?next={quote(safe_next(next_path, SESSIONS), safe='/')}"


def github_sign_in_url(next_path: str) -> str:
    return f"{AUTH_GITHUB_LOGIN}?next={quote(safe_next(next_path, SESSIONS), safe='/')}"


def slack_thread_url(channel_id: str, thread_ts: str) -> str:
    """A Slack thread's address: its parent message's permalink (Slack sends it on to the workspace)."""
    return f"https://slack.com/archives/{quote(channel_id, safe='')}/p{quote(thread_ts.replace('.', ''), safe='')}"


def session_id_from_path(path: str) -> str:
    """The session id in a /sessions/<id> path ("" when the path is not one)."""
    parts = path.strip("/").split("/")
    return parts[1] if len(parts) == 2 and parts[0] == "sessions" else ""
