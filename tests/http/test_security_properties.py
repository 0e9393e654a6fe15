"""Security properties of the proxy, tested against live proxies.

1. Internal bytes and metadata never reach a caller without `download/internal`, and public ones
   reach every caller with `download/public`, over every reading endpoint x credential kind x
   scope set x visibility (property-based, with hypothesis).
2. No Authorization header, token, signed URL or query string reaches the logs or Sentry. The logs
   of the whole test run are searched by conftest's `log_secret_scanner`; the tests here check
   that scanner and search the dynamic secrets (signed URLs, put_url tokens, Hawk headers) of a
   full session, and Sentry events of requests that fail inside a handler.
3. Host and X-Forwarded-* / Forwarded headers cannot change a redirect target or a put_url.
4. A replayed Hawk request is refused on every endpoint, and a replayed upload writes nothing.
5. Secrets are compared in constant time: put_url tokens, Hawk MACs, certificate signatures and
   payload hashes go through hmac.compare_digest (or mohawk's strings_match); Bearer tokens are
   never compared at all: their SHA-256 is looked up in a dict of digests.

Not repeated here: a staged upload cannot be swapped between verification and commit; see the
tests named `*swap*` and `test_bytes_replaced_before_the_commit_copy_are_not_committed` in
tests/http/test_uploads.py. Malformed and hostile requests per endpoint: tests/http/test_bad_input_corpus.py.
"""

import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import mohawk.base
import pytest
import sentry_sdk
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_aiohttp import AiohttpServer

from proxy import clients as clients_module
from proxy.http.sentry import init_sentry
from proxy.storage import ObjectStore
from proxy.stores import open_location
from proxy.tokens import PutGrant, put_query
from tests.support.credentials import (
    ADMIN,
    ALL_CREDS,
    BEARER_TOKEN,
    LOG_SECRETS,
    TEMP_ISSUER,
    UPLOADER,
    Creds,
    P,
    write_clients_file,
)
from tests.support.fake_taskcluster import create_fake_taskcluster
from tests.support.hawk import taskcluster_ext, taskcluster_header, tooltool_header
from tests.support.log_scanner import SecretScanningHandler
from tests.support.proxies import Proxy, ProxyFactory
from tests.support.sentry import CapturingTransport
from tests.support.tables import expand_value, load_table

# --- the world of the visibility property ---------------------------------------------------

PUBLIC_SCOPE = f"{P}/download/public"
INTERNAL_SCOPE = f"{P}/download/internal"
SCOPE_SETS: dict[str, tuple[str, ...]] = {
    "none": (),
    "public": (PUBLIC_SCOPE,),
    "internal": (INTERNAL_SCOPE,),
    "both": (PUBLIC_SCOPE, INTERNAL_SCOPE),
}
# A Hawk client and a Bearer token holding exactly each scope set (added to the clients file).
HAWK_CLIENTS = {name: Creds(f"holds-{name}", f"holds-{name}-token-0123456789ab", s) for name, s in SCOPE_SETS.items()}
BEARER_TOKENS = {name: f"bearer-holding-{name}-0123456789abcdef" for name in SCOPE_SETS}
CREDENTIAL_KINDS = ("anonymous", "hawk-tooltool", "hawk-taskcluster", "hawk-authorized-scopes", "bearer")


@pytest.fixture(autouse=True)
def logs_never_hold_this_modules_credentials(log_secret_scanner: SecretScanningHandler) -> Iterator[None]:
    saved = log_secret_scanner.secrets
    extra = (*(c.access_token for c in HAWK_CLIENTS.values()), *BEARER_TOKENS.values())
    log_secret_scanner.secrets = (*saved, *extra)
    yield
    log_secret_scanner.secrets = saved


@dataclass(frozen=True)
class Artifact:
    visibility: str
    filename: str
    data: bytes
    bug: str  # the bug number in the message of the batch that uploaded it alone

    @property
    def message(self) -> str:
        return f"Bug {self.bug}: the {self.visibility} artifact"

    @property
    def digest(self) -> str:
        return hashlib.sha512(self.data).hexdigest()


