"""The OpenAPI document (issue 5 §2): served at /openapi.json, valid OpenAPI 3.1, naming exactly
the routes the application registers, and true of real answers: a table of real requests on both
stores whose every response (status, documented headers, body) is checked against it."""

import hashlib
import io
import json
import re
import secrets
import string
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
import jsonschema
import pytest
from multidict import CIMultiDict
from openapi_spec_validator import validate as validate_openapi
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from proxy.app import create_app
from proxy.config import Config, StoreLocation, load_config
from proxy.handlers.openapi import openapi_document
from proxy.stores import open_location
from tests.support.credentials import (
    ADMIN,
    BEARER_TOKEN,
    INTERNAL_READER,
    NOBODY,
    PUBLIC_READER,
    PUBLIC_UPLOADER,
    UPLOADER,
    Creds,
)
from tests.support.faults import FaultyStore
from tests.support.proxies import Proxy, ProxyFactory
from tests.support.raw_http import RawPut, hold_put

DOCUMENT: dict[str, Any] = json.loads(openapi_document())
DOCUMENT_URI = "urn:tooltool-proxy:openapi.json"
REGISTRY: Registry[Any] = Registry().with_resource(DOCUMENT_URI, DRAFT202012.create_resource(DOCUMENT))
METHODS = ("get", "head", "post", "put", "patch", "delete", "options", "trace")


# --- reading the document -------------------------------------------------------------------


def pointer(*parts: str) -> str:
    """A JSON pointer (RFC 6901) to the document node at `parts`."""
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in parts)


def node(at: str) -> Any:
    value: Any = DOCUMENT
    for part in at.split("/")[1:]:
        value = value[part.replace("~1", "/").replace("~0", "~")]
    return value


def follow(at: str) -> str:
    """The pointer of the node `at` refers to, through any chain of $ref."""
    while "$ref" in node(at):
        at = node(at)["$ref"].removeprefix("#")
    return at


def validate(instance: Any, schema_at: str) -> None:
    """Validate against the JSON Schema at `schema_at`, resolving its $refs within the document."""
    ref = {"$ref": f"{DOCUMENT_URI}#{quote(schema_at, safe='/~')}"}
    jsonschema.Draft202012Validator(ref, registry=REGISTRY).validate(instance)


def template_of(path: str) -> str:
    """The document's path template matching a concrete request path."""
    for template in DOCUMENT["paths"]:
        pattern = re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path):
            return template
    raise AssertionError(f"{path} matches no path of the document")


def header_value(text: str, schema: Mapping[str, Any]) -> Any:
    return int(text) if schema.get("type") == "integer" and text.isdigit() else text


def check_answer(method: str, path: str, status: int, headers: Mapping[str, str], body: bytes) -> None:
    """Fail unless the document declares this answer: its status for the operation, every
    required header (and the value of every documented one), and a body of a documented media
    type that validates against its schema."""
    operation = pointer("paths", template_of(path), method.lower())
    assert str(status) in node(operation)["responses"], f"{method} {path}: {status} is not documented"
    response = follow(f"{operation}/responses/{status}")
    for name in node(response).get("headers", {}):
        declared = follow(f"{response}/headers/{pointer(name)[1:]}")
        if name not in headers:
            assert not node(declared).get("required"), f"{method} {path} {status}: header {name} is missing"
            continue
        validate(header_value(headers[name], node(declared)["schema"]), f"{declared}/schema")
    content = node(response).get("content")
    if not content or method == "HEAD":
        assert body == b"", f"{method} {path} {status}: a body where the document declares none"
        return
    media_type = headers.get("Content-Type", "").split(";")[0].strip()
    assert media_type in content, f"{method} {path} {status}: {media_type!r} is not documented"
    media = f"{response}/content/{pointer(media_type)[1:]}"
    if media_type == "application/json":
        validate(json.loads(body), f"{media}/schema")
    elif "schema" in node(media):
        validate(body.decode(), f"{media}/schema")


# --- the document itself ----------------------------------------------------------------------


def test_the_document_is_valid_openapi_3_1() -> None:
    validate_openapi(DOCUMENT)
    assert DOCUMENT["openapi"].startswith("3.1")


def test_the_document_has_the_package_version() -> None:
    assert DOCUMENT["info"]["version"] == package_version("tooltool-proxy")


