"""CloudFront signed redirects (TOOLTOOL_CLOUDFRONT_*): where they point, that their signature
verifies with the public key, when they expire, and that they are reused like the S3 ones.

The signature is checked here from CloudFront's documented rules (canned policy JSON, RSA
PKCS#1 v1.5 over SHA-1, base64 with `-_~` for `+=/`), not with the code that signed it.
"""

import base64
import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from manifests import IndexEntry, Visibility
from proxy.config import ConfigError, load_config
from proxy.http.context import STORES
from tests.support.cli import clean_env, run_cli
from tests.support.credentials import INTERNAL_READER
from tests.support.moto import BUCKET
from tests.support.net import free_port
from tests.support.proxies import Proxy, ProxyFactory

DISTRIBUTION = "https://d111111abcdef8.cloudfront.net"
KEY_ID = "K2JCJMDEHXQW5F"
TTL = 300
DATA = b"bytes served through the CDN\n"
S3_ONLY = pytest.mark.parametrize("store_kind", ["s3"], indirect=True)


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, password: bytes | None = None) -> str:
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption).decode()


def cloudfront_env(key: rsa.RSAPrivateKey, **extra: str) -> dict[str, str]:
    return {"cloudfront_url": DISTRIBUTION, "cloudfront_key_id": KEY_ID, "cloudfront_private_key": pem(key), **extra}


async def put_file(proxy: Proxy, visibility: Visibility = Visibility.PUBLIC) -> str:
    digest = hashlib.sha512(DATA).hexdigest()
    await proxy.store.write(f"sha512/{digest}", DATA, "application/octet-stream")
    await proxy.index.save(IndexEntry(digest=digest, size=len(DATA), visibility=visibility, instances=("us-east-1",)))
    return digest


def verify_canned_url(url: str, public_key: rsa.RSAPublicKey) -> int:
    """Raise unless `url` is a valid canned-policy CloudFront URL for this key; return its Expires."""
    parts = urlsplit(url)
    query = parse_qs(parts.query, strict_parsing=True)
    assert sorted(query) == ["Expires", "Key-Pair-Id", "Signature"]
    assert all(len(values) == 1 for values in query.values())
    assert query["Key-Pair-Id"] == [KEY_ID]
    expires = int(query["Expires"][0])
    resource = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    # The canned policy CloudFront rebuilds from the URL: this JSON, without any whitespace.
    statement = {"Resource": resource, "Condition": {"DateLessThan": {"AWS:EpochTime": expires}}}
    policy = json.dumps({"Statement": [statement]}, separators=(",", ":"))
    signature = base64.b64decode(query["Signature"][0].translate(str.maketrans("-_~", "+=/")), validate=True)
    public_key.verify(signature, policy.encode(), padding.PKCS1v15(), hashes.SHA1())  # noqa: S303
    return expires


@S3_ONLY
async def test_download_redirects_to_a_cloudfront_url_that_verifies_and_expires_after_the_ttl(
    make_proxy: ProxyFactory, rsa_key: rsa.RSAPrivateKey
) -> None:
    proxy = await make_proxy(**cloudfront_env(rsa_key, signed_url_ttl=str(TTL)))
    digest = await put_file(proxy)
    before = int(time.time())
    response = await proxy.request("GET", f"/sha512/{digest}")
    after = int(time.time())
    assert response.status == 302
    location = response.headers["Location"]
    assert location.startswith(f"{DISTRIBUTION}/sha512/{digest}?")
    expires = verify_canned_url(location, rsa_key.public_key())
    assert before + TTL <= expires <= after + TTL + 1
    assert response.headers["Cache-Control"] == "no-store"
    assert location.replace("&", "&amp;") in await response.text()  # the little redirect page


@S3_ONLY
async def test_the_signature_fails_for_another_key_and_another_digest(
    make_proxy: ProxyFactory, rsa_key: rsa.RSAPrivateKey
) -> None:
    proxy = await make_proxy(**cloudfront_env(rsa_key))
    digest = await put_file(proxy)
    location = (await proxy.request("GET", f"/sha512/{digest}")).headers["Location"]
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(InvalidSignature):
        verify_canned_url(location, other.public_key())
    with pytest.raises(InvalidSignature):
        verify_canned_url(location.replace(digest, "0" * 128), rsa_key.public_key())


@S3_ONLY
async def test_a_signed_url_is_reused_and_internal_files_keep_their_scope_check(
    make_proxy: ProxyFactory, rsa_key: rsa.RSAPrivateKey
) -> None:
    proxy = await make_proxy(**cloudfront_env(rsa_key))
    digest = await put_file(proxy, Visibility.INTERNAL)
    assert (await proxy.request("GET", f"/sha512/{digest}")).status == 403
    first = await proxy.request("GET", f"/sha512/{digest}", INTERNAL_READER)
    second = await proxy.request("GET", f"/sha512/{digest}", INTERNAL_READER)
    assert first.status == second.status == 302
    assert first.headers["Location"] == second.headers["Location"]
    verify_canned_url(first.headers["Location"], rsa_key.public_key())