ARTIFACTS = {
    "public": Artifact("public", "pub-7c1e.bin", b"public bytes 7c1e", "701"),
    "internal": Artifact("internal", "int-9d4a.bin", b"internal bytes 9d4a", "702"),
}
MIXED_MESSAGE = "Bug 703: both artifacts at once"


@dataclass(frozen=True)
class World:
    """Proxies on one store holding ARTIFACTS: `by_anonymous_scopes[name]` grants anonymous
    callers that scope set; `batches` maps a message to its batch id."""

    by_anonymous_scopes: dict[str, Proxy]
    batches: dict[str, int]


@pytest.fixture
def clients_file(tmp_path: Path) -> Path:
    """conftest's clients, plus a Hawk client and a Bearer token for each scope set."""
    path = write_clients_file(tmp_path / "clients.json")
    doc = json.loads(path.read_text())
    doc["clients"] += [
        {"clientId": c.client_id, "accessToken": c.access_token, "scopes": list(c.scopes)}
        for c in HAWK_CLIENTS.values()
    ]
    doc["bearerTokens"] += [
        {"name": name, "sha256": hashlib.sha256(token.encode()).hexdigest(), "scopes": list(SCOPE_SETS[name])}
        for name, token in BEARER_TOKENS.items()
    ]
    path.write_text(json.dumps(doc))
    return path


async def upload_batch(proxy: Proxy, message: str, artifacts: Iterable[Artifact]) -> int:
    """The tooltool.py sequence for a batch with `message`; returns the batch id."""
    files = {
        a.filename: {"size": len(a.data), "digest": a.digest, "algorithm": "sha512", "visibility": a.visibility}
        for a in artifacts
    }
    body = json.dumps({"message": message, "files": files}).encode()
    response = await proxy.request("POST", "/upload", ADMIN, body)
    assert response.status == 200, await response.text()
    result = (await response.json())["result"]
    for artifact in artifacts:
        put_url = result["files"][artifact.filename].get("put_url")
        if put_url:
            assert await proxy.put(put_url, artifact.data) == 200
            done = await proxy.request("GET", f"/upload/complete/sha512/{artifact.digest}", ADMIN)
            assert done.status == 202, await done.text()
    return int(result["id"])


@pytest.fixture
async def world(make_proxy: ProxyFactory) -> World:
    first = await make_proxy(anonymous_scopes=" ".join(SCOPE_SETS["public"]))
    batches = {a.message: await upload_batch(first, a.message, [a]) for a in ARTIFACTS.values()}
    batches[MIXED_MESSAGE] = await upload_batch(first, MIXED_MESSAGE, list(ARTIFACTS.values()))
    proxies = {"public": first}
    for name, scopes in SCOPE_SETS.items():
        if name not in proxies:
            proxies[name] = await make_proxy(anonymous_scopes=" ".join(scopes))
    return World(proxies, batches)


def authorization(proxy: Proxy, kind: str, scopes: str, method: str, path: str) -> dict[str, str]:
    """The Authorization header of a caller of `kind` holding the scope set `scopes`."""
    url = proxy.url + path
    if kind == "anonymous":
        return {}
    if kind == "bearer":
        return {"Authorization": f"Bearer {BEARER_TOKENS[scopes]}"}
    if kind == "hawk-authorized-scopes":  # the admin, restricted to the scope set by the taskcluster library
        ext = taskcluster_ext(authorized_scopes=list(SCOPE_SETS[scopes]))
        return {"Authorization": taskcluster_header(ADMIN.client_id, ADMIN.access_token, method, url, ext=ext)}
    creds = HAWK_CLIENTS[scopes]
    sign = tooltool_header if kind == "hawk-tooltool" else taskcluster_header
    return {"Authorization": sign(creds.client_id, creds.access_token, method, url)}