def test_the_document_is_shipped_in_the_package(tmp_path: Path) -> None:
    """What setup.py builds into the package holds the document the handler serves."""
    root = Path(__file__).parents[2]
    subprocess.run(
        [sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(tmp_path)],
        cwd=root,
        check=True,
        capture_output=True,
    )
    assert (tmp_path / "proxy" / "openapi.json").read_bytes() == openapi_document()


@pytest.mark.parametrize("store_kind", ["local"])
async def test_openapi_json_serves_the_document(proxy: Proxy) -> None:
    response = await proxy.request("GET", "/openapi.json")
    assert response.status == 200
    assert response.content_type == "application/json"
    assert await response.json() == DOCUMENT


def registered_operations(config: Config) -> set[tuple[str, str]]:
    app = create_app(config)
    return {(route.method.lower(), route.resource.canonical) for route in app.router.routes() if route.resource}


def documented_operations() -> set[tuple[str, str]]:
    return {(method, path) for path, item in DOCUMENT["paths"].items() for method in item if method in METHODS}


def test_every_route_is_documented_and_every_documented_operation_is_routed(tmp_path: Path) -> None:
    registered = registered_operations(load_config({"TOOLTOOL_STORE": f"file://{tmp_path}"}))
    documented = documented_operations()
    # aiohttp answers HEAD on every GET route (HEAD is GET without the body, RFC 9110 §9.3.2); the
    # document spells HEAD out only where it is part of the contract (downloads).
    implied_heads = {("head", path) for method, path in documented if method == "get"}
    assert registered - implied_heads <= documented, "routes missing from the document"
    assert documented <= registered, "documented operations the application does not route"


def test_every_error_answer_uses_the_one_problem_schema() -> None:
    for path, item in DOCUMENT["paths"].items():
        for method in set(item) & {"get", "post", "put", "patch"}:
            for status in item[method]["responses"]:
                if int(status) < 400 or path == "/__heartbeat__":
                    continue
                response = node(follow(pointer("paths", path, method, "responses", status)))
                schema = node(response["content"]["application/json"]["schema"]["$ref"].removeprefix("#"))
                assert schema["allOf"][0] == {"$ref": "#/components/schemas/Problem"}, (method, path, status)
                assert schema["allOf"][1]["properties"]["status"] == {"const": int(status)}, (method, path, status)


# --- real answers against the document ----------------------------------------------------------

PUBLIC_DATA = b"public bytes served in the OpenAPI table\n" * 40
INTERNAL_DATA = b"internal bytes served in the OpenAPI table\n" * 40
GONE_DATA = b"bytes deleted after their upload\n" * 40


def batch_body(files: dict[str, tuple[bytes | str, int, str]], message: str = "Bug 5: openapi table") -> str:
    """A POST /upload body; each file is (data or digest, size, visibility)."""
    return json.dumps(
        {
            "message": message,
            "files": {
                name: {
                    "algorithm": "sha512",
                    "digest": hashlib.sha512(data).hexdigest() if isinstance(data, bytes) else data,
                    "size": size,
                    "visibility": visibility,
                }
                for name, (data, size, visibility) in files.items()
            },
        }
    )


