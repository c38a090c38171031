"""Artifacts a sandbox uploads (screenshots): the rules for taking one in, and for handing it out.

Taking one in (:func:`check_header`, then :func:`save_upload`), for the sandbox of
``session_id`` (the caller has checked its token): the declared size within
``OPENINSPECT_ARTIFACT_MAX_BYTES``, the session under ``OPENINSPECT_ARTIFACT_MAX_PER_SESSION``,
the bytes a PNG, JPEG or WebP image by their magic number (never by what the sandbox
says). Then the bytes go to the :class:`~openinspect_core.artifact_store.ArtifactStore`
and, in one unit of work, the ``artifact`` row and an ``artifact_created`` event join
the session (every viewer hears of it through the notifier). If that transaction fails
the stored bytes are deleted again: no file without its row.

Handing one out (:func:`stored_file`): the row of a stored file by its id, whatever
session it is in — who may see which session is the caller's check (a signed-in person
may see every session of this installation; a sandbox token reads nothing).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import sqlalchemy as sa
from openinspect_protocol.artifacts import UploadHeader
from openinspect_protocol.images import NotAnImage, sniff
from openinspect_protocol.logs import EventLog
from openinspect_protocol.timeline import ArtifactCreated
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from openinspect_core.artifact_store import ArtifactStore, StoreUnavailable, storage_key
from openinspect_core.db import Database
from openinspect_core.models import Artifact, new_id
from openinspect_core.notify.local import Notifier
from openinspect_core.services import timeline
from openinspect_core.services.errors import InvalidInput, LimitReached, NotFound, TooLarge, Unavailable
from openinspect_core.settings import Settings
from openinspect_core.unit_of_work import UnitOfWork

log = EventLog(__name__)

SCREENSHOT = "screenshot"


@dataclass(frozen=True)
class Caps:
    max_bytes: int
    max_per_session: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Caps:
        return cls(settings.artifact_max_bytes, settings.artifact_max_per_session)


def check_size(size_bytes: int, caps: Caps) -> None:
    if size_bytes > caps.max_bytes:
        raise TooLarge(f"the image is {size_bytes:,} bytes; the limit is {caps.max_bytes:,} bytes "
                       "(OPENINSPECT_ARTIFACT_MAX_BYTES): capture the viewport instead of the full page, or "
                       "a smaller page", code="artifact_too_large")


async def check_header(db: AsyncSession, session_id: str, header: UploadHeader, caps: Caps) -> None:
    """Refuse an upload before its bytes are sent: too large, or the session has too many artifacts."""
    check_size(header.size_bytes, caps)
    kept = (await db.exec(select(sa.func.count()).select_from(Artifact).where(
        col(Artifact.session_id) == session_id, col(Artifact.storage_key).is_not(None)))).one()
    if kept >= caps.max_per_session:
        raise LimitReached(f"this session keeps {kept} artifacts already, its limit "
                           "(OPENINSPECT_ARTIFACT_MAX_PER_SESSION)", code="artifact_limit")


async def save_upload(database: Database, notifier: Notifier, store: ArtifactStore, *, session_id: str,
                      sandbox_id: str, header: UploadHeader, data: bytes, caps: Caps) -> Artifact:
    """Check ``data``, store it, and add its row and ``artifact_created`` event; the new row."""
    check_size(len(data), caps)
    if len(data) != header.size_bytes:
        raise InvalidInput(f"{len(data):,} bytes arrived, {header.size_bytes:,} were announced",
                           code="artifact_incomplete")
    try:
        image = sniff(data)
    except NotAnImage as exc:
        raise InvalidInput(f"refused: {exc}; only PNG, JPEG and WebP images are kept",
                           code="not_an_image") from None
    artifact_id = new_id()
    key = storage_key(session_id, artifact_id, image.extension)
    try:
        await store.put(key, data, image.content_type)
    except StoreUnavailable as exc:
        log.error("artifacts.store_failed", session_id=session_id, error=str(exc), store=store.describe())
        raise Unavailable(f"the artifact store could not keep the image: {exc}; the session goes on without it",
                          code="artifact_store_unavailable") from None
    try:
        async with UnitOfWork(database, notifier) as work:
            await check_header(work.db, session_id, header, caps)  # again: uploads may race
            artifact = Artifact(
                id=artifact_id, session_id=session_id, message_id=header.message_id, kind=SCREENSHOT,
                ref=header.page_url or key, storage_key=key, content_type=image.content_type,
                size_bytes=len(data), sandbox_id=sandbox_id,
                data={"width": image.width, "height": image.height, "caption": header.caption,
                      "page_title": header.page_title, "viewport": header.viewport, "full_page": header.full_page},
            )
            work.db.add(artifact)
            await work.db.flush()
            await timeline.append(work.db, session_id, ArtifactCreated(
                artifact_id=artifact_id, content_type=image.content_type, size_bytes=len(data),
                width=image.width, height=image.height, message_id=header.message_id, caption=header.caption,
                page_url=header.page_url, page_title=header.page_title, viewport=header.viewport,
                full_page=header.full_page,
            ), sandbox_id=sandbox_id)
            work.changed(session_id, control=False)
    except BaseException:
        with contextlib.suppress(Exception):
            await store.delete(key)
        raise
    log.info("artifacts.stored", session_id=session_id, artifact_id=artifact_id, content_type=image.content_type,
             size_bytes=len(data), store=store.describe())
    return artifact


async def stored_file(db: AsyncSession, artifact_id: str) -> Artifact:
    """The row of the stored file ``artifact_id``; :class:`NotFound` if there is none."""
    artifact = await db.get(Artifact, artifact_id)
    if artifact is None or artifact.storage_key is None or artifact.content_type is None:
        raise NotFound("no such artifact", code="artifact_not_found")
    return artifact
