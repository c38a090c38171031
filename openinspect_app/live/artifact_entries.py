"""How an artifact the sandbox uploaded (a screenshot) reads as a timeline entry. Pure.

The entry carries what the thumbnail and the lightbox need and nothing else: the image's
URL (the authenticated route ``GET /api/artifacts/{id}``, ``api/artifact_routes.py``;
an ``<img>`` on the session page sends the viewer's sign-in cookie), what it shows and
where it was taken. The bytes never travel in the live state.
"""

from __future__ import annotations

from openinspect_protocol.timeline import ArtifactCreated

SCREENSHOT = "screenshot"  # the entry's kind
IMAGE_PATH = "/api/artifacts/{artifact_id}"  # api/artifact_routes.py (live may not import the API)


def image_url(artifact_id: str) -> str:
    return IMAGE_PATH.format(artifact_id=artifact_id)


def screenshot_fields(event: ArtifactCreated) -> dict[str, str]:
    """The entry's fields: ``url`` the image, ``title`` its caption (or the page's title), ``detail`` the
    page it shows, ``meta`` its size and viewport, ``tool`` the artifact's id."""
    size = f"{event.width}\u00d7{event.height}"  # a multiplication sign
    shape = f"{event.viewport}{', full page' if event.full_page else ''}"
    return {
        "url": image_url(event.artifact_id),
        "title": event.caption or event.page_title or "Screenshot",
        "detail": event.page_url,
        "meta": f"{size} · {shape} · {event.size_bytes / 1024:,.0f} KB",
        "tool": event.artifact_id,
        "message_id": event.message_id or "",
    }