def reading_requests(world: World, target: Artifact) -> dict[str, tuple[str, str]]:
    """Every endpoint that answers with bytes or metadata, aimed at `target`: name → (method, path)."""
    return {
        "download": ("GET", f"/sha512/{target.digest}"),
        "download-head": ("HEAD", f"/sha512/{target.digest}"),
        "file": ("GET", f"/file/sha512/{target.digest}"),
        "batch": ("GET", f"/upload/{world.batches[target.message]}"),
        "mixed-batch": ("GET", f"/upload/{world.batches[MIXED_MESSAGE]}"),
        "search-files-by-name": ("GET", f"/file?q={target.filename}"),
        "search-files-by-digest": ("GET", f"/file?q={target.digest[:16]}"),
        "search-batches-by-message": ("GET", f"/upload?q={target.bug}"),
        "search-batches-by-author": ("GET", f"/upload?q={ADMIN.client_id}"),
        # the web page's calls (issue 10)
        "web-search-files-by-name": ("GET", f"/file/search?q={target.filename}"),
        "web-search-files-by-digest": ("GET", f"/file/search?q={target.digest[:16]}"),
        "web-file-batches": ("GET", f"/file/batches/sha512/{target.digest}"),
    }


ENDPOINTS = (
    "download",
    "download-head",
    "file",
    "batch",
    "mixed-batch",
    "search-files-by-name",
    "search-files-by-digest",
    "search-batches-by-message",
    "search-batches-by-author",
    "web-search-files-by-name",
    "web-search-files-by-digest",
    "web-file-batches",
)


def revealed(artifact: Artifact, response: aiohttp.ClientResponse, body: bytes) -> bool:
    """Whether the answer (status line, headers, body) shows the artifact's bytes, digest or name."""
    head = "\n".join(f"{name}: {value}" for name, value in response.headers.items())
    text = head + "\n" + body.decode("utf-8", "replace")
    return artifact.data in body or artifact.digest in text or artifact.filename in text


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],  # `world` is built once and only read
)
@given(
    endpoint=st.sampled_from(ENDPOINTS),
    kind=st.sampled_from(CREDENTIAL_KINDS),
    scopes=st.sampled_from(sorted(SCOPE_SETS)),
    visibility=st.sampled_from(sorted(ARTIFACTS)),
)
async def test_files_reach_exactly_the_callers_holding_their_download_scope(
    world: World, endpoint: str, kind: str, scopes: str, visibility: str
) -> None:
    proxy = world.by_anonymous_scopes[scopes if kind == "anonymous" else "public"]
    target = ARTIFACTS[visibility]
    method, path = reading_requests(world, target)[endpoint]
    response = await proxy.request(method, path, headers=authorization(proxy, kind, scopes, method, path))
    body = await response.read()
    assert response.status < 500, body
    held = set(SCOPE_SETS[scopes])
    for artifact in ARTIFACTS.values():
        may_read = f"{P}/download/{artifact.visibility}" in held
        if not may_read:
            assert not revealed(artifact, response, body), (artifact.visibility, response.status, body[:500])
        elif artifact is target:
            assert revealed(artifact, response, body), (artifact.visibility, response.status, body[:500])


# --- secrets in logs -------------------------------------------------------------------------


def test_the_log_scanner_names_the_secret_and_the_record(log_secret_scanner: SecretScanningHandler) -> None:
    before = len(log_secret_scanner.leaks)
    logging.getLogger("tooltool.scanner-check").warning("sent with Bearer %s", BEARER_TOKEN)
    found = log_secret_scanner.leaks[before:]
    del log_secret_scanner.leaks[before:]  # planted on purpose: not a leak of the code under test
    assert len(found) == 1
    assert found[0].startswith(f"{BEARER_TOKEN!r} in a 'tooltool.scanner-check' record: ")
    assert '"Type": "tooltool.scanner-check"' in found[0]


