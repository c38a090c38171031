"""Slack's mrkdwn, made safe: what an agent or a person wrote is shown, never obeyed.

Slack reads ``<...>`` as a control sequence (``<!channel>`` pings everyone,
``<https://x|label>`` hides a link behind a label, ``<@U1>`` mentions), so
every text that did not come from this code passes :func:`escape` first —
Slack's own escaping of ``&``, ``<`` and ``>`` (https://api.slack.com/reference/surfaces/formatting#escaping).
Links are built only by :func:`link`, from web addresses.
"""

from __future__ import annotations

_ESCAPES = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"))


def escape(text: str) -> str:
    """``text`` shown as written (``&`` first, so an escape is not escaped twice)."""
    for raw, escaped in _ESCAPES:
        text = text.replace(raw, escaped)
    return text


def cut(text: str, limit: int) -> tuple[str, bool]:
    """At most ``limit`` characters of ``text`` (at a line or word break when one is near) and whether
    anything was left out."""
    if len(text) <= limit:
        return text, False
    head = text[:limit]
    for separator in ("\n", " "):
        at = head.rfind(separator)
        if at >= limit * 3 // 4:  # a break in the last quarter: cut there, not mid-word
            head = head[:at]
            break
    return head.rstrip(), True


def short(text: str, limit: int) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    line = " ".join(text.split())
    head, left_out = cut(line, limit)
    return head + "…" if left_out else head


def web_url(url: str | None) -> str | None:
    """``url`` if it is a web address Slack can link to, else None (a ``javascript:`` or ``slack://``
    address from an event is never made a link)."""
    if not url or not url.lower().startswith(("https://", "http://")) or any(c.isspace() for c in url):
        return None
    return url


def link(url: str | None, label: str) -> str:
    """A mrkdwn link to ``url`` labelled ``label`` (escaped); just the label when ``url`` is no web address.

    In ``<url|label>`` a ``|`` or ``>`` inside the URL would end it early: they are percent-encoded.
    """
    safe = web_url(url)
    shown = escape(label).replace("|", "¦")
    if safe is None:
        return shown
    return f"<{escape(safe).replace('|', '%7C')}|{shown}>"


def code(text: str, limit: int = 80) -> str:
    """``text`` as inline code: one line, no backticks of its own (they would end the span), escaped."""
    inner = short(text.replace("`", "'"), limit)
    return f"`{escape(inner)}`" if inner else ""