@S3_ONLY
async def test_other_regions_keep_their_signed_s3_urls(
    make_proxy: ProxyFactory, rsa_key: rsa.RSAPrivateKey, s3_client: Any
) -> None:
    # The distribution fronts the default (first) region's bucket; a file served from another
    # region still redirects to that region's bucket.
    s3_client.create_bucket(Bucket="tooltool-west")
    proxy = await make_proxy(regions=f"east:{BUCKET};west:tooltool-west", **cloudfront_env(rsa_key))
    digest = hashlib.sha512(DATA).hexdigest()
    for store in proxy.app[STORES].regions.values():
        await store.write(f"sha512/{digest}", DATA, "application/octet-stream")
    await proxy.index.save(
        IndexEntry(digest=digest, size=len(DATA), visibility=Visibility.PUBLIC, instances=("east", "west"))
    )
    east = (await proxy.request("GET", f"/sha512/{digest}")).headers["Location"]
    west = (await proxy.request("GET", f"/sha512/{digest}?region=west")).headers["Location"]
    assert east.startswith(f"{DISTRIBUTION}/sha512/{digest}?")
    assert urlsplit(west).path == f"/tooltool-west/sha512/{digest}"
    assert "X-Amz-Signature=" in west


@S3_ONLY
async def test_the_signed_url_never_reaches_a_log_record(
    make_proxy: ProxyFactory, rsa_key: rsa.RSAPrivateKey, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    proxy = await make_proxy(**cloudfront_env(rsa_key))
    digest = await put_file(proxy)
    location = (await proxy.request("GET", f"/sha512/{digest}")).headers["Location"]
    signature = parse_qs(urlsplit(location).query)["Signature"][0]
    assert any(record.name == "request.summary" for record in caplog.records)
    for record in caplog.records:
        text = record.getMessage() + repr(record.__dict__)
        assert signature not in text
        assert "Key-Pair-Id" not in text


def test_the_private_key_may_be_pem_text_or_a_file(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    key_file = tmp_path / "cloudfront.pem"
    key_file.write_text(pem(rsa_key))
    base = {"TOOLTOOL_STORE": f"s3://{BUCKET}", "TOOLTOOL_CLOUDFRONT_URL": DISTRIBUTION + "/"}
    base["TOOLTOOL_CLOUDFRONT_KEY_ID"] = KEY_ID
    for value in (pem(rsa_key), str(key_file)):
        config = load_config({**base, "TOOLTOOL_CLOUDFRONT_PRIVATE_KEY": value})
        assert config.cloudfront is not None
        url = config.cloudfront.signed_url("sha512/" + "a" * 128, 60)
        assert url.startswith(f"{DISTRIBUTION}/sha512/{'a' * 128}?")
        verify_canned_url(url, rsa_key.public_key())
        assert "PRIVATE" not in repr(config)


def test_without_cloudfront_settings_there_is_no_cloudfront() -> None:
    assert load_config({"TOOLTOOL_STORE": f"s3://{BUCKET}"}).cloudfront is None


@pytest.mark.parametrize(
    "case", ["missing-file", "not-pem", "encrypted", "not-rsa", "no-key-id", "only-url", "streaming", "local-store"]
)
def test_unusable_cloudfront_settings_are_a_config_error_without_the_key(
    case: str, tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    env = {
        "TOOLTOOL_STORE": f"s3://{BUCKET}",
        "TOOLTOOL_CLOUDFRONT_URL": DISTRIBUTION,
        "TOOLTOOL_CLOUDFRONT_KEY_ID": KEY_ID,
        "TOOLTOOL_CLOUDFRONT_PRIVATE_KEY": pem(rsa_key),
    }
    secret_part = pem(rsa_key).splitlines()[1]
    if case == "missing-file":
        env["TOOLTOOL_CLOUDFRONT_PRIVATE_KEY"] = str(tmp_path / "absent.pem")
    elif case == "not-pem":
        env["TOOLTOOL_CLOUDFRONT_PRIVATE_KEY"] = "-----BEGIN PRIVATE KEY-----\n" + secret_part + "\n"
    elif case == "encrypted":
        env["TOOLTOOL_CLOUDFRONT_PRIVATE_KEY"] = pem(rsa_key, password=b"passphrase")
    elif case == "not-rsa":
        env["TOOLTOOL_CLOUDFRONT_PRIVATE_KEY"] = pem(ec.generate_private_key(ec.SECP256R1()))
    elif case == "no-key-id":
        del env["TOOLTOOL_CLOUDFRONT_KEY_ID"]
    elif case == "only-url":
        del env["TOOLTOOL_CLOUDFRONT_KEY_ID"], env["TOOLTOOL_CLOUDFRONT_PRIVATE_KEY"]
    elif case == "streaming":
        env["TOOLTOOL_DOWNLOAD"] = "stream"
    elif case == "local-store":
        env["TOOLTOOL_STORE"] = f"file://{tmp_path}"
    with pytest.raises(ConfigError) as refused:
        load_config(env)
    message = str(refused.value)
    assert "TOOLTOOL_CLOUDFRONT" in message
    assert "\n" not in message
    assert secret_part not in message


def test_a_key_that_does_not_load_stops_serve_with_one_line(tmp_path: Path) -> None:
    env = {
        **clean_env(),
        "TOOLTOOL_STORE": f"s3://{BUCKET}",
        "TOOLTOOL_CLOUDFRONT_URL": DISTRIBUTION,
        "TOOLTOOL_CLOUDFRONT_KEY_ID": KEY_ID,
        "TOOLTOOL_CLOUDFRONT_PRIVATE_KEY": str(tmp_path / "absent.pem"),
    }
    result = run_cli("serve", "--port", str(free_port()), cwd=tmp_path, env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tooltool-proxy: error: TOOLTOOL_CLOUDFRONT_PRIVATE_KEY ")
