"""Where a sign-in may send the browser next: a path on this site, nothing else.

One function, shared by the sign-in endpoint and the Reflex pages, so the rule
is written once: the target must be a local path (a single leading ``/``), never
``//host`` or ``/\\host`` (browsers read both as another site), never a scheme,
and never with control characters (browsers drop tabs and newlines, which would
turn ``/\\t/evil`` into ``//evil``).
"""

from __future__ import annotations

from urllib.parse import urlsplit

DEFAULT = "/"
MAX_CHARS = 2000


def safe_next(target: str | None, default: str = DEFAULT) -> str:
    """``target`` when it is a safe local path, else ``default``."""
    if not target or len(target) > MAX_CHARS:
        return default
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target
