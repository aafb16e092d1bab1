"""Both storage backends behave the same: local disk and S3 (a local moto server)."""

from __future__ import annotations

import io
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from caliber.core.errors import InvalidInput, NotFound, PayloadTooLarge, UpstreamUnavailable
from caliber.core.settings import Settings
from caliber.storage.base import Storage, check_key
from caliber.storage.factory import build_storage
from caliber.storage.local import LocalStorage
from caliber.storage.s3 import S3Storage
from tests.storage import create_bucket, moto_server, s3_settings

BAD_KEYS = [
    "../x",
    "uploads/../../x",
    "/etc/passwd",
    "/abs/file.csv",
    "uploads//x.csv",
    "Uploads/X.csv",
    "uploads/x.csv/",
    "",
    ".hidden",
    "uploads/a b.csv",
    "C:\\x\\y.csv",
]


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "local":
        return LocalStorage(tmp_path / "files")
    endpoint: str = request.getfixturevalue("s3_endpoint")
    return S3Storage.from_settings(s3_settings(endpoint, create_bucket(endpoint)))


class _Exploding:
    """A stream that yields ``good`` bytes, then raises (as an upload over the limit does)."""

    def __init__(self, good: bytes) -> None:
        self._data = io.BytesIO(good)

    def read(self, size: int = -1) -> bytes:
        chunk = self._data.read(size)
        if not chunk:
            raise PayloadTooLarge("too big", limit_bytes=1)
        return chunk


def test_save_read_exists_delete(storage: Storage) -> None:
    key = "uploads/0123abcd.csv"
    assert not storage.exists(key)
    assert storage.save(key, io.BytesIO(b"Site,Impressions\na.com,10\n")) == 26
    assert storage.exists(key)
    assert storage.read(key) == b"Site,Impressions\na.com,10\n"
    storage.delete(key)
    assert not storage.exists(key)
    storage.delete(key)  # deleting a missing key is not an error


def test_save_overwrites_and_streams_large_content(storage: Storage) -> None:
    key = "uploads/big.bin"
    storage.save(key, io.BytesIO(b"old"))
    payload = os.urandom(1024) * 2600  # ~2.5 MiB: several chunks
    assert storage.save(key, io.BytesIO(payload)) == len(payload)
    assert storage.read(key) == payload


def test_empty_file_is_stored(storage: Storage) -> None:
    assert storage.save("uploads/empty.csv", io.BytesIO(b"")) == 0
    assert storage.exists("uploads/empty.csv")
    assert storage.read("uploads/empty.csv") == b""


def test_reading_a_missing_key_is_not_found(storage: Storage) -> None:
    with pytest.raises(NotFound, match="missing"):
        storage.read("uploads/nothing.csv")


def test_a_failing_stream_leaves_nothing_behind(storage: Storage, tmp_path: Path) -> None:
    key = "uploads/partial.csv"
    with pytest.raises(PayloadTooLarge):
        storage.save(key, _Exploding(b"x" * 300_000))  # type: ignore[arg-type]
    assert not storage.exists(key)
    if isinstance(storage, LocalStorage):
        assert [p for p in storage.root.rglob("*") if p.is_file()] == []


def test_ping(storage: Storage) -> None:
    storage.ping()


@pytest.mark.parametrize("key", BAD_KEYS)
def test_unsafe_keys_are_refused(storage: Storage, key: str) -> None:
    with pytest.raises(InvalidInput, match="invalid storage key"):
        storage.save(key, io.BytesIO(b"x"))
    for operation in (storage.read, storage.exists, storage.delete):
        with pytest.raises(InvalidInput):
            operation(key)


@pytest.mark.parametrize("key", BAD_KEYS)
def test_check_key_refuses(key: str) -> None:
    with pytest.raises(InvalidInput):
        check_key(key)


@pytest.mark.parametrize("key", ["uploads/0f3a.csv", "uploads/a_b-c.xlsx", "x", "a/b/c.tsv"])
def test_check_key_accepts_generated_keys(key: str) -> None:
    assert check_key(key) == key


def test_local_files_stay_under_the_root(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "root")
    storage.save("uploads/abc.csv", io.BytesIO(b"data"))
    assert (tmp_path / "root" / "uploads" / "abc.csv").read_bytes() == b"data"
    assert storage.path("uploads/abc.csv").is_relative_to(storage.root)
    assert not list((tmp_path / "root" / "uploads").glob(".upload-*"))


def test_s3_objects_land_in_the_bucket(s3_endpoint: str) -> None:
    import boto3

    bucket = create_bucket(s3_endpoint)
    storage = build_storage(s3_settings(s3_endpoint, bucket))
    assert isinstance(storage, S3Storage)
    storage.save("uploads/abc.csv", io.BytesIO(b"data"))
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    listed = client.list_objects_v2(Bucket=bucket)
    client.close()
    assert [o["Key"] for o in listed["Contents"]] == ["uploads/abc.csv"]


def test_s3_missing_bucket_fails_ping(s3_endpoint: str) -> None:
    storage = S3Storage.from_settings(s3_settings(s3_endpoint, "no-such-bucket"))
    with pytest.raises(Exception, match=r"404|Not Found|NoSuchBucket"):
        storage.ping()


def test_s3_unreachable_is_upstream_unavailable() -> None:
    with socket.socket() as sock:  # a loopback port with nothing listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    storage = S3Storage.from_settings(s3_settings(f"http://127.0.0.1:{port}", "bucket"))
    with pytest.raises(UpstreamUnavailable, match="unavailable"):
        storage.read("uploads/x.csv")


def test_build_storage_is_local_without_a_bucket(tmp_path: Path) -> None:
    storage = build_storage(Settings(_env_file=None, DATA_DIR=tmp_path))
    assert isinstance(storage, LocalStorage)
    assert storage.root == (tmp_path / "files").resolve()
