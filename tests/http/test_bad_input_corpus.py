"""A bad-input corpus: one table of malformed, hostile or unauthorized requests over every endpoint
(tests/support/data/bad_input_corpus.json, and here the cases that must be computed).

Each case runs against a live proxy on both stores, holding a public file, an internal file and a
pending upload (whose put_url points at the proxy's own PUT endpoint for the cases configured so).
It asserts the status, the exact error body of PROTOCOL.md §2 (for HEAD: the status and headers
only) and that the store, journal included, is key for key and ETag for ETag what it was: bad input
writes nothing. The proxies are started once per store and configuration and shared by the cases.

Requests are sent with their path exactly as written in the table (`yarl.URL(..., encoded=True)`), so
percent-encodings reach the server untouched. Over-long request lines and headers (beyond aiohttp's
8190-byte parser limit) are answered by aiohttp itself, before the application, and are not here.
"""

import base64
import hashlib
import json
import secrets
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import aiohttp
import boto3
import pytest
import pytest_asyncio
import yarl
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict

from proxy.app import create_app
from proxy.config import load_config
from proxy.errors import FORBIDDEN_DETAIL, INVALID_DIGEST_DETAIL
from proxy.tokens import PutGrant, put_query
from tests.support import credentials
from tests.support.credentials import ADMIN, BEARER_TOKEN, UPLOADER, Creds, write_clients_file
from tests.support.hawk import taskcluster_ext, taskcluster_header, tooltool_header
from tests.support.net import free_port
from tests.support.oracles import problem_body
from tests.support.proxies import Proxy
from tests.support.tables import expand, expand_value, load_table

PUBLIC_DATA = b"corpus: public bytes\n"
INTERNAL_DATA = b"corpus: internal bytes\n"
PENDING_DATA = b"corpus: bytes announced, not yet PUT\n"
PUBLIC = hashlib.sha512(PUBLIC_DATA).hexdigest()
INTERNAL = hashlib.sha512(INTERNAL_DATA).hexdigest()
PENDING = hashlib.sha512(PENDING_DATA).hexdigest()
MISSING = hashlib.sha512(b"never uploaded").hexdigest()

STREAM = {"download": "stream"}  # Range is answered only when the proxy streams (always on the local store)
PROXIED = {"upload_target": "proxy"}  # put_urls to the proxy's own PUT endpoint (always on the local store)

NOT_JSON = "The request body is not valid JSON."
NOT_ALLOWED = "Method Not Allowed"
UNKNOWN_BEARER = "unknown Bearer token"
MALFORMED_HAWK = "malformed Hawk header"
BAD_MAC = "Hawk MAC does not match"
TOKEN_INVALID = "the upload URL's signature is invalid"
TOKEN_INCOMPLETE = "the upload URL is incomplete"


@dataclass(frozen=True)
class Stock:
    """A proxy holding the corpus files, and the put_url of its pending upload."""

    proxy: Proxy
    put_url: str

    @property
    def token(self) -> dict[str, str]:
        """The query of the pending put_url: batch, size, expires, region and signature."""
        return dict(parse_qsl(urlsplit(self.put_url).query, keep_blank_values=True))

    def put_path(self, digest: str = PENDING, **changes: str | None) -> str:
        """The pending put_url's path and query, for `digest`, with query fields changed (None drops one)."""
        query = self.token
        for name, value in changes.items():
            if value is None:
                query.pop(name, None)
            else:
                query[name] = value
        return f"/upload/put/sha512/{digest}?{urlencode(query)}"

    def expired_put_path(self) -> str:
        """A put_url signed with the proxy's own secret whose expiry has passed."""
        query = self.token
        grant = PutGrant(PENDING, int(query["batch"]), len(PENDING_DATA), int(time.time()) - 1, query["region"])
        return f"/upload/put/sha512/{PENDING}?{put_query(self.proxy.config.upload_secret, grant)}"


CasePath = str | Callable[[Stock], str]
Headers = Mapping[str, str] | list[tuple[str, str]] | Callable[[Stock, str], Mapping[str, str]]


