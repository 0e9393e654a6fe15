"""A bad-input corpus: one table of malformed, hostile or unauthorized requests over every endpoint.

Each case runs against a live proxy on both stores, holding a public file, an internal file and a
pending upload (whose put_url points at the proxy's own PUT endpoint for the cases configured so).
It asserts the status, the exact error body of PROTOCOL.md §2 (for HEAD: the status and headers
only) and that the store, journal included, is key for key and ETag for ETag what it was: bad input
writes nothing. The proxies are started once per store and configuration and shared by the cases.

Requests are sent with their path exactly as written here (`yarl.URL(..., encoded=True)`), so
percent-encodings reach the server untouched. Over-long request lines and headers (beyond aiohttp's
8190-byte parser limit) are answered by aiohttp itself, before the application, and are not here.
"""

import base64
import hashlib
import json
import secrets
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field, replace
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
from tests.support import (
    ADMIN,
    BEARER_TOKEN,
    PUBLIC_READER,
    PUBLIC_UPLOADER,
    UPLOADER,
    Creds,
    Proxy,
    free_port,
    write_clients_file,
)
from tests.support.hawk import taskcluster_ext, taskcluster_header, tooltool_header
from tests.support.oracles import problem_body

PUBLIC_DATA = b"corpus: public bytes\n"
INTERNAL_DATA = b"corpus: internal bytes\n"
PENDING_DATA = b"corpus: bytes announced, not yet PUT\n"
PUBLIC = hashlib.sha512(PUBLIC_DATA).hexdigest()
INTERNAL = hashlib.sha512(INTERNAL_DATA).hexdigest()
PENDING = hashlib.sha512(PENDING_DATA).hexdigest()
MISSING = hashlib.sha512(b"never uploaded").hexdigest()

STREAM = {"download": "stream"}  # Range is answered only when the proxy streams (always on the local store)
PROXIED = {"upload_target": "proxy"}  # put_urls to the proxy's own PUT endpoint (always on the local store)
MAX_BODY_BYTES = 64 * 1024

NOT_JSON = "The request body is not valid JSON."
BATCH_ID = "Invalid batch id"
NO_QUERY = "The query parameter q"
BAD_CURSOR = "Invalid cursor"
NOT_ALLOWED = "Method Not Allowed"
UNKNOWN_BEARER = "unknown Bearer token"
BAD_SCHEME = "unsupported Authorization scheme"
MALFORMED_HAWK = "malformed Hawk header"
BAD_MAC = "Hawk MAC does not match"
TOKEN_INVALID = "the upload URL's signature is invalid"
TOKEN_INCOMPLETE = "the upload URL is incomplete"
TOO_LARGE = "Request Entity Too Large"


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
VALID_PATCH = b'[{"op": "set_visibility", "visibility": "internal"}]'
DEEP_JSON = b"[" * 100_000 + b"]" * 100_000
HUGE_INT = b"9" * 5000  # beyond Python's 4300-digit limit for int()


def deeply_nested_files() -> bytes:
    return b'{"message": "Bug 1", "files": ' + DEEP_JSON + b"}"


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

