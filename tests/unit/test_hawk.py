"""Hawk without a server (proxy/auth.py): header parsing, the MAC and the checks of a local verification.

The oracles are the Hawk specification's published examples (tests/support/data/hawk_vectors.json),
mohawk (what the taskcluster library signs with) and tests/support/hawk.py (what tooltool.py sends).
"""

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import mohawk
import mohawk.util
import pytest

from proxy.auth import Authenticator, HawkRequest, Identity, _hawk_mac, parse_hawk_header
from proxy.clients import ClientsFile
from proxy.http.problems import answer_for
from proxy.outcomes import NeedsCredentials
from tests.support.credentials import ADMIN, PUBLIC_READER, UPLOADER, write_clients_file
from tests.support.hawk import hawk_mac, taskcluster_ext, taskcluster_header, tooltool_header
from tests.support.tables import expand, load_table

VECTORS = load_table("hawk_vectors.json")
MALFORMED = load_table("hawk_headers.json")["malformed"]
WELL_FORMED = 'Hawk mac="bWFj", id="admin", ts="1353832234", nonce="j4h3g2"'
URL = "http://127.0.0.1:8000/sha512/" + "ab" * 64


def request_for(header: str, method: str, url: str, content: bytes = b"", content_type: str = "") -> HawkRequest:
    """The HawkRequest the proxy would build for this request to `url`."""
    parts = urlsplit(url)
    resource = parts.path + (f"?{parts.query}" if parts.query else "")
    return HawkRequest(header, method, resource, parts.hostname or "", parts.port or 80, content, content_type)


def refusal(call: Any, *args: Any) -> NeedsCredentials:
    """The refusal `call` raises, and that the HTTP edge answers it 401 asking for Hawk."""
    with pytest.raises(NeedsCredentials) as refused:
        call(*args)
    answer = answer_for(refused.value)
    assert answer is not None
    assert answer.status == 401
    assert answer.headers(refused.value) == {"WWW-Authenticate": "Hawk"}
    return refused.value


# --- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=[v["id"] for v in VECTORS["vectors"]])
def test_published_headers_parse_as_mohawk_parses_them(vector: dict[str, Any]) -> None:
    assert parse_hawk_header(vector["header"]) == mohawk.util.parse_authorization_header(vector["header"])


@pytest.mark.parametrize(
    "header",
    [
        tooltool_header(ADMIN.client_id, ADMIN.access_token, "GET", URL),
        tooltool_header(UPLOADER.client_id, UPLOADER.access_token, "POST", URL, b'{"a": 1}'),
        taskcluster_header(ADMIN.client_id, ADMIN.access_token, "GET", URL, ext=taskcluster_ext(authorized_scopes=[])),
        WELL_FORMED.replace("Hawk", "hawk"),
    ],
    ids=["tooltool", "tooltool-with-body", "taskcluster-with-ext", "lower-case-scheme"],
)
def test_clients_headers_parse_as_mohawk_parses_them(header: str) -> None:
    assert parse_hawk_header(header) == mohawk.util.parse_authorization_header(header)


@pytest.mark.parametrize("row", MALFORMED, ids=[row["id"] for row in MALFORMED])
def test_malformed_headers_are_refused_with_their_reason(row: dict[str, str]) -> None:
    header = expand(row["header"], {"VALID": WELL_FORMED})
    assert refusal(parse_hawk_header, header).detail == row["reason"]


# --- the MAC ---------------------------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=[v["id"] for v in VECTORS["vectors"]])
def test_the_mac_is_the_published_one(vector: dict[str, Any]) -> None:
    key = VECTORS["credentials"]["key"]
    content = vector["content"].encode()
    hawk = HawkRequest(
        vector["header"], vector["method"], vector["resource"], vector["host"], vector["port"], content, ""
    )
    assert _hawk_mac(parse_hawk_header(vector["header"]), key, hawk).decode() == vector["mac"]
    if "hash" in vector:
        assert mohawk.util.calculate_payload_hash(content, "sha256", vector["content_type"]).decode() == vector["hash"]


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("GET", URL, None),
        ("HEAD", URL + "?region=us-west-2", None),
        ("GET", "http://localhost:80/file?q=gcc&cursor=eyJkIjoiYSJ9", None),
        ("POST", "http://127.0.0.1:8000/upload?region=eu-central-1", b'{"message": "Bug 1"}'),
        ("PATCH", "https://tooltool.example:443/file/sha512/" + "cd" * 64, b"[]"),
    ],
)
def test_the_mac_is_the_one_tooltool_py_and_mohawk_compute(method: str, url: str, body: bytes | None) -> None:
    tooltool = tooltool_header(ADMIN.client_id, ADMIN.access_token, method, url, body)
    parsed = parse_hawk_header(tooltool)
    assert _hawk_mac(parsed, ADMIN.access_token, request_for(tooltool, method, url)).decode() == parsed["mac"]

    sender = mohawk.Sender(
        {"id": ADMIN.client_id, "key": ADMIN.access_token, "algorithm": "sha256"},
        url,
        method,
        content=body or b"",
        content_type="application/json" if body else "",
        ext="ext-data",
    )
    header = str(sender.request_header)
    parsed = parse_hawk_header(header)
    assert _hawk_mac(parsed, ADMIN.access_token, request_for(header, method, url)).decode() == parsed["mac"]
    parts = urlsplit(url)
    resource = parts.path + (f"?{parts.query}" if parts.query else "")
    expected = hawk_mac(
        ADMIN.access_token,
        parsed["ts"],
        parsed["nonce"],
        method,
        resource,
        parts.hostname or "",
        parts.port or 80,
        parsed["hash"],
        parsed["ext"],
    )
    assert parsed["mac"] == expected


