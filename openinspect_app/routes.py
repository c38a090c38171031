"""The web app's routes, and builders for links to them."""

from __future__ import annotations

from urllib.parse import quote

from openinspect_app.http.redirects import safe_next

SESSIONS = "/"
SIGN_IN = "/signin"
SETTINGS = "/settings"
SESSION = "/sessions/[session_id]"
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


def session_id_from_path(path: str) -> str:
    """The session id in a /sessions/<id> path ("" when the path is not one)."""
    parts = path.strip("/").split("/")
    return parts[1] if len(parts) == 2 and parts[0] == "sessions" else ""