@dataclass(frozen=True)
class Case:
    id: str
    method: str
    path: CasePath
    status: int
    detail: str  # a substring of the expected detail
    creds: Creds | None = None  # signed as tooltool.py signs, over the exact path and body
    headers: Headers = field(default_factory=dict)
    body: bytes | None = None
    chunked: bool = False  # send the body without a Content-Length
    replay: bool = False  # send the same request twice; the second is the case
    config: Mapping[str, str] = field(default_factory=dict)  # TOOLTOOL_* overrides
    allow: str | None = None  # the Allow header of a 405

    def __repr__(self) -> str:  # pytest shows ids; keep huge bodies out of failure reports
        return f"Case({self.id})"


# --- request parts -------------------------------------------------------------------------


def cursor_of(doc: bytes) -> str:
    """A cursor as search answers spell them (base64url without padding), of any JSON."""
    return base64.urlsafe_b64encode(doc).decode().rstrip("=")


def download(digest: str) -> str:
    return f"/sha512/{digest}"


def batch(files: Any, message: str = "Bug 1: corpus") -> bytes:
    return json.dumps({"message": message, "files": files}).encode()


def file_entry(data: bytes = PENDING_DATA, visibility: str = "public", **changes: Any) -> dict[str, Any]:
    entry = {"size": len(data), "digest": hashlib.sha512(data).hexdigest(), "algorithm": "sha512"}
    return {**entry, "visibility": visibility, **changes}


def one_file(**changes: Any) -> bytes:
    return batch({"new.bin": file_entry(**changes)})


VALID_BATCH = one_file()


CERTIFICATE_SIGNED_IN_UNICODE = {
    "version": 1,
    "scopes": [],
    "start": 0,
    "expiry": 1,
    "seed": "seed",
    "issuer": "temp-issuer",
    "signature": "\u00e9" * 44,
}


def hawk(creds: Creds = ADMIN, method: str = "GET", **kwargs: Any) -> Callable[[Stock, str], Mapping[str, str]]:
    """A tooltool.py header for the case's path (keyword arguments go to tooltool_header)."""

    def make(stock: Stock, path: str) -> Mapping[str, str]:
        url = stock.proxy.url + path
        return {"Authorization": tooltool_header(creds.client_id, creds.access_token, method, url, **kwargs)}

    return make


def hawk_edited(edit: Callable[[str], str], creds: Creds = ADMIN) -> Callable[[Stock, str], Mapping[str, str]]:
    """A valid tooltool.py header for the path, then edited."""

    def make(stock: Stock, path: str) -> Mapping[str, str]:
        header = tooltool_header(creds.client_id, creds.access_token, "GET", stock.proxy.url + path)
        return {"Authorization": edit(header)}

    return make


def hawk_with_ext(ext: str) -> Callable[[Stock, str], Mapping[str, str]]:
    """A taskcluster-style header carrying `ext`, correctly signed over it."""

    def make(stock: Stock, path: str) -> Mapping[str, str]:
        url = stock.proxy.url + path
        return {"Authorization": taskcluster_header(ADMIN.client_id, ADMIN.access_token, "GET", url, ext=ext)}

    return make


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def octets() -> dict[str, str]:
    return {"Content-Type": "application/octet-stream"}


def flipped(text: str) -> str:
    return ("0" if text[0] != "0" else "1") + text[1:]


# --- the corpus ----------------------------------------------------------------------------
# Cases that are plain data are in tests/support/data/bad_input_corpus.json, a list per group (the
# template language: tests/support/tables.py); those that must be computed (signed Hawk headers edited
# after signing, put_url tokens tampered with, bytes that are not UTF-8) are written here, in their group.

TEMPLATE_VALUES: dict[str, object] = {
    "PUBLIC": PUBLIC,
    "PUBLIC_UPPER": PUBLIC.upper(),
    "PUBLIC_SIZE": len(PUBLIC_DATA),
    "INTERNAL": INTERNAL,
    "PENDING": PENDING,
    "PENDING_UPPER": PENDING.upper(),
    "PENDING_SIZE": len(PENDING_DATA),
    "MISSING": MISSING,
    "BEARER_TOKEN": BEARER_TOKEN,
    "INVALID_DIGEST_DETAIL": INVALID_DIGEST_DETAIL,
    "FORBIDDEN_DETAIL": FORBIDDEN_DETAIL,
}
CLIENTS = {name: value for name, value in vars(credentials).items() if isinstance(value, Creds)}
TABLE = load_table("bad_input_corpus.json")


