"""The sign-in cookie: ``openinspect_session=<sign-in token>.<HMAC-SHA256 of it>``.

The token names a server-side sign-in (``services/identity``); the signature,
made with the session secret, lets a forged or mangled cookie be dropped before
any database lookup. HttpOnly (page scripts never see it), SameSite=Lax (other
sites' requests do not carry it, except top-level navigations), Path=/, and
Secure when the app is reached over https. A cookie that is forged, expired or
revoked counts as no cookie at all.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

COOKIE_NAME = "openinspect_session"
_CONTEXT = b"openinspect-session-cookie:"  # the key signs nothing else in this shape


def _signature(token: str, secret: bytes) -> str:
    digest = hmac.new(secret, _CONTEXT + token.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign(token: str, secret: bytes) -> str:
    return f"{token}.{_signature(token, secret)}"


def unsign(value: str | None, secret: bytes) -> str | None:
    """The sign-in token in a cookie value, or None when the value is not one we signed."""
    if not value or len(value) > 200:
        return None
    token, dot, signature = value.rpartition(".")
    if not dot or not token:
        return None
    if not hmac.compare_digest(signature.encode(), _signature(token, secret).encode()):
        return None
    return token


def _attributes(max_age: int, secure: bool) -> str:
    return f"Max-Age={max_age}; Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if secure else "")


def set_cookie(value: str, *, max_age: int, secure: bool) -> str:
    """A ``Set-Cookie`` header value that stores the signed cookie."""
    return f"{COOKIE_NAME}={value}; {_attributes(max_age, secure)}"


def clear_cookie(*, secure: bool) -> str:
    return f"{COOKIE_NAME}=; {_attributes(0, secure)}"
