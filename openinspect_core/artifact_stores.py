"""Which artifact store the settings describe (apart, so the S3 store may build on the store's module)."""

from __future__ import annotations

from openinspect_core.artifact_store import ArtifactStore, FileArtifactStore
from openinspect_core.settings import Settings


def store_for(settings: Settings) -> ArtifactStore:
    """The bucket when one is named (``OPENINSPECT_ARTIFACT_S3_BUCKET``), else files in the data dir."""
    if settings.artifact_s3_bucket:
        from openinspect_core.artifact_store_s3 import S3ArtifactStore  # minio only where a bucket is used

        return S3ArtifactStore.from_settings(settings)
    return FileArtifactStore(settings.data_dir / "artifacts")
