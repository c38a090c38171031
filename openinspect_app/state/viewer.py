"""Who is asking, for a Reflex event: the person the HttpOnly sign-in cookie names, checked on the server.

The browser tab never says who it is. Reflex hands every event the request
headers of the tab's WebSocket upgrade (``router.headers``), and the ``Cookie``
header among them stays on the server (Reflex 0.10 never serialises it to the
page). The sign-in cookie in it (``http/cookies.py``: ``<token>.<signature>``)
is checked for its signature, then its token is looked up the way the HTTP
boundary does (``http/authn.user_for``: neither expired nor revoked). What the
page shows of the person — name, email — comes from that ``User`` row.

A positive answer is kept per tab (its client token) for a few seconds
(``live/sign_ins.py``), keyed by a hash of the cookie it came with, so a burst
of events costs one lookup; a revoked or expired sign-in stops working once the
entry is older than that. Refusals are never kept: a forged cookie costs an
HMAC, no database.
"""

from __future__ import annotations

import hashlib

from openinspect_protocol.logs import EventLog
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import cookie_parser

from openinspect_app import running
from openinspect_app.http import cookies, policy
from openinspect_app.http.authn import user_for
from openinspect_app.live.sign_ins import Viewer
from openinspect_core.models import User
from openinspect_core.services.errors import NotFound

log = EventLog(__name__)


def sign_in_cookie(cookie_header: str) -> str | None:
    """The raw value of the sign-in cookie in a ``Cookie`` header (None if there is none)."""
    return cookie_parser(cookie_header or "").get(cookies.COOKIE_NAME) or None


async def who_is_asking(cookie_header: str, client_token: str) -> Viewer | None:
    """The person the tab's sign-in cookie names, or None (no cookie, forged, expired, revoked,
    or the system is not running)."""
    value = sign_in_cookie(cookie_header)
    try:
        r = running.get()
    except running.NotRunning:
        return None
    if value is None:
        r.sign_ins.forget(client_token)
        return None
    token = cookies.unsign(value, policy.session_secret(r.context.settings))
    if token is None:
        r.sign_ins.forget(client_token)
        log.info("ui.cookie_refused", reason="bad_signature")
        return None
    digest = hashlib.sha256(value.encode()).hexdigest()
    cached = r.sign_ins.get(client_token, digest)
    if cached is not None:
        return cached
    user = await user_for(r.context, "cookie", token)
    if user is None:
        r.sign_ins.forget(client_token)
        log.info("ui.cookie_refused", reason="no_such_sign_in")
        return None
    viewer = Viewer(user.id, user.name, user.email, sign_in=token)
    r.sign_ins.put(client_token, digest, viewer)
    return viewer


async def user_row(db: AsyncSession, viewer: Viewer) -> User:
    """The person's row, as the server has it: what prompts and sessions are attributed to."""
    user = await db.get(User, viewer.user_id)
    if user is None:
        raise NotFound("your account no longer exists; sign in again", code="no_such_user")
    return user
