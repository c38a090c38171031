"""What crosses the preview proxy in either direction, header by header (pure; tested alone).

Towards the dev server: nothing of ours. The person's cookies and any
``Authorization`` are dropped (the dev server is the sandbox's, and the sandbox runs
whatever the repository says), and so are hop-by-hop headers and ``Referer`` (it
would carry the grant); ``Host`` names the dev server itself (dev servers such as
Vite refuse a ``Host`` they do not know), and ``X-Forwarded-*`` say where the
preview is served (``X-Forwarded-Prefix``: the path prefix, for an app that builds
absolute links).

Towards the browser: the dev server's answer, made harmless to this origin. Its
content runs in an opaque origin (``Content-Security-Policy: sandbox`` without
``allow-same-origin``): it cannot read our cookies or storage, and its requests to our
API are cross-origin ones that carry no cookie and cannot read the answers. It may not
set or clear anything of ours (``Set-Cookie``, ``Clear-Site-Data``,
``Strict-Transport-Security``, ``Service-Worker-Allowed`` … are dropped), it is not cached
by anyone but this browser, it sends no ``Referer`` (the grant), and a redirect to the
dev server's own address is turned back into the preview's. docs/security.md#live-previews.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

# RFC 9110 §7.6.1, plus the older ones servers still send.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
                        "upgrade", "proxy-authenticate", "proxy-authorization"})
# Never sent to the dev server: our credentials, and what names the grant.
REQUEST_DROPPED = HOP_BY_HOP | {"host", "cookie", "authorization", "referer", "forwarded", "x-forwarded-for",
                                "x-forwarded-host", "x-forwarded-proto", "x-forwarded-prefix", "x-real-ip",
                                "content-length"}
# Never passed to the browser: what could change this origin's state, or is recomputed here.
RESPONSE_DROPPED = HOP_BY_HOP | {
    "set-cookie", "set-cookie2", "clear-site-data", "strict-transport-security", "service-worker-allowed",
    "alt-svc", "public-key-pins", "public-key-pins-report-only", "expect-ct", "nel", "report-to",
    "reporting-endpoints", "origin-agent-cluster", "content-length", "cache-control", "expires", "pragma",
    "referrer-policy", "x-frame-options", "access-control-allow-origin", "access-control-allow-credentials",
    "access-control-allow-methods", "access-control-allow-headers", "access-control-expose-headers",
    "access-control-max-age", "cross-origin-opener-policy", "cross-origin-embedder-policy",
    "cross-origin-resource-policy", "permissions-policy",
}
# No allow-same-origin (that would make it this origin again), no allow-top-navigation (it may not
# navigate the tab it is in away from itself), nothing else it does not need for a dev server's app.
SANDBOX_POLICY = ("sandbox allow-scripts allow-forms allow-popups allow-popups-to-escape-sandbox "
                  "allow-modals allow-downloads; frame-ancestors 'self'")
# What the proxy adds to every answer, its own error pages included.
ADDED: tuple[tuple[str, str], ...] = (
    ("content-security-policy", SANDBOX_POLICY),
    ("referrer-policy", "no-referrer"),
    ("x-content-type-options", "nosniff"),
    ("cache-control", "no-store"),
    # The page's own requests come from its opaque origin ("null"): without this its module scripts and
    # fetches of its own files would be refused. They carry no credential of ours, so this opens nothing.
    ("access-control-allow-origin", "*"),
    ("permissions-policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()"),
)


def upstream_request_headers(headers: Iterable[tuple[str, str]], *, target_host: str, target_port: int,
                             public_host: str, public_scheme: str, prefix: str) -> list[tuple[str, str]]:
    """The browser's request headers as the dev server gets them."""
    connection_named = {name.strip().lower() for key, value in headers if key.lower() == "connection"
                        for name in value.split(",")}
    out = [(key, value) for key, value in headers
           if key.lower() not in REQUEST_DROPPED and key.lower() not in connection_named]
    out += [("host", f"{target_host}:{target_port}"), ("x-forwarded-host", public_host),
            ("x-forwarded-proto", public_scheme), ("x-forwarded-prefix", prefix)]
    return out


def browser_response_headers(headers: Iterable[tuple[str, str]], *, upstream_origins: Iterable[str],
                             prefix: str) -> list[tuple[str, str]]:
    """The dev server's response headers as the browser gets them (``prefix``: the preview's path, no
    trailing ``/``; ``upstream_origins``: the dev server's own addresses, as redirects may name them)."""
    origins = tuple(o.rstrip("/") for o in upstream_origins)
    out: list[tuple[str, str]] = []
    for key, value in headers:
        name = key.lower()
        if name in RESPONSE_DROPPED:
            continue
        if name in ("location", "content-location"):
            value = rewrite_location(value, origins, prefix)
        out.append((name, value))
    out.extend(ADDED)
    return out


def rewrite_location(value: str, upstream_origins: tuple[str, ...], prefix: str) -> str:
    """A redirect of the dev server's, as a path under the preview: its own absolute address or an
    absolute path becomes ``prefix`` + path; anything else (another site, a relative path) stays."""
    for origin in upstream_origins:
        if value == origin or value.startswith(origin + "/") or value.startswith(origin + "?"):
            rest = value[len(origin):]
            return prefix + (rest if rest.startswith("/") else "/" + rest)
    parts = urlsplit(value)
    if not parts.scheme and not parts.netloc and value.startswith("/") and not value.startswith("//"):
        return prefix + value
    return value