@pytest.mark.parametrize(
    "changed",
    [
        {"method": "POST"},
        {"resource": "/sha512/" + "ab" * 64 + "?region=x"},
        {"host": "localhost"},
        {"port": 8001},
    ],
    ids=["method", "query", "host", "port"],
)
def test_the_mac_covers_method_resource_host_and_port(changed: dict[str, Any]) -> None:
    header = tooltool_header(ADMIN.client_id, ADMIN.access_token, "GET", URL)
    parsed = parse_hawk_header(header)
    fields = {**request_for(header, "GET", URL).__dict__, **changed}
    assert _hawk_mac(parsed, ADMIN.access_token, HawkRequest(**fields)).decode() != parsed["mac"]


def test_the_mac_covers_the_token_and_the_signed_attributes() -> None:
    header = tooltool_header(ADMIN.client_id, ADMIN.access_token, "GET", URL)
    parsed = parse_hawk_header(header)
    hawk = request_for(header, "GET", URL)
    assert _hawk_mac(parsed, ADMIN.access_token + "x", hawk).decode() != parsed["mac"]
    for name, value in (("ts", "1"), ("nonce", "other"), ("hash", "aGFzaA=="), ("ext", "e")):
        assert _hawk_mac({**parsed, name: value}, ADMIN.access_token, hawk).decode() != parsed["mac"], name


# --- verifying a request against the clients file -------------------------------------------


@pytest.fixture
def authenticator(tmp_path: Path) -> Authenticator:
    return Authenticator(ClientsFile(write_clients_file(tmp_path / "clients.json")), anonymous_scopes=())


def verify(authenticator: Authenticator, header: str, method: str = "GET", body: bytes = b"") -> Identity:
    content_type = "application/json" if body else ""
    return authenticator._verify_locally(request_for(header, method, URL, body, content_type))


def test_a_tooltool_request_verifies_with_the_clients_scopes(authenticator: Authenticator) -> None:
    body = b'{"message": "Bug 1"}'
    identity = verify(
        authenticator, tooltool_header(UPLOADER.client_id, UPLOADER.access_token, "POST", URL, body), "POST", body
    )
    assert (identity.client_id, identity.scopes) == (UPLOADER.client_id, UPLOADER.scopes)
    assert identity.hawk_nonce is not None


def test_authorized_scopes_narrow_what_a_taskcluster_request_holds(authenticator: Authenticator) -> None:
    ext = taskcluster_ext(authorized_scopes=list(PUBLIC_READER.scopes))
    identity = verify(authenticator, taskcluster_header(ADMIN.client_id, ADMIN.access_token, "GET", URL, ext=ext))
    assert identity.scopes == PUBLIC_READER.scopes
    too_many = taskcluster_ext(authorized_scopes=[*PUBLIC_READER.scopes, "more"])
    header = taskcluster_header(PUBLIC_READER.client_id, PUBLIC_READER.access_token, "GET", URL, ext=too_many)
    refused = refusal(verify, authenticator, header)
    assert refused.detail == "authorizedScopes are not satisfied by the credentials' scopes"


@dataclass(frozen=True)
class Signing:
    """How to sign a request; the header is made when the test runs (its timestamp is the clock's then)."""

    method: str
    token: str = ADMIN.access_token
    client_id: str = ADMIN.client_id
    url: str = URL
    body: bytes | None = None
    skew: int = 0  # seconds added to the clock for the timestamp
    nonce: str | None = None

    def header(self) -> str:
        timestamp = int(time.time()) + self.skew
        return tooltool_header(
            self.client_id, self.token, self.method, self.url, self.body, timestamp=timestamp, nonce=self.nonce
        )


@pytest.mark.parametrize(
    ("method", "signing", "body", "reason"),
    [
        ("GET", Signing("GET", "token", "ghost"), b"", "unknown Hawk client id"),
        ("GET", Signing("GET", "not-the-token"), b"", "Hawk MAC does not match"),
        ("GET", Signing("GET", url=URL + "?x=1"), b"", "Hawk MAC does not match"),
        ("GET", Signing("POST"), b"", "Hawk MAC does not match"),
        ("POST", Signing("POST", body=b"[1]"), b"[2]", "Hawk payload hash does not match the body"),
        ("POST", Signing("POST"), b"[2]", "Hawk payload hash does not match the body"),
        ("GET", Signing("GET", skew=-61), b"", "Hawk timestamp is outside the allowed clock skew"),
        ("GET", Signing("GET", skew=61), b"", "Hawk timestamp is outside the allowed clock skew"),
        ("GET", Signing("GET", nonce="n" * 65), b"", "Hawk nonce is longer than 64 characters"),
    ],
    ids=[
        "unknown-client",
        "wrong-token",
        "other-resource",
        "other-method",
        "other-body",
        "body-not-signed",
        "stale",
        "future",
        "long-nonce",
    ],
)
def test_a_request_that_does_not_verify_is_refused_with_its_reason(
    authenticator: Authenticator, method: str, signing: Signing, body: bytes, reason: str
) -> None:
    assert refusal(verify, authenticator, signing.header(), method, body).detail == reason


def test_a_nonce_is_accepted_once(authenticator: Authenticator) -> None:
    header = tooltool_header(ADMIN.client_id, ADMIN.access_token, "GET", URL)
    assert verify(authenticator, header).client_id == ADMIN.client_id
    assert refusal(verify, authenticator, header).detail == "Hawk nonce was already used (replayed request)"
