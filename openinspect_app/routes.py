"""The web app's routes, and builders for links to them."""

from __future__ import annotations

from urllib.parse import quote

SESSIONS = "/"
SIGN_IN = "/signin"
SESSION = "/sessions/[session_id]"


def session_url(session_id: str) -> str:
    return f"/sessions/{session_id}"


def sign_in_url(next_path: str) -> str:
    return f"{SIGN_IN}?next={quote(next_path, safe='/')}"


def session_id_from_path(path: str) -> str:
    """The session id in a /sessions/<id> path ("" when the path is not one)."""
    parts = path.strip("/").split("/")
    return parts[1] if len(parts) == 2 and parts[0] == "sessions" else ""
