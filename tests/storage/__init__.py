"""Helpers shared by storage tests: a local S3-compatible server (moto), loopback only."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from moto.server import ThreadedMotoServer

from caliber.core.settings import Settings


@contextmanager
def moto_server() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 (a free port); yields its endpoint URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        if server._server is not None:  # stop() leaves the listening socket open
            server._server.server_close()


def s3_settings(endpoint: str, bucket: str) -> Settings:
    return Settings(
        _env_file=None,
        AWS_BUCKET_NAME=bucket,
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
    )


def create_bucket(endpoint: str) -> str:
    """A new, empty bucket on the local server; returns its name."""
    import boto3

    name = f"caliber-test-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    client.create_bucket(Bucket=name)
    client.close()
    return name