@dataclass
class World:
    """What a row refers to as $name, made on first use. Each row has its own world: its files'
    bytes end with the row's number, so rows sharing a store never meet."""

    proxy: Proxy
    number: int
    values: dict[str, str] = field(default_factory=dict)
    held: list[RawPut] = field(default_factory=list)  # PUTs left half-sent, closed after the row

    def data(self, data: bytes) -> bytes:
        return data + f"row {self.number}\n".encode()

    async def value(self, name: str) -> str:
        if name not in self.values:
            self.values[name] = await getattr(self, f"make_{name}")()
        return self.values[name]

    async def substitute(self, text: str) -> str:
        names = set(re.findall(r"\$(\w+)", text))
        return string.Template(text).substitute({name: await self.value(name) for name in names})

    async def upload(self, creds: Creds, name: str, data: bytes, visibility: str) -> str:
        return await self.proxy.upload(creds, name, data, visibility)

    async def make_public(self) -> str:
        return await self.upload(PUBLIC_UPLOADER, "public.txt", self.data(PUBLIC_DATA), "public")

    async def make_internal(self) -> str:
        return await self.upload(UPLOADER, "internal.txt", self.data(INTERNAL_DATA), "internal")

    async def make_gone(self) -> str:
        digest = await self.upload(UPLOADER, "gone.txt", self.data(GONE_DATA), "public")
        body = b'[{"op": "delete_instances"}]'
        assert (await self.proxy.request("PATCH", f"/file/sha512/{digest}", ADMIN, body)).status == 200
        return digest

    async def make_unknown(self) -> str:
        return secrets.token_hex(64)

    async def make_batch(self) -> str:
        await self.value("public")
        return str((await self.proxy.upload_batch(PUBLIC_UPLOADER, {"again.txt": self.data(PUBLIC_DATA)}))["id"])

    async def make_pending_data(self) -> str:
        return f"bytes announced but not sent yet {secrets.token_hex(8)}\n" * 20

    async def make_put(self) -> str:
        """The path and query of the put_url of a pending upload of $pending_data."""
        data = (await self.value("pending_data")).encode()
        result = await self.proxy.upload_batch(UPLOADER, {"pending.txt": data})
        url = urlsplit(result["files"]["pending.txt"]["put_url"])
        return f"{url.path}?{url.query}"

    async def make_put_in_progress(self) -> str:
        """$put, with a PUT to it that has sent half its body and waits."""
        data = (await self.value("pending_data")).encode()
        self.held.append(await hold_put(self.proxy.session, self.proxy.url + await self.value("put"), data))
        return await self.value("put")

    async def close(self) -> None:
        for held in self.held:
            await held.finish()

    async def make_pending(self) -> str:
        """A file announced in a batch whose bytes have not arrived."""
        await self.value("put")
        return hashlib.sha512((await self.value("pending_data")).encode()).hexdigest()

    async def make_arrived(self) -> str:
        """A pending upload whose bytes arrived: complete may commit it."""
        data = (await self.value("pending_data")).encode()
        assert await self.proxy.put(self.proxy.url + await self.value("put"), data) == 200
        return await self.value("pending")

    async def make_new_public_batch(self) -> str:
        return batch_body({"new.txt": (secrets.token_bytes(16), 16, "public")})

    async def make_new_internal_batch(self) -> str:
        return batch_body({"new.txt": (secrets.token_bytes(16), 16, "internal")})

    async def make_stored_batch(self) -> str:
        return batch_body({"again.txt": (await self.value("public"), len(self.data(PUBLIC_DATA)), "public")})

    async def make_visibility_conflict(self) -> str:
        return batch_body({"again.txt": (await self.value("public"), len(self.data(PUBLIC_DATA)), "internal")})

    async def make_big_json(self) -> str:
        return json.dumps({"message": "x" * (2 * 1024 * 1024), "files": {}})

    async def make_page_etag(self) -> str:
        return (await self.proxy.request("GET", "/")).headers["ETag"]

    async def make_style_etag(self) -> str:
        return (await self.proxy.request("GET", "/ui/style.css")).headers["ETag"]


BAD_BEARER = "Bearer not-a-known-token"


@dataclass(frozen=True)
class Row:
    method: str
    path: str
    status: int | dict[str, int]  # by store kind where the stores differ
    creds: Creds | str | None = None  # a Creds signs with Hawk; a string is the Authorization header
    body: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    fault: tuple[str, ...] = ()  # store operations failing during the request
    given: tuple[str, ...] = ()  # world values to make first, besides those the row names
    redirects: bool = False  # the default proxy (redirects on S3) rather than the streaming one
    chunked: bool = False
    stalled: bool = False  # send half the body, then nothing

    def __str__(self) -> str:
        extra = [f"as {self.creds if isinstance(self.creds, str) else self.creds.client_id}"] if self.creds else []
        extra += [f"{k}: {v}" for k, v in self.headers.items()] + [f"failing {'+'.join(self.fault)}"] * bool(self.fault)
        extra += ["redirects"] * self.redirects + ["chunked"] * self.chunked + ["stalled"] * self.stalled
        return f"{self.method} {self.path} {' '.join(extra)} -> {self.status}"


