"""The file artifact store: bytes in, the same bytes out, private to the control plane, no key escapes."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from openinspect_core.artifact_store import ArtifactMissing, FileArtifactStore, storage_key
from openinspect_core.artifact_stores import store_for
from openinspect_core.settings import Settings
from tests.support.images import png


async def test_what_is_put_is_got_back_and_deleted(tmp_path: Path) -> None:
    store = FileArtifactStore(tmp_path / "artifacts")
    key = storage_key("s" * 32, "a" * 32, "png")
    await store.put(key, png(), "image/png")
    assert await store.get(key) == png()
    path = tmp_path / "artifacts" / key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # the control plane's alone
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind
    await store.delete(key)
    with pytest.raises(ArtifactMissing):
        await store.get(key)
    await store.delete(key)  # twice is harmless


@pytest.mark.parametrize("key", ["../etc/passwd", "s/../../x.png", "/abs/x.png", "s/a.html", "s/a", "a.png",
                                 "s/a.png/../b.png", "s\\a.png"])
async def test_no_key_climbs_out_of_the_store(tmp_path: Path, key: str) -> None:
    store = FileArtifactStore(tmp_path / "artifacts")
    with pytest.raises(ValueError, match="not an artifact key"):
        await store.put(key, png(), "image/png")
    with pytest.raises(ValueError, match="not an artifact key"):
        await store.get(key)
    assert not (tmp_path / "artifacts").exists()


def test_the_default_store_is_files_in_the_data_dir(tmp_path: Path) -> None:
    store = store_for(Settings.from_env({"OPENINSPECT_DATA_DIR": str(tmp_path)}))
    assert isinstance(store, FileArtifactStore) and store.root == tmp_path.resolve() / "artifacts"