def case_of(row: dict[str, Any]) -> Case:
    """A case from a row of the table."""

    def text(value: str) -> str:
        return expand(value, TEMPLATE_VALUES)

    path = text(row["path"])
    if "cursor_of" in row:
        path += "&cursor=" + cursor_of(text(row["cursor_of"]).encode())
    headers: Headers = {}
    if isinstance(row.get("headers"), dict):
        headers = {name: text(value) for name, value in row["headers"].items()}
    elif isinstance(row.get("headers"), list):
        headers = [(name, text(value)) for name, value in row["headers"]]
    body = None
    if "json" in row:
        body = json.dumps(expand_value(row["json"], TEMPLATE_VALUES)).encode()
    elif "body" in row:
        body = text(row["body"]).encode()
    return Case(
        row["id"],
        row["method"],
        path,
        row["status"],
        text(row["detail"]),
        CLIENTS[row["creds"]] if "creds" in row else None,
        headers=headers,
        body=body,
        chunked=row.get("chunked", False),
        replay=row.get("replay", False),
        config=row.get("config", {}),
        allow=row.get("allow"),
    )


def table_cases(group: str) -> list[Case]:
    return [case_of(row) for row in TABLE[group]]


DIGESTS = [
    *table_cases("digests"),
    Case(
        "put-digest-upper-case",
        "PUT",
        lambda s: s.put_path(PENDING.upper()),
        400,
        INVALID_DIGEST_DETAIL,
        headers=octets(),
        body=PENDING_DATA,
        config=PROXIED,
    ),
]

# As the legacy service: any integer without a batch is a 404, 0 and huge numbers included.
BATCH_IDS = table_cases("batch_ids")

SEARCHES = table_cases("searches")

UPLOAD_BODIES = [
    *table_cases("upload_bodies"),
    Case("upload-body-invalid-utf8", "POST", "/upload", 400, NOT_JSON, UPLOADER, body=b'\xff\xfe{"message": 1}'),
    Case(
        "upload-changes-size-of-a-stored-file",
        "POST",
        "/upload",
        400,
        "Size mismatch for p.txt",
        UPLOADER,
        body=batch({"p.txt": file_entry(PUBLIC_DATA, size=len(PUBLIC_DATA) + 1)}),
    ),
]

PATCH = f"/file/sha512/{PUBLIC}"
PATCH_BODIES = [
    *table_cases("patch_bodies"),
    Case(
        "patch-body-101-operations",
        "PATCH",
        PATCH,
        400,
        "at most 100",
        ADMIN,
        body=json.dumps([{"op": "delete_instances"}] * 101).encode(),
    ),
]