def test_the_log_scanner_searches_every_credential_of_the_test_clients() -> None:
    for secret in (*(c.access_token for c in ALL_CREDS), BEARER_TOKEN, "Hawk mac=", "X-Amz-Signature", "signature="):
        assert secret in LOG_SECRETS
    assert "Authorization" in LOG_SECRETS


class LineKeeper(SecretScanningHandler):
    """Keeps every formatted line too, to search for secrets known only once the requests are made."""

    def __init__(self) -> None:
        super().__init__(())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def log_lines() -> Iterator[LineKeeper]:
    handler = LineKeeper()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)


async def test_a_full_session_logs_no_signed_url_token_hawk_header_or_query(
    make_proxy: ProxyFactory, store_kind: str, log_lines: LineKeeper
) -> None:
    """Every endpoint, every credential kind, the proxy's own PUT and (on S3) presigned URLs."""
    proxy = await make_proxy(upload_target="proxy") if store_kind == "s3" else await make_proxy()
    data = b"logged session bytes"
    digest = hashlib.sha512(data).hexdigest()
    sent: list[str] = []

    async def call(
        method: str, path: str, creds: Creds | None = None, style: str = "tooltool", body: bytes | None = None
    ) -> aiohttp.ClientResponse:
        headers = proxy.headers_for(creds, method, path, body, style)
        sent.extend(value for name, value in headers.items() if name == "Authorization")
        return await proxy.request(method, path, body=body, headers=headers)

    async def bearer(method: str, path: str, token: str = BEARER_TOKEN) -> aiohttp.ClientResponse:
        return await proxy.request(method, path, headers={"Authorization": f"Bearer {token}"})

    batch = await proxy.upload_batch(ADMIN, {"logged.bin": data})
    put_url = batch["files"]["logged.bin"]["put_url"]
    assert "signature=" in put_url
    assert await proxy.put(put_url, data) == 200
    assert (await call("GET", f"/upload/complete/sha512/{digest}?x=query-secret-1", UPLOADER)).status == 202
    downloaded = await call("GET", f"/sha512/{digest}?region=query-secret-2", ADMIN, "taskcluster")
    assert downloaded.status == (302 if store_kind == "s3" else 200)
    assert (await bearer("HEAD", f"/sha512/{digest}")).status in (200, 302)
    assert (await call("GET", f"/file/sha512/{digest}", TEMP_ISSUER, "taskcluster")).status == 200
    assert (await call("GET", "/file?q=query-secret-3", ADMIN)).status == 200
    assert (await call("GET", "/upload?q=query-secret-4", ADMIN)).status == 200
    assert (await call("GET", f"/upload/{batch['id']}?x=query-secret-5", ADMIN)).status == 200
    assert (await call("PATCH", f"/file/sha512/{digest}", ADMIN, body=b"[]")).status == 200
    assert (await bearer("GET", f"/sha512/{digest}", "not-a-token")).status == 401

    secrets = [*sent, put_url.split("?", 1)[1], *(f"query-secret-{n}" for n in range(1, 6))]
    if "Location" in downloaded.headers:
        secrets.append(downloaded.headers["Location"].split("?", 1)[1])
    summaries = [line for line in log_lines.lines if '"Type": "request.summary"' in line]
    assert len(summaries) == 11  # one line per request, the PUT included
    for secret in secrets:
        assert not [line for line in log_lines.lines if secret in line], secret


# --- secrets in Sentry -------------------------------------------------------------------------


Signer = Callable[[str, str, str, str, bytes | None], str]


def bearer(client_id: str, access_token: str, method: str, url: str, body: bytes | None = None) -> str:
    """A Signer that ignores the request: the Bearer token of the clients file."""
    return f"Bearer {BEARER_TOKEN}"


class FailingStore:
    """Delegates to a real store until `failing` is set; then every operation raises."""

    def __init__(self, inner: ObjectStore) -> None:
        self._inner = inner
        self.failing = False

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if not callable(attribute) or name in ("close", "ping"):
            return attribute

        def maybe_failing(*args: Any, **kwargs: Any) -> Any:
            if self.failing:
                raise RuntimeError("unexpected store failure")
            return attribute(*args, **kwargs)

        return maybe_failing


