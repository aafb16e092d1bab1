"""The storage backend the settings ask for."""

from __future__ import annotations

from caliber.core.settings import Settings
from caliber.storage.base import Storage
from caliber.storage.local import LocalStorage


def build_storage(settings: Settings) -> Storage:
    """S3 when a bucket is configured, else local disk under STORAGE_DIR."""
    if settings.uses_s3:
        from caliber.storage.s3 import S3Storage  # noqa: PLC0415 - boto3 only when used

        return S3Storage.from_settings(settings)
    return LocalStorage(settings.storage_dir)