PUBLIC_PATH = download(PUBLIC)
AUTHORIZATION = [
    *table_cases("authorization"),
    Case(
        "auth-bearer-and-hawk-in-one-header",
        "GET",
        PUBLIC_PATH,
        401,
        UNKNOWN_BEARER,
        headers=hawk_edited(lambda header: f"Bearer {BEARER_TOKEN}, {header}"),
    ),
    Case(
        "hawk-missing-mac",
        "GET",
        PUBLIC_PATH,
        401,
        "missing mac",
        headers=hawk_edited(lambda header: "Hawk " + header.split(", ", 1)[1]),
    ),
    Case(
        "hawk-missing-id-ts-nonce",
        "GET",
        PUBLIC_PATH,
        401,
        "missing id, ts, nonce",
        headers=hawk_edited(lambda header: header.split(", ", 1)[0]),
    ),
    Case(
        "hawk-unknown-attribute",
        "GET",
        PUBLIC_PATH,
        401,
        MALFORMED_HAWK,
        headers=hawk_edited(lambda header: header + ', foo="x"'),
    ),
    Case(
        "hawk-duplicate-attribute",
        "GET",
        PUBLIC_PATH,
        401,
        MALFORMED_HAWK,
        headers=hawk_edited(lambda header: header + ', id="admin"'),
    ),
    Case(
        "hawk-unquoted-attributes",
        "GET",
        PUBLIC_PATH,
        401,
        MALFORMED_HAWK,
        headers=hawk_edited(lambda header: header.replace('"', "")),
    ),
    Case(
        "hawk-single-quoted-attributes",
        "GET",
        PUBLIC_PATH,
        401,
        MALFORMED_HAWK,
        headers=hawk_edited(lambda header: header.replace('"', "'")),
    ),
    Case(
        "hawk-header-over-4096-characters",
        "GET",
        PUBLIC_PATH,
        401,
        MALFORMED_HAWK,
        headers=hawk_edited(lambda header: header + ', ext="' + "e" * 4096 + '"'),
    ),
    Case(
        "hawk-stale-timestamp", "GET", PUBLIC_PATH, 401, "clock skew", headers=hawk(timestamp=int(time.time()) - 3600)
    ),
    Case(
        "hawk-future-timestamp", "GET", PUBLIC_PATH, 401, "clock skew", headers=hawk(timestamp=int(time.time()) + 3600)
    ),
    Case(
        "hawk-wrong-mac",
        "GET",
        PUBLIC_PATH,
        401,
        BAD_MAC,
        headers=hawk(Creds(ADMIN.client_id, "not-the-admin-token", ())),
    ),
    Case(
        "hawk-signed-for-another-path",
        "GET",
        PUBLIC_PATH,
        401,
        BAD_MAC,
        headers=lambda s, path: hawk()(s, download(INTERNAL)),
    ),
    Case(
        "hawk-signed-for-another-method",
        "GET",
        PUBLIC_PATH,
        401,
        BAD_MAC,
        headers=hawk(method="HEAD"),
    ),
    Case("hawk-unknown-id", "GET", PUBLIC_PATH, 401, "unknown Hawk client id", headers=hawk(Creds("ghost", "boo", ()))),
    Case(
        "hawk-payload-hash-of-another-body",
        "POST",
        "/upload",
        401,
        "payload hash does not match",
        headers=lambda s, path: {
            **hawk(UPLOADER, "POST", body=one_file(visibility="internal"))(s, path),
            "Content-Type": "application/json",
        },
        body=VALID_BATCH,
    ),
    Case(
        "hawk-no-payload-hash-for-a-body",
        "POST",
        "/upload",
        401,
        "payload hash",
        headers=lambda s, path: {**hawk(UPLOADER, "POST")(s, path), "Content-Type": "application/json"},
        body=VALID_BATCH,
    ),
    Case("hawk-ext-not-base64", "GET", PUBLIC_PATH, 401, "ext is not base64url", headers=hawk_with_ext("@@@@")),
    Case("hawk-ext-not-an-object", "GET", PUBLIC_PATH, 401, "JSON object", headers=hawk_with_ext(b64url(b"[1]"))),
    Case(
        "hawk-ext-deep-nesting",
        "GET",
        PUBLIC_PATH,
        401,
        "ext is not base64url",
        headers=hawk_with_ext(b64url(b"[" * 1400 + b"]" * 1400)),
    ),
    Case(
        "hawk-authorized-scopes-not-a-list",
        "GET",
        PUBLIC_PATH,
        401,
        "authorizedScopes must be a list",
        headers=hawk_with_ext(b64url(b'{"authorizedScopes": "*"}')),
    ),
    Case(
        "hawk-certificate-not-json",
        "GET",
        PUBLIC_PATH,
        401,
        "certificate is not JSON",
        headers=hawk_with_ext(b64url(b'{"certificate": "{not json"}')),
    ),
    Case(
        "hawk-certificate-deep-nesting",
        "GET",
        PUBLIC_PATH,
        401,
        "certificate is not JSON",
        headers=hawk_with_ext(b64url(json.dumps({"certificate": "[" * 1200 + "]" * 1200}).encode())),
    ),
    Case(
        "hawk-certificate-missing-fields",
        "GET",
        PUBLIC_PATH,
        401,
        "certificate is missing fields",
        headers=hawk_with_ext(taskcluster_ext(certificate={"version": 1, "scopes": ["*"]})),
    ),
    Case(
        "hawk-certificate-signature-not-ascii",
        "GET",
        PUBLIC_PATH,
        401,
        "certificate signature is invalid",
        headers=hawk_with_ext(taskcluster_ext(certificate=CERTIFICATE_SIGNED_IN_UNICODE)),
    ),
    Case("file-hawk-wrong-mac", "GET", f"/file/sha512/{PUBLIC}", 401, BAD_MAC, headers=hawk(Creds("admin", "x", ()))),
    Case(
        "upload-stale-hawk",
        "POST",
        "/upload",
        401,
        "clock skew",
        headers=lambda s, path: {
            **hawk(UPLOADER, "POST", body=VALID_BATCH, timestamp=int(time.time()) - 3600)(s, path),
            "Content-Type": "application/json",
        },
        body=VALID_BATCH,
    ),
]

