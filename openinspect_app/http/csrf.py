"""Cross-site request forgery: a change made with the sign-in cookie must come from our own pages.

A browser adds the cookie to a form another site posts here (SameSite=Lax still
sends it on some navigations, and old browsers ignore SameSite), but it also says
where the request came from: ``Origin`` (every cross-site POST, and fetches) or
``Referer``. A state-changing request authenticated by cookie must name our own
origin in one of them. Requests with an API token are exempt: a page on another
site cannot make a browser add an ``Authorization`` header without our CORS consent.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import Headers

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def request_origin(headers: Headers) -> str | None:
    """The origin a browser says the request came from (``Origin``, else ``Referer``'s), lower-cased."""
    origin = headers.get("origin")
    if origin is not None:
        return origin.strip().lower()
    referer = headers.get("referer")
    if referer:
        parts = urlsplit(referer.strip())
        if parts.scheme and parts.netloc:
            return f"{parts.scheme}://{parts.netloc}".lower()
        return "invalid"
    return None


def same_origin(headers: Headers, own: tuple[str, ...], *, required: bool) -> bool:
    """True when the request says it came from one of our origins (or says nothing and need not)."""
    origin = request_origin(headers)
    if origin is None:
        return not required
    return origin in own