@pytest.mark.parametrize("store_kind", ["local"], indirect=True)
async def test_sentry_events_of_failures_inside_handlers_hold_no_credentials_or_queries(
    make_proxy: ProxyFactory,
) -> None:
    opened: list[FailingStore] = []

    async def failing(location: Any, region: str, config: Any) -> Any:
        opened.append(FailingStore(await open_location(location, region, config)))
        return opened[-1]

    transport = CapturingTransport()
    init_sentry("http://public@127.0.0.1:9/1", "test", transport=transport)
    try:
        proxy = await make_proxy(store_opener=failing)
        digest = "cd" * 64
        token = put_query(proxy.config.upload_secret, PutGrant(digest, 1, 4, 2**40))
        file = {"size": 1, "digest": digest, "algorithm": "sha512", "visibility": "public"}
        batch = json.dumps({"message": "Bug 1", "files": {"a": file}}).encode()
        requests: list[tuple[str, str, Signer, bytes | None]] = [
            ("GET", f"/sha512/{digest}?region=query-secret-a", bearer, None),
            ("HEAD", f"/sha512/{digest}?region=query-secret-b", tooltool_header, None),
            ("GET", f"/file/sha512/{digest}?x=query-secret-c", taskcluster_header, None),
            ("GET", f"/upload/complete/sha512/{digest}?x=query-secret-d", tooltool_header, None),
            ("GET", "/upload/1234?x=query-secret-e", bearer, None),
            ("POST", "/upload?region=query-secret-f", tooltool_header, batch),
            ("PATCH", f"/file/sha512/{digest}?x=query-secret-g", taskcluster_header, b"[]"),
            ("PUT", f"/upload/put/sha512/{digest}?{token}", bearer, b"data"),
        ]
        for store in opened:
            store.failing = True
        for method, path, sign, data in requests:
            headers = {"Authorization": sign(ADMIN.client_id, ADMIN.access_token, method, proxy.url + path, data)}
            if data is not None:
                headers["Content-Type"] = "application/json"
            response = await proxy.request(method, path, body=data, headers=headers)
            assert response.status == 500, (method, path, await response.text())
        sentry_sdk.flush()
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.init()
    events = [str(envelope.serialize()) for envelope in transport.envelopes]
    assert sum("unexpected store failure" in event for event in events) == len(requests)
    payload = "\n".join(events)
    # The header's name may stay in Sentry's own record of what it filtered out; values never.
    secrets = [secret for secret in LOG_SECRETS if secret != "Authorization"]
    for secret in (*secrets, token, *(f"query-secret-{c}" for c in "abcdefg")):
        assert secret not in payload, secret


# --- Host and forwarding headers -------------------------------------------------------------

SECURITY_REQUESTS = load_table("security_requests.json")
SPOOFING_HEADERS = [pytest.param(row["headers"], id=row["id"]) for row in SECURITY_REQUESTS["spoofing_headers"]]


def origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


@pytest.mark.parametrize("store_kind", ["s3"], indirect=True)
@pytest.mark.parametrize("spoofing", SPOOFING_HEADERS)
async def test_forwarding_headers_cannot_move_a_redirect(
    proxy: Proxy, moto_endpoint: str, spoofing: dict[str, str]
) -> None:
    digest = await proxy.upload(ADMIN, "redirected.bin", b"redirected bytes", "public")
    for method in ("GET", "HEAD"):
        response = await proxy.request(method, f"/sha512/{digest}", headers=spoofing)
        assert response.status == 302, await response.text()
        assert origin(response.headers["Location"]) == origin(moto_endpoint)
        assert "evil.example" not in response.headers["Location"]


