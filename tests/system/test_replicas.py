"""Several replicas, one bucket (issue 3 §7): two `tooltool-proxy serve` processes on one S3
bucket share everything through the store; the cache TTL bounds how long one may lag."""

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import tooltool_client
from tests.support.credentials import ADMIN, write_clients_file
from tests.support.hawk import tooltool_header
from tests.support.moto import BUCKET
from tests.support.serve import ServeProcess

CACHE_TTL = 2  # seconds: the documented bound on how stale another replica's view can be


@pytest.fixture
def replicas(moto_endpoint: str, s3_bucket: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    env = {
        "TOOLTOOL_STORE": f"s3://{BUCKET}/",
        "TOOLTOOL_S3_ENDPOINT_URL": moto_endpoint,
        "TOOLTOOL_CLIENTS_FILE": str(write_clients_file(tmp_path / "clients.json")),
        "TOOLTOOL_CACHE_TTL": str(CACHE_TTL),
    }
    with (
        ServeProcess(env, tmp_path / "replica-a.log") as first,
        ServeProcess(env, tmp_path / "replica-b.log") as second,
    ):
        yield f"{first.url}/", f"{second.url}/"


def admin_auth_file(tmp_path: Path) -> Path:
    path = tmp_path / "admin-auth.json"
    path.write_text(json.dumps({"clientId": ADMIN.client_id, "accessToken": ADMIN.access_token}))
    return path


def anonymous_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as refused:
        refused.close()
        return refused.code


def patch(base_url: str, digest: str, operations: list[dict[str, str]]) -> int:
    url = f"{base_url}file/sha512/{digest}"
    body = json.dumps(operations).encode()
    request = urllib.request.Request(url, data=body, method="PATCH", headers={"Content-Type": "application/json"})
    request.add_header("Authorization", tooltool_header(ADMIN.client_id, ADMIN.access_token, "PATCH", url, body))
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(response.status)


def test_upload_through_one_replica_downloads_through_the_other(replicas: tuple[str, str], tmp_path: Path) -> None:
    first, second = replicas
    artifact = tmp_path / "shared.bin"
    artifact.write_bytes(os.urandom(50_000))
    tooltool_client.upload(first, admin_auth_file(tmp_path), {artifact: "public"}, "Bug 7: replicas")
    record = tooltool_client.file_record(artifact, "public")
    tooltool_client.fetch(second, record, tmp_path / "fetched")  # anonymous, through the other replica
    assert (tmp_path / "fetched").read_bytes() == artifact.read_bytes()


def test_visibility_change_through_one_replica_reaches_the_other_within_the_cache_ttl(
    replicas: tuple[str, str], tmp_path: Path
) -> None:
    first, second = replicas
    artifact = tmp_path / "soon-internal.bin"
    artifact.write_bytes(os.urandom(10_000))
    tooltool_client.upload(first, admin_auth_file(tmp_path), {artifact: "public"}, "Bug 7: replicas")
    digest = tooltool_client.file_record(artifact, "public")["digest"]
    assert anonymous_status(f"{second}sha512/{digest}") == 200  # the second replica now caches "public"

    changed_at = time.monotonic()
    assert patch(first, digest, [{"op": "set_visibility", "visibility": "internal"}]) == 200
    assert anonymous_status(f"{first}sha512/{digest}") == 403  # the writer sees it at once
    while anonymous_status(f"{second}sha512/{digest}") != 403:
        assert time.monotonic() - changed_at < CACHE_TTL + 1.0, "the other replica lagged past the cache TTL"
        time.sleep(0.1)