RANGES = [
    *table_cases("ranges"),
    Case(
        "range-starts-at-the-size",
        "GET",
        PUBLIC_PATH,
        416,
        "range",
        headers={"Range": f"bytes={len(PUBLIC_DATA)}-"},
        config=STREAM,
    ),
]


def put(case_id: str, path: CasePath, status: int, detail: str, **kwargs: Any) -> Case:
    """A PUT as tooltool.py sends it, to the proxy's own PUT endpoint."""
    options: dict[str, Any] = {"headers": octets(), "body": PENDING_DATA, "config": PROXIED, **kwargs}
    return Case(case_id, "PUT", path, status, detail, **options)


TOKENS = [
    *table_cases("tokens"),
    put(
        "put-token-tampered-signature",
        lambda s: s.put_path(signature=flipped(s.token["signature"])),
        403,
        TOKEN_INVALID,
    ),
    put("put-token-tampered-size", lambda s: s.put_path(size=str(len(PENDING_DATA) + 1)), 403, TOKEN_INVALID),
    put("put-token-tampered-batch", lambda s: s.put_path(batch="1"), 403, TOKEN_INVALID),
    put("put-token-tampered-region", lambda s: s.put_path(region="eu-west-1"), 403, TOKEN_INVALID),
    put(
        "put-token-tampered-expiry",
        lambda s: s.put_path(expires=str(int(time.time()) + 86400 * 365)),
        403,
        TOKEN_INVALID,
    ),
    put("put-token-expired", Stock.expired_put_path, 403, "expired"),
    put("put-token-for-another-digest", lambda s: s.put_path(PUBLIC), 403, TOKEN_INVALID),
    put("put-token-missing-signature", lambda s: s.put_path(signature=None), 403, TOKEN_INCOMPLETE),
    put("put-token-missing-expiry", lambda s: s.put_path(expires=None), 403, TOKEN_INCOMPLETE),
    put("put-token-missing-batch", lambda s: s.put_path(batch=None), 403, TOKEN_INCOMPLETE),
    put("put-token-size-not-a-number", lambda s: s.put_path(size="ten"), 403, TOKEN_INCOMPLETE),
    put("put-token-batch-of-5000-digits", lambda s: s.put_path(batch="9" * 5000), 403, TOKEN_INCOMPLETE),
    put("put-token-signature-too-short", lambda s: s.put_path(signature="abc"), 403, TOKEN_INVALID),
    put("put-token-signature-very-long", lambda s: s.put_path(signature="a" * 6000), 403, TOKEN_INVALID),
    put("put-token-signature-non-ascii", lambda s: s.put_path(signature="\u00e9" * 64), 403, TOKEN_INVALID),
    put("put-without-content-length", Stock.put_path, 411, "Content-Length header is required", chunked=True),
    put(
        "put-content-length-over-the-announced-size",
        Stock.put_path,
        400,
        "Content-Length must be",
        body=PENDING_DATA + b"!",
    ),
    put("put-wrong-bytes-of-the-right-length", Stock.put_path, 400, "do not hash", body=PENDING_DATA.upper()),
]

ROUTING = [
    *table_cases("routing"),
    Case("get-put-endpoint", "GET", lambda s: s.put_path(), 405, NOT_ALLOWED, allow="PUT"),
]

CORPUS = [*DIGESTS, *BATCH_IDS, *SEARCHES, *UPLOAD_BODIES, *PATCH_BODIES, *AUTHORIZATION, *RANGES, *TOKENS, *ROUTING]


def test_the_corpus_has_at_least_60_distinct_cases() -> None:
    ids = [case.id for case in CORPUS]
    assert len(set(ids)) == len(ids), "duplicate case ids"
    assert len(ids) >= 60


# --- running a case ------------------------------------------------------------------------


