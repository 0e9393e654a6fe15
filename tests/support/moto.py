"""moto_server, the real S3 wire protocol the tests talk to, and the AWS settings that keep them on it."""

import contextlib
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator

import boto3

from tests.support.net import free_port, stop_process, wait_for_http

BUCKET = "tooltool-test"

# Tests talk to moto only: no real AWS credentials or config may ever be picked up.
AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
AWS_UNSET = ("AWS_SESSION_TOKEN", "AWS_PROFILE")


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """moto_server on a free loopback port; yields its endpoint URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/moto-api/")
        yield url
    finally:
        stop_process(process)


def fresh_bucket(endpoint: str, bucket: str = BUCKET) -> str:
    """Wipe moto (POST /moto-api/reset) and create an empty bucket."""
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10)
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    return bucket
