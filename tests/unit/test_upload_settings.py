"""UploadSettings.from_config: the one place the upload settings come from the configuration."""

import pytest

from manifests import Visibility
from proxy.config import ConfigError, load_config
from proxy.uploads import PutUrls, UploadSettings

S3 = {"TOOLTOOL_STORE": "s3://bucket/prefix", "TOOLTOOL_UPLOAD_SECRET": "x" * 32}


def test_an_s3_store_hands_out_urls_the_store_signs() -> None:
    settings = UploadSettings.from_config(load_config(S3), "http://127.0.0.1:8000")
    assert (settings.put_urls, settings.proxy_put_base) == (PutUrls.STORE, None)


def test_uploads_through_the_proxy_use_the_public_url_before_the_listening_address() -> None:
    env = S3 | {"TOOLTOOL_UPLOAD_TARGET": "proxy", "TOOLTOOL_PUBLIC_URL": "https://tooltool.example.com"}
    settings = UploadSettings.from_config(load_config(env), "http://127.0.0.1:8000")
    assert (settings.put_urls, settings.proxy_put_base) == (PutUrls.PROXY, "https://tooltool.example.com")
    listening = UploadSettings.from_config(
        load_config(S3 | {"TOOLTOOL_UPLOAD_TARGET": "proxy"}), "http://127.0.0.1:8000"
    )
    assert listening.proxy_put_base == "http://127.0.0.1:8000"


def test_uploads_through_the_proxy_need_an_address() -> None:
    with pytest.raises(ConfigError, match="TOOLTOOL_PUBLIC_URL is required"):
        UploadSettings.from_config(load_config(S3 | {"TOOLTOOL_UPLOAD_TARGET": "proxy"}))


def test_in_process_uploads_hand_out_no_put_urls_and_keep_the_limits() -> None:
    config = load_config(S3 | {"TOOLTOOL_SCOPE_PREFIX": "my/prefix"})
    settings = UploadSettings.from_config(config, in_process=True)
    assert (settings.put_urls, settings.proxy_put_base) == (PutUrls.NONE, None)
    assert settings.max_file_bytes == config.max_file_bytes
    assert settings.put_url_ttl == config.upload_url_ttl
    assert settings.scopes.upload(Visibility.INTERNAL) == "my/prefix/upload/internal"
