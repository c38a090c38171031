"""The bytes of a stored artifact (a screenshot), for the people who may see its session.

``GET /api/artifacts/{artifact_id}``: the caller is resolved by the boundary first (a
sign-in cookie — an ``<img>`` in the session page sends it — or an API token); no
credential, no byte (401). Any signed-in person may see every session of this
installation (single tenant), so a known artifact is answered; an unknown one is 404.
A sandbox's token is worth nothing here: sandboxes upload over the bridge server and
never read.

The answer is the stored bytes with the type judged when they were uploaded, and
headers that keep a browser from treating them as anything but an image
(``nosniff``, a CSP that runs nothing, ``Content-Disposition: inline`` with a safe
name) and keep shared caches out (``private``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from openinspect_app.api.deps import Me, System
from openinspect_app.api.errors import COMMON_ERRORS, error_responses
from openinspect_app.api.schemas import ID_PATTERN
from openinspect_core.artifact_store import ArtifactMissing
from openinspect_core.services import artifacts
from openinspect_core.services.errors import NotFound

router = APIRouter(responses=error_responses(*COMMON_ERRORS))

ArtifactId = Annotated[str, Path(pattern=ID_PATTERN)]
# Why: an artifact never changes once stored; a browser may keep it for a day (never a shared cache).
CACHE_SECONDS = 86_400


def artifact_path(artifact_id: str) -> str:
    """Where a page finds an artifact's image (the timeline's thumbnails and lightbox)."""
    return f"/api/artifacts/{artifact_id}"


@router.get("/artifacts/{artifact_id}", responses={**error_responses(404), 200: {
    "content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}}, "description": "the image"}},
    response_class=Response)
async def get_artifact(artifact_id: ArtifactId, system: System, _: Me) -> Response:
    async with system.context.db.session() as db:
        artifact = await artifacts.stored_file(db, artifact_id)
    assert artifact.storage_key is not None and artifact.content_type is not None  # stored_file checked
    try:
        data = await system.context.artifacts.get(artifact.storage_key)
    except ArtifactMissing:
        raise NotFound("the artifact's file is gone from the artifact store", code="artifact_missing") from None
    extension = artifact.storage_key.rsplit(".", 1)[-1]
    return Response(data, media_type=artifact.content_type, headers={
        "Cache-Control": f"private, max-age={CACHE_SECONDS}, immutable",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Content-Disposition": f'inline; filename="screenshot-{artifact.id}.{extension}"',
    })
