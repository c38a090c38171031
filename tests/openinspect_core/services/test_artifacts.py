"""Taking in a sandbox's upload: sizes, counts and types are checked before anything is kept; what is kept
has its row, its bytes and its timeline event, or none of them."""

from __future__ import annotations

from pathlib import Path

import pytest
from openinspect_protocol.artifacts import UploadHeader
from openinspect_protocol.timeline import ArtifactCreated
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from openinspect_core.artifact_store import FileArtifactStore
from openinspect_core.db import Database
from openinspect_core.models import Artifact
from openinspect_core.notify.local import Notifier
from openinspect_core.services import artifacts
from openinspect_core.services.errors import InvalidInput, LimitReached, NotFound, TooLarge
from tests.openinspect_core.services.seed import seed, timeline_of
from tests.support.images import jpeg_header, png

CAPS = artifacts.Caps(max_bytes=4096, max_per_session=2)


async def rows(database: Database) -> list[Artifact]:
    async with database.session() as db:
        return list((await db.exec(select(Artifact))).all())


async def save(database: Database, store: FileArtifactStore, session_id: str, data: bytes,
               **header: object) -> Artifact:
    return await artifacts.save_upload(database, Notifier(), store, session_id=session_id, sandbox_id="sb1",
                                       header=UploadHeader(size_bytes=len(data), **header),  # type: ignore[arg-type]
                                       data=data, caps=CAPS)


async def test_an_image_is_stored_with_its_row_and_event(database: Database, tmp_path: Path) -> None:
    seeded = await seed(database)
    store = FileArtifactStore(tmp_path / "store")
    image = png(12, 7)
    artifact = await save(database, store, seeded.session_id, image, caption="the new heading",
                          page_url="http://127.0.0.1:3000/", page_title="Demo", viewport="phone", full_page=True)
    assert await store.get(artifact.storage_key or "") == image
    [row] = await rows(database)
    assert (row.kind, row.content_type, row.sandbox_id) == ("screenshot", "image/png", "sb1")
    assert row.size_bytes == len(image)
    assert row.data["width"] == 12 and row.data["height"] == 7
    event = (await timeline_of(database, seeded.session_id))[-1]
    assert isinstance(event, ArtifactCreated)
    assert (event.artifact_id, event.caption) == (row.id, "the new heading")
    assert (event.viewport, event.full_page) == ("phone", True)
    async with database.session() as db:
        assert (await artifacts.stored_file(db, row.id)).id == row.id


async def test_the_type_is_judged_by_the_bytes(database: Database, tmp_path: Path) -> None:
    seeded = await seed(database)
    artifact = await save(database, FileArtifactStore(tmp_path / "store"), seeded.session_id, jpeg_header())
    assert artifact.content_type == "image/jpeg" and (artifact.storage_key or "").endswith(".jpg")
    with pytest.raises(InvalidInput, match="not a PNG, JPEG or WebP") as refused:
        await save(database, FileArtifactStore(tmp_path / "store"), seeded.session_id, b"<svg onload=alert(1)>")
    assert refused.value.code == "not_an_image"
    assert len(await rows(database)) == 1
    assert len(list((tmp_path / "store").rglob("*.*"))) == 1  # nothing of the refused upload was kept


async def test_caps_hold_before_and_after_the_bytes(database: Database, tmp_path: Path) -> None:
    seeded = await seed(database)
    async with database.session() as db:
        with pytest.raises(TooLarge, match="OPENINSPECT_ARTIFACT_MAX_BYTES") as too_large:
            await artifacts.check_header(db, seeded.session_id, UploadHeader(size_bytes=4097), CAPS)
    assert too_large.value.status_code == 413
    with pytest.raises(TooLarge):  # the bytes themselves, whatever the header said
        await artifacts.save_upload(database, Notifier(), FileArtifactStore(tmp_path / "store"),
                                    session_id=seeded.session_id, sandbox_id="sb1",
                                    header=UploadHeader(size_bytes=10), data=png(64, 64) * 30, caps=CAPS)
    with pytest.raises(InvalidInput, match="were announced"):
        await artifacts.save_upload(database, Notifier(), FileArtifactStore(tmp_path / "store"),
                                    session_id=seeded.session_id, sandbox_id="sb1",
                                    header=UploadHeader(size_bytes=10), data=png(), caps=CAPS)
    for _ in range(2):
        await save(database, FileArtifactStore(tmp_path / "store"), seeded.session_id, png())
    with pytest.raises(LimitReached, match="OPENINSPECT_ARTIFACT_MAX_PER_SESSION"):
        await save(database, FileArtifactStore(tmp_path / "store"), seeded.session_id, png())
    assert len(await rows(database)) == 2


async def test_a_failed_transaction_leaves_no_file(database: Database, tmp_path: Path) -> None:
    with pytest.raises(IntegrityError):  # no such session: the row cannot join it
        await save(database, FileArtifactStore(tmp_path / "store"), "0" * 32, png())
    assert not list((tmp_path / "store").rglob("*.png"))


async def test_only_stored_files_are_handed_out(database: Database) -> None:
    seeded = await seed(database)
    async with database.session() as db:
        db.add(Artifact(id="c" * 32, session_id=seeded.session_id, kind="commit", ref="abc123"))
        await db.commit()
        for artifact_id in ("c" * 32, "0" * 32):
            with pytest.raises(NotFound):
                await artifacts.stored_file(db, artifact_id)