class Stocks:
    """One stocked proxy per configuration, each on its own part of the module's store, shared by
    the cases: each case compares the store before and after itself, so sharing hides nothing."""

    def __init__(self, store_for: Callable[[str], dict[str, str]], clients_file: Path) -> None:
        self.store_for = store_for
        self.clients_file = clients_file
        self.session = aiohttp.ClientSession()
        self.servers: list[TestServer] = []
        self.stocked: dict[tuple[tuple[str, str], ...], Stock] = {}

    async def get(self, config: Mapping[str, str]) -> Stock:
        key = tuple(sorted(config.items()))
        if key not in self.stocked:
            self.stocked[key] = await self._stock(await self._start(f"part{len(self.stocked)}", config))
        return self.stocked[key]

    async def _start(self, part: str, config: Mapping[str, str]) -> Proxy:
        """As conftest's make_proxy starts a proxy, but for the whole module."""
        port = free_port()
        env = {
            **self.store_for(part),
            "TOOLTOOL_CLIENTS_FILE": str(self.clients_file),
            "TOOLTOOL_PUBLIC_URL": f"http://127.0.0.1:{port}",
            **{f"TOOLTOOL_{name.upper()}": value for name, value in config.items()},
        }
        app = create_app(load_config(env))
        server = TestServer(app, host="127.0.0.1", port=port)
        await server.start_server(access_log=None)
        self.servers.append(server)
        return Proxy(url=f"http://127.0.0.1:{port}", app=app, session=self.session, env=env)

    @staticmethod
    async def _stock(proxy: Proxy) -> Stock:
        await proxy.upload(ADMIN, "p.txt", PUBLIC_DATA, "public")
        await proxy.upload(ADMIN, "i.txt", INTERNAL_DATA, "internal")
        pending = await proxy.upload_batch(UPLOADER, {"pending.bin": PENDING_DATA})
        return Stock(proxy, pending["files"]["pending.bin"]["put_url"])

    async def close(self) -> None:
        await self.session.close()
        for server in self.servers:
            await server.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["local", "s3"])
async def stocks(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stocks]:
    root = tmp_path_factory.mktemp("corpus")

    def local_store(part: str) -> dict[str, str]:
        return {"TOOLTOOL_STORE": f"file://{root / part}"}

    store_for = local_store
    if request.param == "s3":
        endpoint = request.getfixturevalue("moto_endpoint")
        bucket = f"corpus-{secrets.token_hex(4)}"  # moto is reset by other modules only, never during this one
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)

        def s3_store(part: str) -> dict[str, str]:
            return {"TOOLTOOL_STORE": f"s3://{bucket}/{part}/", "TOOLTOOL_S3_ENDPOINT_URL": endpoint}

        store_for = s3_store
    stocks = Stocks(store_for, write_clients_file(root / "clients.json"))
    yield stocks
    await stocks.close()


async def chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


def request_headers(stock: Stock, case: Case, path: str) -> CIMultiDict[str]:
    headers: CIMultiDict[str] = CIMultiDict()
    if case.creds is not None:
        headers.update(stock.proxy.headers_for(case.creds, case.method, path, case.body))
    extra = case.headers(stock, path) if callable(case.headers) else case.headers
    for name, value in extra.items() if isinstance(extra, Mapping) else extra:
        headers.add(name, value)
    return headers


async def send(stock: Stock, case: Case) -> aiohttp.ClientResponse:
    """The case's request, with its path as written; a replay case sends it twice."""
    proxy = stock.proxy
    path = case.path(stock) if callable(case.path) else case.path
    headers = request_headers(stock, case, path)
    url = yarl.URL(proxy.url + path, encoded=True)
    for _ in range(2 if case.replay else 1):
        data: Any = chunks(case.body) if case.chunked and case.body is not None else case.body
        response = await proxy.session.request(case.method, url, headers=headers, data=data, allow_redirects=False)
        await response.read()
    return response


@pytest.mark.asyncio(loop_scope="module")  # the loop of the module's proxies (see `stocks`)
@pytest.mark.parametrize("case", CORPUS, ids=[case.id for case in CORPUS])
async def test_bad_input_is_refused_with_the_error_body_and_changes_nothing(stocks: Stocks, case: Case) -> None:
    stocked = await stocks.get(case.config)
    before = await stocked.proxy.snapshot()

    response = await send(stocked, case)

    text = await response.text()
    assert response.status == case.status, text
    assert response.headers["Content-Type"] == "application/json"
    if case.method == "HEAD":
        assert text == ""
    else:
        detail = json.loads(text)["detail"]
        assert case.detail in detail
        assert json.loads(text) == problem_body(case.status, detail)
    if case.status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Hawk")
    if case.status == 405:
        assert response.headers["Allow"] == case.allow
    if case.status == 416:
        assert response.headers["Content-Range"] == f"bytes */{len(PUBLIC_DATA)}"
    assert await stocked.proxy.snapshot() == before
