"""S3 (or any S3-compatible store: ``AWS_ENDPOINT_URL``) storage."""

from __future__ import annotations

from typing import Any, BinaryIO

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from caliber.core.errors import NotFound, UpstreamUnavailable
from caliber.core.settings import Settings
from caliber.storage.base import check_key


class S3Storage:
    name = "s3"

    def __init__(self, bucket: str, client: Any) -> None:
        self.bucket = bucket
        self._client = client

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Storage:
        assert settings.AWS_BUCKET_NAME is not None
        client = boto3.client(
            "s3",
            endpoint_url=settings.AWS_ENDPOINT_URL,
            aws_access_key_id=settings.AWS_ACCESS_KEY_ID,
            aws_secret_access_key=settings.AWS_SECRET_ACCESS_KEY,
            region_name=settings.AWS_REGION,
            config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5),
        )
        return cls(settings.AWS_BUCKET_NAME, client)

    def save(self, key: str, stream: BinaryIO) -> int:
        counted = _CountingReader(stream)
        try:
            self._client.upload_fileobj(counted, self.bucket, check_key(key))
        except (BotoCoreError, ClientError) as exc:
            raise UpstreamUnavailable(f"file storage is unavailable: {exc}") from None
        return counted.count

    def read(self, key: str) -> bytes:
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=check_key(key))
            data: bytes = response["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise NotFound(f"stored file {key!r} is missing") from None
            raise UpstreamUnavailable(f"file storage is unavailable: {exc}") from None
        except BotoCoreError as exc:
            raise UpstreamUnavailable(f"file storage is unavailable: {exc}") from None
        return data

    def delete(self, key: str) -> None:
        try:
            self._client.delete_object(Bucket=self.bucket, Key=check_key(key))
        except (BotoCoreError, ClientError) as exc:
            raise UpstreamUnavailable(f"file storage is unavailable: {exc}") from None

    def exists(self, key: str) -> bool:
        try:
            self._client.head_object(Bucket=self.bucket, Key=check_key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise UpstreamUnavailable(f"file storage is unavailable: {exc}") from None
        return True

    def ping(self) -> None:
        self._client.head_bucket(Bucket=self.bucket)


class _CountingReader:
    """Wraps a stream and counts the bytes read through it."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._stream.read(size)
        self.count += len(chunk)
        return chunk
