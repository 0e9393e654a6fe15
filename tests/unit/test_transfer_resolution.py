"""Downloads, uploads and the index mode resolved against what the stores declare they can do
(proxy.config.resolve_transfers), from the configuration alone: no store is opened here."""

from pathlib import Path

import pytest

from proxy.config import ConfigError, DownloadMode, IndexMode, UploadTarget, load_config, resolve_transfers
from proxy.storage import LengthMismatch, StoreError, keeps_tags, signs_urls
from proxy.storage.local import LocalStore
from proxy.storage.s3 import S3Store

S3_ENV = {"TOOLTOOL_STORE": "s3://bucket/prefix"}


def local_env(tmp_path: Path) -> dict[str, str]:
    return {"TOOLTOOL_STORE": f"file://{tmp_path / 'data'}"}


class PlainStore(LocalStore):
    """A backend declaring neither signed URLs nor tags: LocalStore without its tag methods."""

    get_tags = None  # type: ignore[assignment]
    put_tags = None  # type: ignore[assignment]


def test_the_backends_declare_what_they_can_do() -> None:
    assert signs_urls(S3Store)
    assert keeps_tags(S3Store)
    assert not signs_urls(LocalStore)
    assert keeps_tags(LocalStore)
    assert not keeps_tags(PlainStore)


def test_unset_a_local_store_streams_and_takes_proxied_puts(tmp_path: Path) -> None:
    config = load_config(local_env(tmp_path))
    assert (config.download_mode, config.upload_target) == (DownloadMode.STREAM, UploadTarget.PROXY)
    assert config.streams_downloads
    assert config.uploads_through_proxy


def test_unset_an_s3_store_redirects_and_hands_out_store_put_urls() -> None:
    config = load_config(S3_ENV)
    assert (config.download_mode, config.upload_target) == (DownloadMode.REDIRECT, UploadTarget.STORE)
    assert not config.streams_downloads
    assert not config.uploads_through_proxy


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"TOOLTOOL_DOWNLOAD": "stream"}, (DownloadMode.STREAM, UploadTarget.STORE)),
        ({"TOOLTOOL_UPLOAD_TARGET": "proxy"}, (DownloadMode.REDIRECT, UploadTarget.PROXY)),
        (
            {"TOOLTOOL_DOWNLOAD": "redirect", "TOOLTOOL_UPLOAD_TARGET": "store"},
            (DownloadMode.REDIRECT, UploadTarget.STORE),
        ),
        ({"TOOLTOOL_DOWNLOAD": "", "TOOLTOOL_UPLOAD_TARGET": ""}, (DownloadMode.REDIRECT, UploadTarget.STORE)),
    ],
)
def test_an_s3_store_takes_every_explicit_mode(variables: dict[str, str], expected: tuple[str, str]) -> None:
    config = load_config(S3_ENV | variables)
    assert (config.download_mode, config.upload_target) == expected


def test_a_local_store_takes_the_modes_it_can_serve(tmp_path: Path) -> None:
    config = load_config(local_env(tmp_path) | {"TOOLTOOL_DOWNLOAD": "stream", "TOOLTOOL_UPLOAD_TARGET": "proxy"})
    assert (config.download_mode, config.upload_target) == (DownloadMode.STREAM, UploadTarget.PROXY)
    assert load_config(local_env(tmp_path) | {"TOOLTOOL_INDEX": "tags"}).index_mode is IndexMode.TAGS


BAD_COMBINATIONS = [
    (
        {"TOOLTOOL_DOWNLOAD": "redirect"},
        "TOOLTOOL_DOWNLOAD=redirect needs a store that signs URLs, and the LocalStore of region 'local' cannot; "
        "set TOOLTOOL_DOWNLOAD=stream or leave it unset",
    ),
    (
        {"TOOLTOOL_UPLOAD_TARGET": "store"},
        "TOOLTOOL_UPLOAD_TARGET=store needs a store that signs URLs, and the LocalStore of region 'local' cannot; "
        "set TOOLTOOL_UPLOAD_TARGET=proxy or leave it unset",
    ),
]


@pytest.mark.parametrize(("variables", "line"), BAD_COMBINATIONS, ids=["download", "upload"])
def test_a_mode_the_local_store_cannot_serve_stops_configuration_with_one_line(
    tmp_path: Path, variables: dict[str, str], line: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(local_env(tmp_path) | variables)
    assert str(raised.value) == line


def test_tags_mode_on_a_store_without_tags_stops_with_one_line() -> None:
    with pytest.raises(ConfigError) as raised:
        resolve_transfers({"east": S3Store, "west": PlainStore}, None, None, IndexMode.TAGS)
    assert str(raised.value) == (
        "TOOLTOOL_INDEX=tags needs a store that keeps object tags, and the PlainStore of region 'west' does not; "
        "set TOOLTOOL_INDEX=objects"
    )
    assert resolve_transfers({"east": S3Store, "west": PlainStore}, None, None, IndexMode.OBJECTS) == (
        DownloadMode.STREAM,
        UploadTarget.PROXY,
    )


def test_regions_redirect_only_when_every_region_store_signs(tmp_path: Path) -> None:
    every_s3 = load_config({"TOOLTOOL_REGIONS": "east:bucket-a;west:bucket-b"})
    assert (every_s3.download_mode, every_s3.upload_target) == (DownloadMode.REDIRECT, UploadTarget.STORE)
    mixed = {"TOOLTOOL_REGIONS": f"east:bucket-a;west:file://{tmp_path / 'west'}"}
    assert load_config(mixed).download_mode is DownloadMode.STREAM
    with pytest.raises(ConfigError, match=r"^TOOLTOOL_DOWNLOAD=redirect .* the LocalStore of region 'west' cannot"):
        load_config(mixed | {"TOOLTOOL_DOWNLOAD": "redirect"})


def test_a_local_home_store_does_not_decide_for_s3_regions(tmp_path: Path) -> None:
    """Artifacts live in the regions' stores; the home store holds metadata only."""
    config = load_config(local_env(tmp_path) | {"TOOLTOOL_REGIONS": "east:bucket-a"})
    assert (config.download_mode, config.upload_target) == (DownloadMode.REDIRECT, UploadTarget.STORE)


def test_cloudfront_still_needs_redirected_downloads(tmp_path: Path) -> None:
    cloudfront = {
        "TOOLTOOL_CLOUDFRONT_URL": "https://d111111abcdef8.cloudfront.net",
        "TOOLTOOL_CLOUDFRONT_KEY_ID": "K2JCJMDEHXQW5F",
        "TOOLTOOL_CLOUDFRONT_PRIVATE_KEY": "-----BEGIN RSA PRIVATE KEY-----\nnot a key\n-----END RSA PRIVATE KEY-----",
    }
    with pytest.raises(ConfigError, match=r"^TOOLTOOL_CLOUDFRONT_URL needs redirected downloads"):
        load_config(local_env(tmp_path) | cloudfront)


def test_a_length_mismatch_is_a_store_error_not_a_value_error() -> None:
    assert issubclass(LengthMismatch, StoreError)
    assert not issubclass(LengthMismatch, ValueError)
