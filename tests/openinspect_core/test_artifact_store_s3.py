"""The S3 artifact store against an S3-compatible server (moto's, offline, in its own virtualenv): the real
minio client and a real bucket; the same contract as the file store. (moto does not check signatures, so a
wrong secret key is not tested here.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from minio import Minio
from minio.error import S3Error

from openinspect_core.artifact_store import ArtifactMissing, storage_key
from openinspect_core.artifact_store_s3 import S3ArtifactStore
from openinspect_core.artifact_stores import store_for
from openinspect_core.settings import Settings
from tests.support.images import png
from tests.support.s3_standin import moto_server

BUCKET = "openinspect-artifacts"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_server() as url:
        Minio(url.removeprefix("http://"), access_key="test", secret_key="test", secure=False,
              region="us-east-1").make_bucket(BUCKET)
        yield url


def settings(tmp_path: Path, endpoint: str, **values: str) -> Settings:
    return Settings.from_env({"OPENINSPECT_DATA_DIR": str(tmp_path), "OPENINSPECT_ARTIFACT_S3_BUCKET": BUCKET,
                              "OPENINSPECT_ARTIFACT_S3_ENDPOINT_URL": endpoint,
                              "OPENINSPECT_ARTIFACT_S3_REGION": "us-east-1",
                              "OPENINSPECT_ARTIFACT_S3_ACCESS_KEY_ID": "test",
                              "OPENINSPECT_ARTIFACT_S3_SECRET_ACCESS_KEY": "test", **values})


async def test_what_is_put_is_got_back_and_deleted(tmp_path: Path, endpoint: str) -> None:
    store = store_for(settings(tmp_path, endpoint, OPENINSPECT_ARTIFACT_S3_PREFIX="team-a/"))
    assert isinstance(store, S3ArtifactStore) and "test" not in store.describe()
    key = storage_key("s" * 32, "a" * 32, "png")
    await store.put(key, png(), "image/png")
    assert await store.get(key) == png()
    client = Minio(endpoint.removeprefix("http://"), access_key="test", secret_key="test", secure=False,
                   region="us-east-1")
    stat = client.stat_object(BUCKET, f"team-a/{key}")  # under the prefix, with its type
    assert stat.content_type == "image/png" and stat.size == len(png())
    await store.delete(key)
    with pytest.raises(ArtifactMissing):
        await store.get(key)
    assert not (tmp_path / "artifacts").exists()  # nothing went to the data dir


async def test_no_key_climbs_out_of_the_prefix(tmp_path: Path, endpoint: str) -> None:
    store = store_for(settings(tmp_path, endpoint))
    with pytest.raises(ValueError, match="not an artifact key"):
        await store.put("../other-team/x.png", png(), "image/png")


def test_half_a_credential_is_refused_at_start(tmp_path: Path, endpoint: str) -> None:
    with pytest.raises(ValueError, match="go together"):
        settings(tmp_path, endpoint, OPENINSPECT_ARTIFACT_S3_SECRET_ACCESS_KEY="")
    with pytest.raises(ValueError, match="http\\(s\\) URL"):
        settings(tmp_path, endpoint, OPENINSPECT_ARTIFACT_S3_ENDPOINT_URL="s3.example.com")


async def test_a_missing_bucket_is_an_error_not_a_missing_file(tmp_path: Path, endpoint: str) -> None:
    store = store_for(settings(tmp_path, endpoint, OPENINSPECT_ARTIFACT_S3_BUCKET="no-such-bucket"))
    with pytest.raises(S3Error, match="NoSuchBucket"):
        await store.get(storage_key("s" * 32, "a" * 32, "png"))
