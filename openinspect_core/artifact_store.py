"""Where artifacts' bytes live: files under the data directory, or an S3-compatible bucket.

The ``artifact`` table says what an artifact is and names its bytes by a *key*
(:func:`storage_key`: ``<session id>/<artifact id>.<ext>``); an :class:`ArtifactStore`
keeps the bytes under that key. Two stores, picked by the settings (:func:`openinspect_core.artifact_stores.store_for`):

- :class:`FileArtifactStore` (the default): ``<data dir>/artifacts/<key>``, written to a
  temporary file and renamed, so a reader never sees half an image; readable by the
  control plane's user alone (0600 files, 0700 directories).
- :class:`~openinspect_core.artifact_store_s3.S3ArtifactStore` when
  ``OPENINSPECT_ARTIFACT_S3_BUCKET`` is set: the bucket is shared by every process of the
  control plane, wherever they run (the web serves what the worker stored).

A key is checked before any store touches it (:func:`check_key`): nothing in it can
climb out of the store's directory or prefix. What may be stored (types, sizes, whose
session) is the service's business (:mod:`openinspect_core.services.artifacts`).
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}/[A-Za-z0-9_-]{1,64}\.(png|jpg|webp)$")


class ArtifactMissing(LookupError):
    """No bytes are stored under this key (deleted by hand, or another store than the one that wrote it)."""


class StoreUnavailable(RuntimeError):
    """The store could not keep the bytes (a full disk, a bucket that does not answer): said to whoever
    uploaded, never the end of anything else."""


class ArtifactStore(Protocol):
    async def put(self, key: str, data: bytes, content_type: str) -> None:
        """Keep ``data`` under ``key`` (replacing what was there); :class:`StoreUnavailable` if it cannot."""

    async def get(self, key: str) -> bytes:
        """The bytes under ``key``; :class:`ArtifactMissing` if there are none."""

    async def delete(self, key: str) -> None:
        """Forget ``key`` (nothing happens if it is not there)."""

    def describe(self) -> str:
        """Where it keeps things, for log lines (no credentials)."""


def storage_key(session_id: str, artifact_id: str, extension: str) -> str:
    return check_key(f"{session_id}/{artifact_id}.{extension}")


def check_key(key: str) -> str:
    if not _KEY.match(key):
        raise ValueError(f"not an artifact key: {key[:100]!r}")
    return key


class FileArtifactStore:
    """Artifacts as files under ``root`` (``<data dir>/artifacts`` by default)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def describe(self) -> str:
        return f"files under {self.root}"

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        try:
            await asyncio.to_thread(self._write, self._path(key), data)
        except OSError as error:  # e.g. ENOSPC: the disk is full (no path in the message: the agent reads it)
            raise StoreUnavailable(error.strerror or type(error).__name__) from error

    async def get(self, key: str) -> bytes:
        try:
            return await asyncio.to_thread(self._path(key).read_bytes)
        except FileNotFoundError:
            raise ArtifactMissing(key) from None

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, True)

    def _write(self, path: Path, data: bytes) -> None:
        for directory in (self.root, path.parent):
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Written beside its final name, then renamed: a reader sees the whole file or none.
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

