"""A live preview's own credential: a grant in its URL, for one session's one port, for one sign-in.

Why not the sign-in cookie: the preview's pages are served with a CSP ``sandbox``
(docs/security.md#live-previews), so they run in an opaque origin and cannot read
our cookies or call our API as the person. The same opacity makes the browser send
no SameSite cookie with the page's own requests (its scripts, styles, fetches and
WebSockets are "cross-site" from an opaque origin), so those requests carry the
grant in their path instead: ``/sessions/<id>/preview/<port>/<grant>/<path>``, and
relative URLs keep it.

A grant is ``<c|t>-<credential id>-<expiry>-<MAC>``: which credential it was issued
for (a sign-in, or an API token), until when (Unix seconds, base 36), and an
HMAC-SHA256 (the session secret, a context of its own) over that *and* the session
and port. So it opens nothing but that one preview, it ends when it expires or when
its credential does (signing out ends every grant of that sign-in: checked on each
request), and it never holds the credential's secret. Grants are path segments:
``[0-9a-z-]`` and base64url only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Literal

_CONTEXT = b"openinspect-preview-grant:"  # the session secret signs nothing else in this shape
_MAC_BYTES = 16  # 128 bits: unguessable, and short in a URL
_SHAPE = re.compile(r"^([ct])-([0-9a-f]{32})-([0-9a-z]{1,10})-([A-Za-z0-9_-]{22})$")
Via = Literal["cookie", "token"]
_VIA_CODE: dict[Via, str] = {"cookie": "c", "token": "t"}
_CODE_VIA: dict[str, Via] = {code: via for via, code in _VIA_CODE.items()}


@dataclass(frozen=True)
class Grant:
    via: Via  # the credential it was issued for: a sign-in (cookie) or an API token
    credential_id: str  # that sign-in's or token's row id
    expires_at: int  # Unix seconds


def _base36(value: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        value, digit = divmod(value, 36)
        out = digits[digit] + out
        if not value:
            return out


def _mac(secret: bytes, session_id: str, port: int, payload: str) -> str:
    message = _CONTEXT + f"{session_id}:{port}:{payload}".encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()[:_MAC_BYTES]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def issue(secret: bytes, session_id: str, port: int, grant: Grant) -> str:
    """The grant's path segment, for ``session_id``'s ``port``."""
    payload = f"{_VIA_CODE[grant.via]}-{grant.credential_id}-{_base36(grant.expires_at)}"
    return f"{payload}-{_mac(secret, session_id, port, payload)}"


def verify(secret: bytes, session_id: str, port: int, value: str, now: float) -> Grant | None:
    """The grant ``value`` is, if it was issued for this session's port and has not expired; else None.

    Whether its credential still works is the caller's check (it needs the database)."""
    found = _SHAPE.match(value)
    if found is None:
        return None
    code, credential_id, expiry, mac = found.groups()
    payload = value[: -len(mac) - 1]  # the MAC's own alphabet has "-": cut by length, not at the last "-"
    if not hmac.compare_digest(mac.encode(), _mac(secret, session_id, port, payload).encode()):
        return None
    expires_at = int(expiry, 36)
    if expires_at <= now:
        return None
    return Grant(_CODE_VIA[code], credential_id, expires_at)


def looks_like_grant(segment: str) -> bool:
    """Whether a path segment has a grant's shape (not whether it is valid)."""
    return _SHAPE.match(segment) is not None
