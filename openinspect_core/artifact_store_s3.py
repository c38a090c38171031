"""Artifacts in an S3-compatible bucket (AWS S3, MinIO, Ceph, R2...), through the ``minio`` client.

Why minio and not boto3: botocore pins ``python-dateutil<3`` and the Kubernetes client
needs ``>=3``; the two cannot be installed together. minio speaks plain S3 (SigV4) to
any endpoint and has no such pin. Its calls block, so each runs in a thread.

Credentials: the access and secret key settings when given; else the usual AWS
environment variables, then the instance's role (IMDS). None of them is ever logged
(:meth:`S3ArtifactStore.describe` names the endpoint and bucket only).
"""

from __future__ import annotations

import asyncio
import io
from urllib.parse import urlsplit

import urllib3
from minio import Minio
from minio.credentials.providers import ChainedProvider, EnvAWSProvider, IamAwsProvider
from minio.error import S3Error

from openinspect_core.artifact_store import ArtifactMissing, StoreUnavailable, check_key
from openinspect_core.settings import Settings

# Why: a store that does not answer must not hold an upload (or a page) for minutes.
CONNECT_TIMEOUT_SECONDS = 5.0
READ_TIMEOUT_SECONDS = 30.0
_MISSING_CODES = frozenset({"NoSuchKey", "NoSuchObject", "NotFound"})


class S3ArtifactStore:
    def __init__(self, client: Minio, bucket: str, prefix: str = "", *, endpoint: str = "") -> None:
        self._client = client
        self.bucket = bucket
        self.prefix = prefix
        self._endpoint = endpoint

    @classmethod
    def from_settings(cls, settings: Settings) -> S3ArtifactStore:
        assert settings.artifact_s3_bucket, "no bucket configured"
        url = urlsplit(settings.artifact_s3_endpoint_url)
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT_SECONDS, read=READ_TIMEOUT_SECONDS),
            retries=urllib3.Retry(total=2, backoff_factor=0.2, status_forcelist=(500, 502, 503, 504)),
        )
        client = Minio(
            url.netloc,
            access_key=settings.artifact_s3_access_key_id,
            secret_key=settings.artifact_s3_secret_access_key,
            secure=url.scheme == "https",
            region=settings.artifact_s3_region,
            http_client=http,
            credentials=None if settings.artifact_s3_access_key_id
            else ChainedProvider([EnvAWSProvider(), IamAwsProvider()]),
        )
        return cls(client, settings.artifact_s3_bucket, settings.artifact_s3_prefix, endpoint=url.netloc)

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix} at {self._endpoint}"

    def _name(self, key: str) -> str:
        return self.prefix + check_key(key)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        name = self._name(key)
        try:
            await asyncio.to_thread(self._client.put_object, self.bucket, name, io.BytesIO(data), len(data),
                                    content_type=content_type)
        except (S3Error, urllib3.exceptions.HTTPError, OSError) as error:  # refused, or not answering
            raise StoreUnavailable(getattr(error, "code", None) or type(error).__name__) from error

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self._get, self._name(key))

    def _get(self, name: str) -> bytes:
        try:
            response = self._client.get_object(self.bucket, name)
        except S3Error as error:
            if error.code in _MISSING_CODES:
                raise ArtifactMissing(name) from None
            raise
        try:
            return bytes(response.read())
        finally:
            response.close()
            response.release_conn()

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._client.remove_object, self.bucket, self._name(key))
