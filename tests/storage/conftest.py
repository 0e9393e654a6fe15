"""Fixtures of the store tests."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from proxy.storage import ObjectStore
from proxy.storage.local import LocalStore
from proxy.storage.s3 import S3Store
from tests.support.moto import BUCKET


@pytest.fixture
async def store(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[ObjectStore]:
    """A fresh, empty store of the parametrized kind (moto is reset for S3), closed afterwards."""
    backend: ObjectStore
    if store_kind == "local":
        root = tmp_path / "store"
        root.mkdir()
        backend = LocalStore(root)
    else:
        request.getfixturevalue("s3_bucket")
        backend = await S3Store.connect(BUCKET, endpoint_url=request.getfixturevalue("moto_endpoint"))
    try:
        yield backend
    finally:
        await backend.close()