BEARER = f"Bearer {BEARER_TOKEN}"
PUT_BODY = "$pending_data"
ROWS = [
    # downloads
    Row("GET", "/sha512/$public", 200),
    Row("HEAD", "/sha512/$public", 200),
    Row("GET", "/sha512/$public?region=us-east-1", 200),
    Row("GET", "/sha512/$public", 206, headers={"Range": "bytes=0-9"}),
    Row("HEAD", "/sha512/$public", 206, headers={"Range": "bytes=-5"}),
    Row("GET", "/sha512/$public", 304, headers={"If-None-Match": '"$public"'}),
    Row("HEAD", "/sha512/$public", 304, headers={"If-None-Match": '"$public"'}),
    Row("GET", "/sha512/$public", 416, headers={"Range": "bytes=100000-"}),
    Row("HEAD", "/sha512/$public", 416, headers={"Range": "bytes=100000-"}),
    Row("GET", "/sha512/$public", {"local": 200, "s3": 302}, redirects=True),
    Row("HEAD", "/sha512/$public", {"local": 200, "s3": 302}, redirects=True),
    Row("GET", "/sha512/$internal", 200, INTERNAL_READER),
    Row("GET", "/sha512/$internal", 200, BEARER),
    Row("GET", "/sha512/invalid", 400),
    Row("HEAD", "/sha512/invalid", 400),
    Row("GET", "/sha512/$internal", 403),
    Row("HEAD", "/sha512/$internal", 403),
    Row("GET", "/sha512/$unknown", 404),
    Row("HEAD", "/sha512/$unknown", 404),
    Row("GET", "/sha512/$gone", 404),
    Row("GET", "/sha512/$public", 401, BAD_BEARER),
    Row("HEAD", "/sha512/$public", 401, BAD_BEARER),
    Row("GET", "/sha512/$unknown", 503, fault=("read",)),
    Row("HEAD", "/sha512/$unknown", 503, fault=("read",)),
    # uploads
    Row("POST", "/upload", 200, PUBLIC_UPLOADER, "$new_public_batch"),
    Row("POST", "/upload?region=us-east-1", 200, UPLOADER, "$new_internal_batch"),
    Row("POST", "/upload", 200, UPLOADER, "$stored_batch"),
    Row("POST", "/upload", 400, UPLOADER, "{not json"),
    Row("POST", "/upload", 400, UPLOADER, "$visibility_conflict"),
    Row("POST", "/upload", 401, BAD_BEARER, "$new_public_batch"),
    Row("POST", "/upload", 403, None, "$new_public_batch"),
    Row("POST", "/upload", 403, PUBLIC_UPLOADER, "$new_internal_batch"),
    Row("POST", "/upload", 413, UPLOADER, "$big_json"),
    Row("POST", "/upload", 503, UPLOADER, "$new_public_batch", fault=("read",)),
    Row("PUT", "$put", 200, body=PUT_BODY),
    Row("PUT", "$put", 400, body="too short"),
    Row("PUT", "/upload/put/sha512/invalid?batch=1&size=1&expires=1&signature=0", 400, body="x"),
    Row("PUT", "/upload/put/sha512/$pending?batch=1&size=1&expires=1&signature=0", 403, body="x"),
    Row("PUT", "/upload/put/sha512/$pending?batch=1&size=1&expires=1&signature=%C3%A9", 403, body="x"),
    Row("PUT", "$put", 408, body=PUT_BODY, stalled=True),
    Row("PUT", "$put_in_progress", 409, body=PUT_BODY),
    Row("PUT", "$put", 411, body=PUT_BODY, chunked=True),
    Row("PUT", "$put", 503, body=PUT_BODY, fault=("write_stream",)),
    Row("GET", "/upload/complete/sha512/$arrived", 202, UPLOADER),
    Row("GET", "/upload/complete/sha512/invalid", 400, UPLOADER),
    Row("GET", "/upload/complete/sha512/$pending", 401, BAD_BEARER),
    Row("GET", "/upload/complete/sha512/$arrived", 403, NOBODY),
    Row("GET", "/upload/complete/sha512/$unknown", 404, UPLOADER),
    Row("GET", "/upload/complete/sha512/$pending", 409, UPLOADER),
    Row("GET", "/upload/complete/sha512/$arrived", 503, UPLOADER, fault=("list_keys",)),
    # metadata
    Row("GET", "/upload?q=Bug", 200, UPLOADER, given=("public", "internal")),
    Row("GET", "/upload?q=test", 200, given=("public", "internal")),
    Row("GET", "/upload", 400),
    Row("GET", "/upload?q=Bug", 401, BAD_BEARER),
    Row("GET", "/upload?q=Bug", 503, fault=("read", "list_keys")),
    Row("GET", "/upload/$batch", 200, PUBLIC_READER),
    Row("GET", "/upload/abc", 400),
    Row("GET", "/upload/0", 404),
    Row("GET", "/upload/$batch", 401, BAD_BEARER),
    Row("GET", "/upload/1234", 404),
    Row("GET", "/upload/$batch", 503, fault=("read",)),
    Row("GET", "/file?q=$public", 200, BEARER),
    Row("GET", "/file?q=.txt", 200, INTERNAL_READER, given=("public", "internal")),
    Row("GET", "/file", 400),
    Row("GET", "/file?q=txt", 401, BAD_BEARER),
    Row("GET", "/file?q=txt", 503, fault=("read", "list_keys")),
    Row("GET", "/file/sha512/$public", 200),
    Row("GET", "/file/sha512/$gone", 200, ADMIN),
    Row("GET", "/file/sha512/invalid", 400),
    Row("GET", "/file/sha512/$public", 401, BAD_BEARER),
    Row("GET", "/file/sha512/$internal", 403, PUBLIC_READER),
    Row("GET", "/file/sha512/$unknown", 404),
    Row("GET", "/file/sha512/$unknown", 503, fault=("read",)),
    Row("PATCH", "/file/sha512/$public", 200, ADMIN, '[{"op": "set_visibility", "visibility": "internal"}]'),
    Row("PATCH", "/file/sha512/$internal", 200, ADMIN, '[{"op": "delete_instances"}]'),
    Row("PATCH", "/file/sha512/$public", 200, ADMIN, "[]"),
    Row("PATCH", "/file/sha512/$public", 400, ADMIN, '[{"op": "rename"}]'),
    Row("PATCH", "/file/sha512/invalid", 400, ADMIN, "[]"),
    Row("PATCH", "/file/sha512/$public", 401, BAD_BEARER, "[]"),
    Row("PATCH", "/file/sha512/$public", 401, None, "[]"),
    Row("PATCH", "/file/sha512/$public", 403, UPLOADER, "[]"),
    Row("PATCH", "/file/sha512/$unknown", 404, ADMIN, "[]"),
    Row("PATCH", "/file/sha512/$public", 413, ADMIN, "$big_json"),
    Row("PATCH", "/file/sha512/$unknown", 503, ADMIN, "[]", fault=("read",)),
    # operations
    Row("GET", "/__lbheartbeat__", 200),
    Row("GET", "/__heartbeat__", 200),
    Row("GET", "/__heartbeat__", 503, fault=("ping",)),
    Row("GET", "/__version__", 200),
    Row("GET", "/metrics", 200),
    Row("GET", "/openapi.json", 200),
    # the web page and its calls
    Row("GET", "/", 200),
    Row("GET", "/", 304, headers={"If-None-Match": "$page_etag"}),
    Row("GET", "/ui/config.json", 200),
    Row("GET", "/ui/style.css", 200),
    Row("GET", "/ui/style.css", 304, headers={"If-None-Match": "$style_etag"}),
    Row("GET", "/ui/no-such-file.js", 404),
    Row("GET", "/auth/whoami", 200),
    Row("GET", "/auth/whoami", 200, ADMIN),
    Row("GET", "/auth/whoami", 200, BEARER),
    Row("GET", "/auth/whoami", 401, BAD_BEARER),
    Row("GET", "/file/search?q=.txt", 200, INTERNAL_READER, given=("public", "internal")),
    Row("GET", "/file/search?q=.txt", 200, given=("public", "internal")),
    Row("GET", "/file/search", 400),
    Row("GET", "/file/search?q=txt", 401, BAD_BEARER),
    Row("GET", "/file/search?q=txt", 503, fault=("read", "list_keys")),
    Row("GET", "/file/batches/sha512/$public", 200, given=("batch",)),
    Row("GET", "/file/batches/sha512/$internal", 200, UPLOADER),
    Row("GET", "/file/batches/sha512/invalid", 400),
    Row("GET", "/file/batches/sha512/$public", 401, BAD_BEARER),
    Row("GET", "/file/batches/sha512/$internal", 403, PUBLIC_READER),
    Row("GET", "/file/batches/sha512/$unknown", 404),
    Row("GET", "/file/batches/sha512/$unknown", 503, fault=("read",)),
]


