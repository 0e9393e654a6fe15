"""Fixtures of the admin command tests: `tooltool-proxy` in this process on a fresh store (`admin`), on two regions
(`regional`), and on two regions in tags mode (`tagged`)."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.admin import WEST_BUCKET, Admin, open_admin
from tests.support.moto import BUCKET


@pytest.fixture
def regions_env(
    store_kind: str, store_env: dict[str, str], tmp_path: Path, request: pytest.FixtureRequest
) -> dict[str, str]:
    """Two regions, `east` and `west`, each with its own artifact store."""
    if store_kind == "local":
        regions = f"east:file://{tmp_path / 'east'};west:file://{tmp_path / 'west'}"
    else:
        request.getfixturevalue("s3_client").create_bucket(Bucket=WEST_BUCKET)
        regions = f"east:{BUCKET};west:{WEST_BUCKET}"
    return {**store_env, "TOOLTOOL_REGIONS": regions}


@pytest.fixture
async def admin(
    store_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> AsyncIterator[Admin]:
    async for opened in open_admin(store_env, monkeypatch, capsys):
        yield opened


@pytest.fixture
async def regional(
    regions_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> AsyncIterator[Admin]:
    async for opened in open_admin(regions_env, monkeypatch, capsys):
        yield opened


@pytest.fixture
async def tagged(
    regions_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> AsyncIterator[Admin]:
    async for opened in open_admin({**regions_env, "TOOLTOOL_INDEX": "tags"}, monkeypatch, capsys):
        yield opened