@pytest.mark.parametrize("spoofing", SPOOFING_HEADERS)
async def test_forwarding_headers_cannot_move_a_put_url(
    make_proxy: ProxyFactory, store_kind: str, spoofing: dict[str, str]
) -> None:
    proxy = await make_proxy(upload_target="proxy") if store_kind == "s3" else await make_proxy()
    data = json.dumps(spoofing).encode()  # a file of its own for each case, so it gets a put_url
    digest = hashlib.sha512(data).hexdigest()
    file = {"size": len(data), "digest": digest, "algorithm": "sha512", "visibility": "public"}
    body = json.dumps({"message": "Bug 1: spoofed", "files": {"f.bin": file}}).encode()
    # Hawk signs the host the proxy is told about, so sign for the spoofed Host when there is one.
    signed_url = f"http://{spoofing['Host']}/upload" if "Host" in spoofing else proxy.url + "/upload"
    header = tooltool_header(UPLOADER.client_id, UPLOADER.access_token, "POST", signed_url, body)
    headers = {**spoofing, "Authorization": header, "Content-Type": "application/json"}
    response = await proxy.request("POST", "/upload", body=body, headers=headers)
    assert response.status == 200, await response.text()
    put_url = (await response.json())["result"]["files"]["f.bin"]["put_url"]
    assert proxy.config.public_url is not None
    assert origin(put_url) == origin(proxy.config.public_url)
    assert put_url.startswith(f"{proxy.config.public_url}/upload/put/sha512/{digest}?")


# --- replayed Hawk requests ----------------------------------------------------------------

REPLAYED = SECURITY_REQUESTS["replayed"]


@pytest.mark.parametrize("row", REPLAYED, ids=[f"{row['method']} {row['path']}" for row in REPLAYED])
async def test_a_replayed_hawk_request_is_refused_and_writes_nothing(proxy: Proxy, row: dict[str, Any]) -> None:
    data = b"replayed bytes"
    digest = await proxy.upload(ADMIN, "replayed.bin", data)
    method, path = row["method"], row["path"].format(digest=digest)
    body = row["body"].encode() if "body" in row else None
    if "json" in row:
        body = json.dumps(expand_value(row["json"], {})).encode()
    headers = proxy.headers_for(ADMIN, method, path, body)
    first = await proxy.request(method, path, body=body, headers=headers)
    assert first.status < 400, await first.text()
    before = await proxy.snapshot()
    again = await proxy.request(method, path, body=body, headers=headers)
    assert again.status == 401
    if method != "HEAD":
        assert "replayed" in (await again.json())["detail"]
    assert await proxy.snapshot() == before


# --- constant-time comparisons ---------------------------------------------------------------