DIGESTS = [
    Case("download-digest-upper-case", "GET", download(PUBLIC.upper()), 400, INVALID_DIGEST_DETAIL),
    Case("download-digest-127-chars", "GET", download(PUBLIC[:127]), 400, INVALID_DIGEST_DETAIL),
    Case("download-digest-129-chars", "GET", download(PUBLIC + "0"), 400, INVALID_DIGEST_DETAIL),
    Case("download-digest-not-hex", "GET", download("g" * 128), 400, INVALID_DIGEST_DETAIL),
    Case("download-digest-empty", "GET", "/sha512/", 400, INVALID_DIGEST_DETAIL),
    Case("download-digest-the-runbook-probe", "GET", "/sha512/invalid", 400, INVALID_DIGEST_DETAIL),
    Case(
        "download-digest-encoded-slash", "GET", download(PUBLIC[:64] + "%2F" + PUBLIC[65:]), 400, INVALID_DIGEST_DETAIL
    ),
    Case("download-digest-encoded-nul", "GET", download(PUBLIC[:127] + "%00"), 400, INVALID_DIGEST_DETAIL),
    Case("download-digest-encoded-traversal", "GET", download("%2E%2E%2F%2E%2E%2Findex"), 400, INVALID_DIGEST_DETAIL),
    Case("download-digest-unicode-digits", "GET", download("%D9%A3" * 128), 400, INVALID_DIGEST_DETAIL),
    Case("download-digest-fullwidth-hex", "GET", download("%EF%BD%81" * 128), 400, INVALID_DIGEST_DETAIL),
    Case("download-digest-trailing-newline", "GET", download(PUBLIC + "%0A"), 400, INVALID_DIGEST_DETAIL),
    Case("download-digest-very-long-path", "GET", download("a" * 8000), 400, INVALID_DIGEST_DETAIL),
    Case("download-digest-unknown", "GET", download(MISSING), 404, "not found"),
    Case("head-digest-upper-case", "HEAD", download(PUBLIC.upper()), 400, INVALID_DIGEST_DETAIL),
    Case("head-digest-encoded-slash", "HEAD", download("ab%2Fcd"), 400, INVALID_DIGEST_DETAIL),
    Case("head-digest-unknown", "HEAD", download(MISSING), 404, "not found"),
    Case("file-digest-upper-case", "GET", f"/file/sha512/{PUBLIC.upper()}", 400, INVALID_DIGEST_DETAIL),
    Case("file-digest-encoded-nul", "GET", f"/file/sha512/%00{PUBLIC[1:]}", 400, INVALID_DIGEST_DETAIL),
    Case("file-digest-unknown", "GET", f"/file/sha512/{MISSING}", 404, "not found"),
    Case(
        "patch-digest-not-hex",
        "PATCH",
        "/file/sha512/" + "z" * 128,
        400,
        INVALID_DIGEST_DETAIL,
        ADMIN,
        body=VALID_PATCH,
    ),
    Case("patch-digest-unknown", "PATCH", f"/file/sha512/{MISSING}", 404, "not found", ADMIN, body=VALID_PATCH),
    Case(
        "complete-digest-129-chars", "GET", f"/upload/complete/sha512/{PENDING}f", 400, INVALID_DIGEST_DETAIL, UPLOADER
    ),
    Case(
        "complete-digest-encoded-slash",
        "GET",
        f"/upload/complete/sha512/{PENDING[:100]}%2F{PENDING[101:]}",
        400,
        INVALID_DIGEST_DETAIL,
        UPLOADER,
    ),
    Case(
        "complete-nothing-pending", "GET", f"/upload/complete/sha512/{MISSING}", 404, "No upload of this file", UPLOADER
    ),
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

BATCH_IDS = [
    Case("batch-id-not-a-number", "GET", "/upload/abc", 400, BATCH_ID),
    # As the legacy service: any integer without a batch is a 404, 0 and huge numbers included.
    Case("batch-id-zero", "GET", "/upload/0", 404, "batch was not found"),
    Case("batch-id-zeros", "GET", "/upload/0000", 404, "batch was not found"),
    Case("batch-id-negative", "GET", "/upload/-5", 400, BATCH_ID),
    Case("batch-id-20-digits", "GET", "/upload/" + "1" * 20, 404, "batch was not found"),
    Case("batch-id-unicode-digits", "GET", "/upload/%D9%A3%D9%A3", 400, BATCH_ID),
    Case("batch-id-very-long-path", "GET", "/upload/" + "9" * 8000, 404, "batch was not found"),
    Case("batch-id-very-long-path-not-digits", "GET", "/upload/" + "9" * 7999 + "x", 400, BATCH_ID),
    Case("batch-id-unknown", "GET", "/upload/1234567", 404, "batch was not found"),
]

SEARCHES = [
    Case("search-files-without-q", "GET", "/file", 400, NO_QUERY),
    Case("search-files-other-parameter", "GET", "/file?query=gcc", 400, NO_QUERY),
    Case("search-batches-without-q", "GET", "/upload", 400, NO_QUERY),
    Case("search-batches-huge-query-without-q", "GET", "/upload?x=" + "y" * 7000, 400, NO_QUERY),
    Case("search-files-cursor-empty", "GET", "/file?q=a&cursor=", 400, BAD_CURSOR),
    Case("search-files-cursor-not-base64url", "GET", "/file?q=a&cursor=%2B%2F%3D", 400, BAD_CURSOR),
    Case("search-files-cursor-not-json", "GET", "/file?q=a&cursor=" + cursor_of(b"{nope"), 400, BAD_CURSOR),
    Case("search-files-cursor-bad-digest", "GET", "/file?q=a&cursor=" + cursor_of(b'{"d":"zz"}'), 400, BAD_CURSOR),
    Case("search-files-cursor-of-batches", "GET", "/file?q=a&cursor=" + cursor_of(b'{"b":1}'), 400, BAD_CURSOR),
    Case("search-batches-cursor-zero-id", "GET", "/upload?q=a&cursor=" + cursor_of(b'{"b":0}'), 400, BAD_CURSOR),
    Case("search-batches-cursor-bool-id", "GET", "/upload?q=a&cursor=" + cursor_of(b'{"b":true}'), 400, BAD_CURSOR),
    Case(
        "search-batches-cursor-huge-id",
        "GET",
        "/upload?q=a&cursor=" + cursor_of(b'{"b":' + b"9" * 5000 + b"}"),
        400,
        BAD_CURSOR,
    ),
    Case(
        "search-batches-cursor-empty-name", "GET", "/upload?q=a&cursor=" + cursor_of(b'{"b":5,"f":""}'), 400, BAD_CURSOR
    ),
    Case(
        "search-batches-cursor-deep-json",
        "GET",
        "/upload?q=a&cursor=" + cursor_of(b"[" * 1500 + b"]" * 1500),
        400,
        BAD_CURSOR,
    ),
]

UPLOAD_BODIES = [
    Case("upload-body-empty", "POST", "/upload", 400, NOT_JSON, UPLOADER, body=b""),
    Case("upload-body-truncated-json", "POST", "/upload", 400, NOT_JSON, UPLOADER, body=VALID_BATCH[:-7]),
    Case("upload-body-invalid-utf8", "POST", "/upload", 400, NOT_JSON, UPLOADER, body=b'\xff\xfe{"message": 1}'),
    Case("upload-body-raw-nul-in-string", "POST", "/upload", 400, NOT_JSON, UPLOADER, body=b'{"message": "a\x00b"}'),
    Case("upload-body-array", "POST", "/upload", 400, "must be a JSON object", UPLOADER, body=b"[]"),
    Case("upload-body-string", "POST", "/upload", 400, "must be a JSON object", UPLOADER, body=b'"upload"'),
    Case("upload-body-null", "POST", "/upload", 400, "must be a JSON object", UPLOADER, body=b"null"),
    Case("upload-body-deep-nesting", "POST", "/upload", 400, NOT_JSON, UPLOADER, body=deeply_nested_files()),
    Case("upload-body-huge-integer", "POST", "/upload", 400, NOT_JSON, UPLOADER, body=b'{"size": ' + HUGE_INT + b"}"),
    Case("upload-body-huge-message", "POST", "/upload", 400, "longer than", UPLOADER, body=batch({}, "x" * 60_000)),
    Case(
        "upload-body-huge-filename",
        "POST",
        "/upload",
        400,
        "too long",
        UPLOADER,
        body=batch({"f" * 300: file_entry()}),
    ),
    Case(
        "upload-body-nul-in-filename",
        "POST",
        "/upload",
        400,
        "control characters",
        UPLOADER,
        body=batch({"a\u0000b.bin": file_entry()}),
    ),
    Case("upload-body-files-list", "POST", "/upload", 400, "'files'", UPLOADER, body=batch([file_entry()])),
    Case(
        "upload-body-size-string",
        "POST",
        "/upload",
        400,
        "'size' must be an integer",
        UPLOADER,
        body=one_file(size="5"),
    ),
    Case(
        "upload-body-size-nan",
        "POST",
        "/upload",
        400,
        "'size' must be an integer",
        UPLOADER,
        body=one_file(size=float("nan")),
    ),
    Case(
        "upload-body-digest-upper-case",
        "POST",
        "/upload",
        400,
        "128 lower-case hex",
        UPLOADER,
        body=one_file(digest=PENDING.upper()),
    ),
    Case("upload-body-visibility-null", "POST", "/upload", 400, "visibility", UPLOADER, body=one_file(visibility=None)),
    Case(
        "upload-body-author-set",
        "POST",
        "/upload",
        400,
        "'author'",
        UPLOADER,
        body=VALID_BATCH[:-1] + b', "author": "x"}',
    ),
    Case(
        "upload-body-over-max-body-bytes",
        "POST",
        "/upload",
        413,
        TOO_LARGE,
        UPLOADER,
        body=batch({"a.bin": file_entry()}, "Bug 1: " + "x" * MAX_BODY_BYTES),
        config={"max_body_bytes": str(MAX_BODY_BYTES)},
    ),
    Case(
        "upload-anonymous-over-max-body-bytes",
        "POST",
        "/upload",
        413,
        TOO_LARGE,
        body=b" " * (MAX_BODY_BYTES + 1),
        config={"max_body_bytes": str(MAX_BODY_BYTES)},
    ),
    Case("upload-anonymous", "POST", "/upload", 403, FORBIDDEN_DETAIL, body=VALID_BATCH),
    Case("upload-without-upload-scope", "POST", "/upload", 403, FORBIDDEN_DETAIL, PUBLIC_READER, body=VALID_BATCH),
    Case(
        "upload-internal-with-public-scope-only",
        "POST",
        "/upload",
        403,
        FORBIDDEN_DETAIL,
        PUBLIC_UPLOADER,
        body=one_file(visibility="internal"),
    ),
    Case(
        "upload-changes-visibility-of-a-stored-file",
        "POST",
        "/upload",
        400,
        "Cannot change already existing file's visibility level.",
        UPLOADER,
        body=batch({"p.txt": file_entry(PUBLIC_DATA, "internal")}),
    ),
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
    Case("patch-body-object", "PATCH", PATCH, 400, "JSON array", ADMIN, body=b'{"op": "delete_instances"}'),
    Case("patch-body-malformed", "PATCH", PATCH, 400, NOT_JSON, ADMIN, body=b'[{"op": '),
    Case("patch-body-deep-nesting", "PATCH", PATCH, 400, NOT_JSON, ADMIN, body=DEEP_JSON),
    Case("patch-body-huge-integer", "PATCH", PATCH, 400, NOT_JSON, ADMIN, body=b"[" + HUGE_INT + b"]"),
    Case("patch-body-unknown-op", "PATCH", PATCH, 400, "'op' must be one of", ADMIN, body=b'[{"op": "rm -rf"}]'),
    Case(
        "patch-body-unknown-visibility",
        "PATCH",
        PATCH,
        400,
        "set_visibility",
        ADMIN,
        body=b'[{"op": "set_visibility", "visibility": "secret"}]',
    ),
    Case(
        "patch-body-extra-field",
        "PATCH",
        PATCH,
        400,
        "unexpected field",
        ADMIN,
        body=b'[{"op": "delete_instances", "region": "us-east-1"}]',
    ),
    Case(
        "patch-body-bad-operation-after-a-good-one",
        "PATCH",
        PATCH,
        400,
        "operations[1]",
        ADMIN,
        body=b'[{"op": "delete_instances"}, {"op": 7}]',
    ),
    Case(
        "patch-body-101-operations",
        "PATCH",
        PATCH,
        400,
        "at most 100",
        ADMIN,
        body=json.dumps([{"op": "delete_instances"}] * 101).encode(),
    ),
    Case("patch-anonymous", "PATCH", PATCH, 401, "needs credentials with the manage scope", body=VALID_PATCH),
    Case("patch-without-manage-scope", "PATCH", PATCH, 403, FORBIDDEN_DETAIL, UPLOADER, body=VALID_PATCH),
    Case(
        "patch-over-max-body-bytes",
        "PATCH",
        PATCH,
        413,
        TOO_LARGE,
        ADMIN,
        body=b"[" + b" " * MAX_BODY_BYTES + b"]",
        config={"max_body_bytes": str(MAX_BODY_BYTES)},
    ),
]

PUBLIC_PATH = download(PUBLIC)
AUTHORIZATION = [
    Case("auth-garbage", "GET", PUBLIC_PATH, 401, BAD_SCHEME, headers={"Authorization": "garbage"}),
    Case("auth-empty", "GET", PUBLIC_PATH, 401, BAD_SCHEME, headers={"Authorization": ""}),
    Case("auth-basic", "GET", PUBLIC_PATH, 401, BAD_SCHEME, headers={"Authorization": "Basic YWRtaW46c2VjcmV0"}),
    Case(
        "auth-two-headers-garbage-first",
        "GET",
        PUBLIC_PATH,
        401,
        BAD_SCHEME,
        headers=[("Authorization", "garbage"), ("Authorization", f"Bearer {BEARER_TOKEN}")],
    ),
    Case(
        "auth-bearer-and-hawk-in-one-header",
        "GET",
        PUBLIC_PATH,
        401,
        UNKNOWN_BEARER,
        headers=hawk_edited(lambda header: f"Bearer {BEARER_TOKEN}, {header}"),
    ),
    Case("hawk-only-the-scheme", "GET", PUBLIC_PATH, 401, MALFORMED_HAWK, headers={"Authorization": "Hawk"}),
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
    Case("hawk-replayed-nonce", "GET", PUBLIC_PATH, 401, "replayed", ADMIN, replay=True),
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
    Case("bearer-empty", "GET", PUBLIC_PATH, 401, UNKNOWN_BEARER, headers=bearer("")),
    Case("bearer-unknown", "GET", PUBLIC_PATH, 401, UNKNOWN_BEARER, headers=bearer("not-a-token")),
    Case("bearer-very-long", "GET", PUBLIC_PATH, 401, UNKNOWN_BEARER, headers=bearer("t" * 7000)),
    Case(
        "bearer-token-with-one-more-character",
        "GET",
        PUBLIC_PATH,
        401,
        UNKNOWN_BEARER,
        headers=bearer(BEARER_TOKEN + "x"),
    ),
    Case("head-bearer-unknown", "HEAD", PUBLIC_PATH, 401, UNKNOWN_BEARER, headers=bearer("not-a-token")),
    Case("file-hawk-wrong-mac", "GET", f"/file/sha512/{PUBLIC}", 401, BAD_MAC, headers=hawk(Creds("admin", "x", ()))),
    Case("search-files-bearer-unknown", "GET", "/file?q=corpus", 401, UNKNOWN_BEARER, headers=bearer("nope")),
    Case(
        "search-batches-hawk-garbage", "GET", "/upload?q=Bug", 401, MALFORMED_HAWK, headers={"Authorization": "Hawk x"}
    ),
    Case("batch-bearer-unknown", "GET", "/upload/1234567", 401, UNKNOWN_BEARER, headers=bearer("nope")),
    Case(
        "complete-bearer-unknown",
        "GET",
        f"/upload/complete/sha512/{PENDING}",
        401,
        UNKNOWN_BEARER,
        headers=bearer("nope"),
    ),
    Case(
        "complete-without-upload-scope",
        "GET",
        f"/upload/complete/sha512/{PENDING}",
        403,
        FORBIDDEN_DETAIL,
        PUBLIC_READER,
    ),
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
    Case("range-starts-at-the-size", "GET", PUBLIC_PATH, 416, "range", headers={"Range": f"bytes={len(PUBLIC_DATA)}-"}),
    Case("range-starts-past-the-end", "GET", PUBLIC_PATH, 416, "range", headers={"Range": "bytes=1000000-2000000"}),
    Case("range-empty-suffix", "GET", PUBLIC_PATH, 416, "range", headers={"Range": "bytes=-0"}),
    Case("range-huge-start", "GET", PUBLIC_PATH, 416, "range", headers={"Range": "bytes=" + "9" * 19 + "-"}),
    Case("head-range-past-the-end", "HEAD", PUBLIC_PATH, 416, "range", headers={"Range": "bytes=1000-"}),
]
RANGES = [replace(case, config=STREAM) for case in RANGES]


def put(case_id: str, path: CasePath, status: int, detail: str, **kwargs: Any) -> Case:
    """A PUT as tooltool.py sends it, to the proxy's own PUT endpoint."""
    options: dict[str, Any] = {"headers": octets(), "body": PENDING_DATA, "config": PROXIED, **kwargs}
    return Case(case_id, "PUT", path, status, detail, **options)


TOKENS = [
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
    put("put-token-no-query", f"/upload/put/sha512/{PENDING}", 403, TOKEN_INCOMPLETE),
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
    Case("unknown-path", "GET", "/nothing/here", 404, "Not Found"),
    Case("unknown-path-very-long", "GET", "/x" * 4000, 404, "Not Found"),
    Case("delete-download", "DELETE", PUBLIC_PATH, 405, NOT_ALLOWED, allow="GET,HEAD"),
    Case("post-download", "POST", PUBLIC_PATH, 405, NOT_ALLOWED, body=b"{}", allow="GET,HEAD"),
    Case("put-upload", "PUT", "/upload", 405, NOT_ALLOWED, allow="GET,HEAD,POST"),
    Case("post-search-files", "POST", "/file?q=x", 405, NOT_ALLOWED, allow="GET,HEAD"),
    Case("delete-file", "DELETE", f"/file/sha512/{PUBLIC}", 405, NOT_ALLOWED, allow="GET,HEAD,PATCH"),
    Case("post-complete", "POST", f"/upload/complete/sha512/{PENDING}", 405, NOT_ALLOWED, allow="GET,HEAD"),
    Case("get-put-endpoint", "GET", lambda s: s.put_path(), 405, NOT_ALLOWED, allow="PUT"),
    Case("propfind-upload", "PROPFIND", "/upload", 405, NOT_ALLOWED, allow="GET,HEAD,POST"),
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
