"""Artifact uploads on the bridge server's port, from the sandbox runtime's own uploader, on SQLite and
PostgreSQL: a live sandbox's image lands in the store and the timeline; not an image, over the cap, another
session's token, an unknown or ended sandbox's token — each refused with a reason, and nothing kept."""

from __future__ import annotations

import contextlib
import dataclasses
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import pytest
from openinspect_protocol.artifacts import UploadHeader
from openinspect_protocol.timeline import ArtifactCreated
from sqlmodel import select

from backend_jobs import tokens
from backend_jobs.artifact_uploads import ArtifactUploads
from backend_jobs.bridge_handler import BridgeSessions
from backend_jobs.bridge_server import BridgeConnections, BridgeServer
from backend_jobs.ingestion import Ingestor
from openinspect_core.artifact_store import FileArtifactStore
from openinspect_core.context import AppContext
from openinspect_core.db import Database
from openinspect_core.models import Artifact, Sandbox, SandboxStatus
from openinspect_core.notify.local import Notifier
from openinspect_core.settings import Settings
from sandbox.config import BridgeSettings
from sandbox.screenshots import ArtifactUploader, UploadFailed
from tests.backend_jobs.test_git_credentials import QuietDispatcher
from tests.openinspect_core.services.seed import seed, timeline_of
from tests.support.images import png

MAX_BYTES = 4096


@asynccontextmanager
async def upload_server(context: AppContext) -> AsyncIterator[str]:
    handler = BridgeSessions(context.db, context.notifier, Ingestor(context.db, context.notifier),
                             QuietDispatcher())  # type: ignore[arg-type]
    server = BridgeServer(handler, BridgeConnections(), "127.0.0.1", 0, uploads=ArtifactUploads(context))
    await server.start()
    try:
        yield f"ws://127.0.0.1:{server.port}"
    finally:
        await server.close()


async def live_sandbox(database: Database, session_id: str, status: SandboxStatus = SandboxStatus.READY) -> str:
    token = tokens.new_token()
    async with database.session() as db:
        db.add(Sandbox(session_id=session_id, backend="test", status=status,
                       auth_token_hash=tokens.token_hash(token)))
        await db.commit()
    return token


def uploader(url: str, session_id: str, token: str) -> ArtifactUploader:
    return ArtifactUploader(BridgeSettings(control_plane_url=url, session_id=session_id, sandbox_id="sb",
                                           sandbox_token=token))


@pytest.fixture
def context(database: Database, tmp_path: Path) -> AppContext:
    settings = Settings.from_env({"OPENINSPECT_DATA_DIR": str(tmp_path / "data")}, database_url=database.url,
                                 artifact_max_bytes=MAX_BYTES)
    return AppContext.of(settings, database, Notifier())


async def stored(context: AppContext) -> list[Artifact]:
    async with context.db.session() as db:
        return list((await db.exec(select(Artifact))).all())


async def test_a_live_sandboxs_screenshot_lands_in_the_store_and_the_timeline(context: AppContext) -> None:
    seeded = await seed(context.db)
    token = await live_sandbox(context.db, seeded.session_id)
    image = png(300, 200)
    async with upload_server(context) as url:
        result = await uploader(url, seeded.session_id, token).upload(
            UploadHeader(size_bytes=len(image), caption="after the change", page_url="http://127.0.0.1:8000/"),
            image)
    assert result.ok and result.artifact_id
    [row] = await stored(context)
    assert row.id == result.artifact_id and await context.artifacts.get(row.storage_key or "") == image
    event = (await timeline_of(context.db, seeded.session_id))[-1]
    assert isinstance(event, ArtifactCreated) and (event.width, event.height) == (300, 200)