def test_every_documented_answer_has_a_row() -> None:
    """The table covers the document: each operation's every status is produced by some row."""
    concrete = {"put": "/upload/put/sha512/x", "put_in_progress": "/upload/put/sha512/x"}
    covered = set()
    for row in ROWS:
        path = string.Template(row.path).safe_substitute(concrete)
        path = re.sub(r"\$\w+", "x", urlsplit(path).path)
        statuses = row.status.values() if isinstance(row.status, dict) else [row.status]
        covered |= {(row.method.lower(), template_of(path), str(status)) for status in statuses}
    documented = {
        (method, path, status)
        for path, item in DOCUMENT["paths"].items()
        for method, operation in item.items()
        if method in METHODS
        for status in operation["responses"]
    }
    assert documented - covered == set()


@pytest.fixture
async def streamer(make_proxy: ProxyFactory) -> tuple[Proxy, FaultyStore]:
    """A proxy that streams downloads and receives PUTs itself, on a store that fails on demand;
    its catalog looks at the journal on every search, so a failing store fails each search."""
    wrapped: list[FaultyStore] = []

    async def opener(location: StoreLocation, region: str, config: Config) -> Any:
        wrapped.append(FaultyStore(await open_location(location, region, config)))
        return wrapped[-1]

    proxy = await make_proxy(
        store_opener=opener,
        download="stream",
        upload_target="proxy",
        catalog_refresh="0",
        put_idle_timeout="1",
        # Each injected fault persists until healed: retrying it for the suite's 2 s only slows the table.
        store_retry_deadline="0.05",
    )
    [store] = wrapped
    return proxy, store