@dataclass
class ComparisonSpy:
    """Records the arguments of every constant-time comparison, then compares as the original."""

    calls: list[tuple[Any, Any]]

    def wrap(self, original: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
        def compare(a: Any, b: Any) -> bool:
            self.calls.append((a, b))
            return original(a, b)

        return compare

    def compared(self, presented: str) -> bool:
        """Whether `presented` was one side of a recorded comparison."""
        forms = {presented, presented.encode()}
        return any(a in forms or b in forms for a, b in self.calls)


@pytest.fixture
def comparisons(monkeypatch: pytest.MonkeyPatch) -> ComparisonSpy:
    spy = ComparisonSpy([])
    monkeypatch.setattr(hmac, "compare_digest", spy.wrap(hmac.compare_digest))
    monkeypatch.setattr(mohawk.base, "strings_match", spy.wrap(mohawk.base.strings_match))
    return spy


@pytest.mark.parametrize("store_kind", ["local"], indirect=True)
async def test_a_put_url_signature_is_compared_in_constant_time(proxy: Proxy, comparisons: ComparisonSpy) -> None:
    batch = await proxy.upload_batch(UPLOADER, {"timed.bin": b"timed"})
    put_url = batch["files"]["timed.bin"]["put_url"]
    signature = put_url.rsplit("signature=", 1)[1]
    forged = ("0" if signature[0] != "0" else "1") + signature[1:]
    assert await proxy.put(put_url.replace(signature, forged), b"timed") == 403
    assert comparisons.compared(forged)


@pytest.mark.parametrize("store_kind", ["local"], indirect=True)
async def test_a_hawk_mac_is_compared_in_constant_time(proxy: Proxy, comparisons: ComparisonSpy) -> None:
    header = tooltool_header(ADMIN.client_id, "not-the-token", "GET", f"{proxy.url}/file?q=x")
    response = await proxy.request("GET", "/file?q=x", headers={"Authorization": header})
    assert response.status == 401
    presented_mac = header.split('mac="', 1)[1].split('"', 1)[0]
    assert comparisons.compared(presented_mac)


@pytest.mark.parametrize("store_kind", ["local"], indirect=True)
async def test_a_temporary_credentials_signature_is_compared_in_constant_time(
    proxy: Proxy, comparisons: ComparisonSpy
) -> None:
    forged = "Zm9yZ2VkIHNpZ25hdHVyZSBvZiBhIGNlcnRpZmljYXRlISE="
    certificate = {
        "version": 1,
        "scopes": [f"{P}/download/public"],
        "start": 0,
        "expiry": 1,
        "seed": "seed",
        "issuer": TEMP_ISSUER.client_id,
        "signature": forged,
    }
    url = f"{proxy.url}/file?q=x"
    ext = taskcluster_ext(certificate=certificate)
    header = taskcluster_header("temporary-x", "any-token", "GET", url, ext=ext)
    response = await proxy.request("GET", "/file?q=x", headers={"Authorization": header})
    assert response.status == 401
    assert "certificate signature" in (await response.json())["detail"]
    assert comparisons.compared(forged)


@pytest.mark.parametrize("store_kind", ["local"], indirect=True)
async def test_the_payload_hash_from_the_auth_service_is_compared_in_constant_time(
    make_proxy: ProxyFactory, aiohttp_server: AiohttpServer, comparisons: ComparisonSpy
) -> None:
    clients = {ADMIN.client_id: {"accessToken": ADMIN.access_token, "scopes": list(ADMIN.scopes)}}
    service = await aiohttp_server(create_fake_taskcluster(clients))
    proxy = await make_proxy(taskcluster_root_url=str(service.make_url("")).rstrip("/"))
    signed_body, sent_body = b'{"signed": 1}', b'{"sent": 22}'
    header = tooltool_header(ADMIN.client_id, ADMIN.access_token, "POST", f"{proxy.url}/upload", signed_body)
    headers = {"Authorization": header, "Content-Type": "application/json"}
    response = await proxy.request("POST", "/upload", body=sent_body, headers=headers)
    assert response.status == 401
    their_hash = header.split('hash="', 1)[1].split('"', 1)[0]
    assert comparisons.compared(their_hash)


@pytest.mark.parametrize("store_kind", ["local"], indirect=True)
async def test_a_bearer_token_is_looked_up_by_its_sha256_never_compared(
    proxy: Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bearer tokens are stored as SHA-256 digests and found by a dict lookup on the digest of the
    presented token: timing can tell at most about the digest, which says nothing of the token."""
    hashed: list[str] = []
    token_digest = clients_module.token_digest

    def recording_digest(token: str) -> str:
        hashed.append(token)
        return token_digest(token)

    monkeypatch.setattr(clients_module, "token_digest", recording_digest)
    for token, status in ((BEARER_TOKEN + "x", 401), (BEARER_TOKEN, 200)):
        response = await proxy.request("GET", "/file?q=x", headers={"Authorization": f"Bearer {token}"})
        assert response.status == status
    assert hashed == [BEARER_TOKEN + "x", BEARER_TOKEN]
    stored = json.loads(Path(proxy.env["TOOLTOOL_CLIENTS_FILE"]).read_text())["bearerTokens"]
    assert BEARER_TOKEN not in json.dumps(stored)