async def test_bytes_that_are_not_an_image_are_refused(context: AppContext) -> None:
    seeded = await seed(context.db)
    token = await live_sandbox(context.db, seeded.session_id)
    page = b"<html><script>alert(document.cookie)</script></html>"
    async with upload_server(context) as url:
        result = await uploader(url, seeded.session_id, token).upload(UploadHeader(size_bytes=len(page)), page)
    assert not result.ok and "not a PNG, JPEG or WebP image" in (result.error or "")
    assert await stored(context) == []


async def test_an_upload_over_the_cap_is_refused_before_its_bytes(context: AppContext) -> None:
    seeded = await seed(context.db)
    token = await live_sandbox(context.db, seeded.session_id)
    big = png(400, 400, (1, 2, 3)) + b"\x00" * (MAX_BYTES * 3)
    async with upload_server(context) as url:
        result = await uploader(url, seeded.session_id, token).upload(UploadHeader(size_bytes=len(big)), big)
    assert not result.ok and f"the limit is {MAX_BYTES:,} bytes" in (result.error or "")
    assert "OPENINSPECT_ARTIFACT_MAX_BYTES" in (result.error or "")
    assert await stored(context) == []


@pytest.mark.parametrize(("whose", "answer"), [
    ("another session's", "HTTP 403: this sandbox token belongs to another session"),
    ("an ended sandbox's", "HTTP 403: this sandbox has ended"),
    ("nobody's", "HTTP 401: invalid sandbox token"),
])
async def test_a_token_not_of_this_sessions_live_sandbox_uploads_nothing(context: AppContext, whose: str,
                                                                          answer: str) -> None:
    seeded = await seed(context.db)
    other = await seed(context.db, repo_url="/tmp/other")
    token = {"another session's": lambda: live_sandbox(context.db, other.session_id),
             "an ended sandbox's": lambda: live_sandbox(context.db, seeded.session_id, SandboxStatus.STOPPED),
             "nobody's": None}[whose]
    value = await token() if token else tokens.new_token()
    image = png()
    async with upload_server(context) as url:
        with pytest.raises(UploadFailed) as refused:
            await uploader(url, seeded.session_id, value).upload(UploadHeader(size_bytes=len(image)), image)
    assert answer in str(refused.value)
    assert await stored(context) == []
    assert not any(isinstance(e, ArtifactCreated) for e in await timeline_of(context.db, seeded.session_id))


@contextmanager
def full_disk(path: Path) -> Iterator[Path]:
    """A real filesystem with no space left (a 64 kB tmpfs, filled): writes fail with ENOSPC."""
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(path)], check=True)
    try:
        with open(path / "filler", "wb", buffering=0) as filler, contextlib.suppress(OSError):
            while True:
                filler.write(b"\0" * 4096)
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


async def test_a_full_disk_is_said_to_the_sandbox_and_the_next_upload_works(database: Database,
                                                                           tmp_path: Path) -> None:
    settings = Settings.from_env({"OPENINSPECT_DATA_DIR": str(tmp_path / "data")}, database_url=database.url,
                                 artifact_max_bytes=MAX_BYTES)
    seeded = await seed(database)
    with full_disk(tmp_path / "disk") as disk:
        context = dataclasses.replace(AppContext.of(settings, database, Notifier()),
                                      artifact_store=FileArtifactStore(disk / "artifacts"))
        token = await live_sandbox(database, seeded.session_id)
        image = png(40, 30)
        async with upload_server(context) as url:
            refused = await uploader(url, seeded.session_id, token).upload(UploadHeader(size_bytes=len(image)),
                                                                           image)
            assert not refused.ok
            assert refused.error == ("the artifact store could not keep the image: No space left on device; "
                                     "the session goes on without it")
            assert await stored(context) == []  # no row, no event, no half-written file
            assert [f.name for f in (disk / "artifacts").rglob("*") if f.is_file()] == []
            (disk / "filler").unlink()  # space again: the next screenshot is kept
            kept = await uploader(url, seeded.session_id, token).upload(UploadHeader(size_bytes=len(image)), image)
        assert kept.ok and [row.id for row in await stored(context)] == [kept.artifact_id]