async def chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


@dataclass(frozen=True)
class RawAnswer:
    status: int
    headers: CIMultiDict[str]


async def answer(proxy: Proxy, world: World, row: Row) -> tuple[str, aiohttp.ClientResponse | RawAnswer, bytes]:
    path = await world.substitute(row.path)
    body = None if row.body is None else (await world.substitute(row.body)).encode()
    if row.stalled:
        assert body is not None
        status, headers, content = await (await RawPut.start(proxy.url + path, body, len(body) // 2)).answer()
        return path, RawAnswer(status, CIMultiDict(headers)), content
    headers = {name: await world.substitute(value) for name, value in row.headers.items()}
    if isinstance(row.creds, Creds):
        headers |= proxy.headers_for(row.creds, row.method, path, body)
    elif row.creds is not None:
        headers["Authorization"] = row.creds
    if row.method == "PUT":
        headers["Content-Type"] = "application/octet-stream"
    elif body is not None:
        headers.setdefault("Content-Type", "application/json")
    data: Any = body if body is None else chunks(body) if row.chunked else io.BytesIO(body)
    response = await proxy.session.request(
        row.method, proxy.url + path, data=data, headers=headers, allow_redirects=False
    )
    return path, response, await response.read()


async def check_row(proxy: Proxy, store: FaultyStore, world: World, row: Row, store_kind: str) -> None:
    named = re.findall(r"\$(\w+)", " ".join([row.path, row.body or "", *row.headers.values()]))
    for name in [*row.given, *named]:
        await world.value(name)  # set up before any fault is injected
    for operation in row.fault:
        store.fail(operation)
    try:
        path, response, body = await answer(proxy, world, row)
    finally:
        store.heal()
        await world.close()
    expected = row.status[store_kind] if isinstance(row.status, dict) else row.status
    assert response.status == expected, body[:500]
    check_answer(row.method, urlsplit(path).path, response.status, response.headers, body)


async def test_real_answers_match_the_document(
    streamer: tuple[Proxy, FaultyStore], make_proxy: ProxyFactory, store_kind: str, subtests: pytest.Subtests
) -> None:
    """Every row of the table, one subtest each, on one store (files differ from row to row)."""
    proxy, store = streamer
    redirector = await make_proxy()  # default settings: downloads redirect on S3
    for number, row in enumerate(ROWS):
        with subtests.test(msg=str(row)):
            await check_row(redirector if row.redirects else proxy, store, World(proxy, number), row, store_kind)


@pytest.mark.parametrize("store_kind", ["local"])
async def test_search_answers_with_a_next_page_match_the_document(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy(search_limit="1")
    await proxy.upload_batch(UPLOADER, {"paged-1.txt": b"paged one", "paged-2.txt": b"paged two"})
    await proxy.upload_batch(UPLOADER, {"paged-3.txt": b"paged three"})
    for path in ("/file?q=paged-", "/upload?q=Bug"):
        response = await proxy.request("GET", path, UPLOADER)
        body = await response.read()
        assert "next" in json.loads(body)
        assert "Link" in response.headers
        check_answer("GET", urlsplit(path).path, response.status, response.headers, body)
        cursor = quote(json.loads(body)["next"])
        response = await proxy.request("GET", f"{path}&cursor={cursor}", UPLOADER)
        check_answer("GET", urlsplit(path).path, response.status, response.headers, await response.read())
