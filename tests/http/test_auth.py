"""Who may download what: anonymous callers, Hawk (tooltool.py and taskcluster-library styles, temporary
credentials), Bearer tokens, remote verification by the Taskcluster auth service, and the hot-reloaded
clients file (PROTOCOL.md §2, §3, §5; DESIGN.md §4).

Downloads are the probe: a permitted GET /sha512/<digest> answers 200 on the local store (it streams) and
302 on S3. Auth does not depend on the store, so most tests run on the local store only.
"""

import asyncio
import datetime
import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import mohawk.exc
import mohawk.util
import pytest
import taskcluster
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from proxy import clients as clients_module
from proxy.clients import add_client
from tests.support.credentials import (
    ADMIN,
    ALL_CREDS,
    BEARER_TOKEN,
    INTERNAL_READER,
    NOBODY,
    PUBLIC_READER,
    TEMP_ISSUER,
    UPLOADER,
    Creds,
    P,
)
from tests.support.fake_taskcluster import CALLS, create_fake_taskcluster
from tests.support.hawk import hawk_mac, taskcluster_ext, taskcluster_header, tooltool_header
from tests.support.net import free_port
from tests.support.oracles import problem_body
from tests.support.proxies import Proxy, ProxyFactory

LOCAL = pytest.mark.parametrize("store_kind", ["local"], indirect=True)

FORBIDDEN = (
    "You don't have the permission to access the requested resource. "
    "It is either read-protected or not readable by the server."
)
PUBLIC_DATA = b"public bytes for everyone"
INTERNAL_DATA = b"internal bytes for the few"
PUBLIC_DIGEST = hashlib.sha512(PUBLIC_DATA).hexdigest()
INTERNAL_DIGEST = hashlib.sha512(INTERNAL_DATA).hexdigest()
PUBLIC_PATH = f"/sha512/{PUBLIC_DIGEST}"
INTERNAL_PATH = f"/sha512/{INTERNAL_DIGEST}"

# Known only to the Taskcluster stand-in, never to the clients file.
REMOTE_ONLY = Creds("remote-only", "remote-only-token-0123456789ab", (f"{P}/download/internal",))
TOKENS = {c.client_id: c.access_token for c in (*ALL_CREDS, REMOTE_ONLY)}

HeaderMaker = Callable[[Proxy, str], str]


async def upload_files(proxy: Proxy) -> None:
    """One public and one internal file, uploaded by the admin."""
    assert await proxy.upload(ADMIN, "public.txt", PUBLIC_DATA, "public") == PUBLIC_DIGEST
    assert await proxy.upload(ADMIN, "internal.txt", INTERNAL_DATA, "internal") == INTERNAL_DIGEST


@pytest.fixture
async def files(proxy: Proxy) -> Proxy:
    """The default proxy, holding the public and the internal file."""
    await upload_files(proxy)
    return proxy


def allowed(proxy: Proxy) -> int:
    """The status of a permitted download: the local store streams, S3 redirects."""
    return 200 if proxy.config.store.is_local else 302


def port_of(proxy: Proxy) -> int:
    port = urlsplit(proxy.url).port
    assert port is not None
    return port


async def get(proxy: Proxy, path: str, authorization: str | None = None) -> aiohttp.ClientResponse:
    headers = {} if authorization is None else {"Authorization": authorization}
    return await proxy.request("GET", path, headers=headers)


def sign(proxy: Proxy, creds: Creds, path: str, method: str = "GET", **kwargs: Any) -> str:
    """A tooltool.py-style header for this proxy's URL."""
    return tooltool_header(creds.client_id, creds.access_token, method, proxy.url + path, **kwargs)


def batch_body(data: bytes, visibility: str = "public") -> bytes:
    file = {"size": len(data), "digest": hashlib.sha512(data).hexdigest(), "algorithm": "sha512"}
    return json.dumps({"message": "Bug 1: auth", "files": {"f.bin": {**file, "visibility": visibility}}}).encode()


async def assert_forbidden(response: aiohttp.ClientResponse) -> None:
    assert response.status == 403, await response.text()
    assert response.headers["Content-Type"] == "application/json"
    assert await response.json() == problem_body(403, FORBIDDEN)


async def assert_unauthorized(response: aiohttp.ClientResponse, reason: str) -> str:
    """A 401 in the §2 shape whose detail mentions `reason`; returns the detail."""
    text = await response.text()
    assert response.status == 401, text
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["WWW-Authenticate"].startswith("Hawk")
    body = json.loads(text)
    detail = str(body["detail"])
    assert reason.lower() in detail.lower(), detail
    assert body == problem_body(401, detail)
    return detail


def server_mac(proxy: Proxy, header: str, method: str, resource: str) -> str | None:
    """The MAC the proxy computes for `header` on the request it actually got (None if it computes none)."""
    try:
        parsed = mohawk.util.parse_authorization_header(header)
    except (mohawk.exc.HawkFail, ValueError):
        return None
    token = TOKENS.get(parsed.get("id", ""))
    if token is None or "ts" not in parsed or "nonce" not in parsed:
        return None
    return hawk_mac(
        token,
        parsed["ts"],
        parsed["nonce"],
        method,
        resource,
        "127.0.0.1",
        port_of(proxy),
        parsed.get("hash", ""),
        parsed.get("ext", ""),
    )


def temporary_credentials(
    issuer: Creds,
    scopes: list[str],
    *,
    name: str | None = None,
    start: datetime.timedelta = datetime.timedelta(minutes=-1),
    lifetime: datetime.timedelta = datetime.timedelta(hours=1),
) -> tuple[str, str, dict[str, Any]]:
    """(clientId, accessToken, certificate) as the taskcluster library issues them."""
    begin = datetime.datetime.now(datetime.UTC) + start
    issued = taskcluster.createTemporaryCredentials(
        issuer.client_id, issuer.access_token, begin, begin + lifetime, scopes, name=name
    )
    token = issued["accessToken"]
    token = token.decode() if isinstance(token, bytes) else str(token)
    return str(issued["clientId"]), token, json.loads(issued["certificate"])


def certificate_header(proxy: Proxy, client_id: str, token: str, certificate: dict[str, Any], path: str) -> str:
    ext = taskcluster_ext(certificate=certificate)
    return taskcluster_header(client_id, token, "GET", proxy.url + path, ext=ext)


async def start_auth_service(aiohttp_server: AiohttpServer, *creds: Creds) -> TestServer:
    clients = {c.client_id: {"accessToken": c.access_token, "scopes": list(c.scopes)} for c in creds}
    return await aiohttp_server(create_fake_taskcluster(clients))


async def remote_proxy(make_proxy: ProxyFactory, service: TestServer) -> Proxy:
    """A proxy verifying Hawk through `service`, holding the two files."""
    proxy = await make_proxy(taskcluster_root_url=str(service.make_url("")).rstrip("/"))
    await upload_files(proxy)
    return proxy


async def unreachable_auth_proxy(make_proxy: ProxyFactory) -> Proxy:
    """Files uploaded through a locally verifying proxy, then a second proxy on the same store whose
    auth service is a closed port."""
    await upload_files(await make_proxy())
    return await make_proxy(taskcluster_root_url=f"http://127.0.0.1:{free_port()}")


# 1. Anonymous callers


async def test_anonymous_may_download_a_public_file(files: Proxy) -> None:
    response = await get(files, PUBLIC_PATH)
    assert response.status == allowed(files), await response.text()


@LOCAL
async def test_anonymous_gets_the_exact_403_body_for_an_internal_file(files: Proxy) -> None:
    await assert_forbidden(await get(files, INTERNAL_PATH))


# 2. Hawk as tooltool.py sends it


async def test_hawk_client_with_download_internal_gets_an_internal_file(files: Proxy) -> None:
    response = await get(files, INTERNAL_PATH, sign(files, INTERNAL_READER, INTERNAL_PATH))
    assert response.status == allowed(files), await response.text()


@LOCAL
async def test_hawk_client_without_download_internal_is_forbidden_an_internal_file(files: Proxy) -> None:
    await assert_forbidden(await get(files, INTERNAL_PATH, sign(files, PUBLIC_READER, INTERNAL_PATH)))


@LOCAL
async def test_download_internal_does_not_imply_download_public(files: Proxy) -> None:
    await assert_forbidden(await get(files, PUBLIC_PATH, sign(files, INTERNAL_READER, PUBLIC_PATH)))


@LOCAL
async def test_client_without_scopes_is_forbidden_even_public_files(files: Proxy) -> None:
    await assert_forbidden(await get(files, PUBLIC_PATH, sign(files, NOBODY, PUBLIC_PATH)))


@LOCAL
@pytest.mark.parametrize("path", [PUBLIC_PATH, INTERNAL_PATH], ids=["public", "internal"])
async def test_star_scope_grants_every_visibility(files: Proxy, path: str) -> None:
    response = await get(files, path, sign(files, ADMIN, path))
    assert response.status == 200, await response.text()


@LOCAL
async def test_hawk_resource_includes_the_query_string(files: Proxy) -> None:
    path = f"{INTERNAL_PATH}?region=us-east-1"
    response = await get(files, path, sign(files, ADMIN, path))
    assert response.status == 200, await response.text()


@LOCAL
async def test_hawk_mac_over_the_path_without_its_query_string_is_rejected(files: Proxy) -> None:
    response = await get(files, f"{INTERNAL_PATH}?region=us-east-1", sign(files, ADMIN, INTERNAL_PATH))
    await assert_unauthorized(response, "MAC does not match")


@LOCAL
async def test_hawk_signed_upload_with_body_hash_verifies(proxy: Proxy) -> None:
    result = await proxy.upload_batch(UPLOADER, {"signed.bin": b"signed body"}, "internal")
    assert result["author"] == UPLOADER.client_id


@LOCAL
async def test_hawk_upload_whose_body_does_not_match_the_signed_hash_is_rejected(proxy: Proxy) -> None:
    header = sign(proxy, UPLOADER, "/upload", "POST", body=batch_body(b"what was signed"))
    response = await proxy.request(
        "POST", "/upload", body=batch_body(b"what was sent"), headers={"Authorization": header}
    )
    await assert_unauthorized(response, "payload hash")


# 3. Hawk failures: always 401 with a reason, never anonymous, never the server's MAC


def _now_plus(seconds: int) -> int:
    return int(time.time()) + seconds


HAWK_FAILURES: list[tuple[str, HeaderMaker, str]] = [
    ("garbage", lambda p, path: "Hawk garbage", "malformed Hawk header"),
    ("id-only-unknown", lambda p, path: 'Hawk id="x"', "malformed Hawk header"),
    ("id-only-known", lambda p, path: f'Hawk id="{ADMIN.client_id}"', "malformed Hawk header"),
    ("scheme-only", lambda p, path: "Hawk", "malformed Hawk header"),
    ("unknown-client", lambda p, path: sign(p, Creds("stranger", "t" * 30, ()), path), "unknown Hawk client id"),
    ("wrong-token", lambda p, path: sign(p, Creds(ADMIN.client_id, "wrong", ()), path), "MAC does not match"),
    ("stale-ts", lambda p, path: sign(p, ADMIN, path, timestamp=_now_plus(-600)), "clock skew"),
    ("future-ts", lambda p, path: sign(p, ADMIN, path, timestamp=_now_plus(600)), "clock skew"),
    ("other-path", lambda p, path: sign(p, ADMIN, f"/sha512/{'0' * 128}"), "MAC does not match"),
    ("other-method", lambda p, path: sign(p, ADMIN, path, "POST"), "MAC does not match"),
    (
        "other-host",
        lambda p, path: tooltool_header(
            ADMIN.client_id, ADMIN.access_token, "GET", f"http://localhost:{port_of(p)}{path}"
        ),
        "MAC does not match",
    ),
    (
        "other-port",
        lambda p, path: tooltool_header(
            ADMIN.client_id, ADMIN.access_token, "GET", f"http://127.0.0.1:{port_of(p) + 1}{path}"
        ),
        "MAC does not match",
    ),
    ("basic-scheme", lambda p, path: "Basic YWRtaW46c2VjcmV0", "unsupported Authorization scheme"),
]


@LOCAL
@pytest.mark.parametrize(("make_header", "reason"), [c[1:] for c in HAWK_FAILURES], ids=[c[0] for c in HAWK_FAILURES])
async def test_bad_hawk_credentials_on_a_public_file_are_401_with_the_reason(
    files: Proxy, make_header: HeaderMaker, reason: str
) -> None:
    header = make_header(files, PUBLIC_PATH)
    response = await get(files, PUBLIC_PATH, header)
    await assert_unauthorized(response, reason)
    mac = server_mac(files, header, "GET", PUBLIC_PATH)
    if mac is not None:
        assert mac not in await response.text()


@LOCAL
async def test_replayed_hawk_header_is_rejected(files: Proxy) -> None:
    header = sign(files, ADMIN, PUBLIC_PATH)
    first = await get(files, PUBLIC_PATH, header)
    assert first.status == 200, await first.text()
    await assert_unauthorized(await get(files, PUBLIC_PATH, header), "replay")


# 4. Hawk as the taskcluster library sends it


@LOCAL
async def test_taskcluster_style_header_is_accepted(files: Proxy) -> None:
    response = await files.request("GET", INTERNAL_PATH, ADMIN, style="taskcluster")
    assert response.status == 200, await response.text()


@LOCAL
async def test_authorized_scopes_restrict_the_client_to_those_scopes(files: Proxy) -> None:
    ext = taskcluster_ext(authorized_scopes=[f"{P}/download/public"])

    def header(path: str) -> str:
        return taskcluster_header(ADMIN.client_id, ADMIN.access_token, "GET", files.url + path, ext=ext)

    await assert_forbidden(await get(files, INTERNAL_PATH, header(INTERNAL_PATH)))
    response = await get(files, PUBLIC_PATH, header(PUBLIC_PATH))
    assert response.status == 200, await response.text()


@LOCAL
async def test_authorized_scopes_beyond_the_clients_scopes_are_401(files: Proxy) -> None:
    ext = taskcluster_ext(authorized_scopes=[f"{P}/download/internal"])
    header = taskcluster_header(
        PUBLIC_READER.client_id, PUBLIC_READER.access_token, "GET", files.url + INTERNAL_PATH, ext=ext
    )
    await assert_unauthorized(await get(files, INTERNAL_PATH, header), "authorizedScopes")


@LOCAL
@pytest.mark.parametrize("name", [None, "temporary-worker"], ids=["unnamed", "named"])
async def test_temporary_credentials_carry_the_certificate_scopes(files: Proxy, name: str | None) -> None:
    client_id, token, certificate = temporary_credentials(TEMP_ISSUER, [f"{P}/download/internal"], name=name)
    assert client_id == (name or TEMP_ISSUER.client_id)
    response = await get(files, INTERNAL_PATH, certificate_header(files, client_id, token, certificate, INTERNAL_PATH))
    assert response.status == 200, await response.text()
    # The certificate's scopes, not the issuer's: P/* would grant the public file.
    await assert_forbidden(
        await get(files, PUBLIC_PATH, certificate_header(files, client_id, token, certificate, PUBLIC_PATH))
    )


@LOCAL
async def test_named_temporary_credentials_need_the_create_client_scope(files: Proxy) -> None:
    # ADMIN holds every tooltool scope but not auth:create-client:<name>.
    client_id, token, certificate = temporary_credentials(ADMIN, [f"{P}/download/internal"], name="temporary-x")
    header = certificate_header(files, client_id, token, certificate, INTERNAL_PATH)
    await assert_unauthorized(await get(files, INTERNAL_PATH, header), "named temporary credentials")
    # TEMP_ISSUER holds auth:create-client:temporary-* but not for other names.
    client_id, token, certificate = temporary_credentials(TEMP_ISSUER, [f"{P}/download/internal"], name="worker-x")
    header = certificate_header(files, client_id, token, certificate, INTERNAL_PATH)
    await assert_unauthorized(await get(files, INTERNAL_PATH, header), "named temporary credentials")


@LOCAL
async def test_temporary_credentials_with_a_tampered_scope_list_are_401(files: Proxy) -> None:
    client_id, token, certificate = temporary_credentials(ADMIN, [f"{P}/download/public"])
    certificate["scopes"] = [f"{P}/download/internal"]
    header = certificate_header(files, client_id, token, certificate, INTERNAL_PATH)
    await assert_unauthorized(await get(files, INTERNAL_PATH, header), "certificate signature is invalid")


@LOCAL
async def test_expired_temporary_credentials_are_401(files: Proxy) -> None:
    client_id, token, certificate = temporary_credentials(
        ADMIN, [f"{P}/download/public"], start=datetime.timedelta(hours=-3), lifetime=datetime.timedelta(hours=1)
    )
    header = certificate_header(files, client_id, token, certificate, PUBLIC_PATH)
    await assert_unauthorized(await get(files, PUBLIC_PATH, header), "expired")


@LOCAL
async def test_temporary_credentials_with_scopes_the_issuer_lacks_are_401(files: Proxy) -> None:
    client_id, token, certificate = temporary_credentials(PUBLIC_READER, [f"{P}/download/internal"])
    header = certificate_header(files, client_id, token, certificate, INTERNAL_PATH)
    await assert_unauthorized(await get(files, INTERNAL_PATH, header), "issuer does not")


# 5. Bearer tokens


@LOCAL
async def test_bearer_token_grants_its_scopes(files: Proxy) -> None:
    response = await get(files, INTERNAL_PATH, f"Bearer {BEARER_TOKEN}")
    assert response.status == 200, await response.text()


@LOCAL
async def test_unknown_bearer_token_on_a_public_file_is_401(files: Proxy) -> None:
    await assert_unauthorized(await get(files, PUBLIC_PATH, "Bearer not-a-known-token"), "unknown Bearer token")


# 6. Verification by the Taskcluster auth service


@LOCAL
async def test_remote_verification_uses_the_scopes_the_service_returned(
    make_proxy: ProxyFactory, aiohttp_server: AiohttpServer
) -> None:
    proxy = await remote_proxy(make_proxy, await start_auth_service(aiohttp_server, ADMIN, REMOTE_ONLY))
    response = await get(proxy, INTERNAL_PATH, sign(proxy, REMOTE_ONLY, INTERNAL_PATH))
    assert response.status == 200, await response.text()
    await assert_forbidden(await get(proxy, PUBLIC_PATH, sign(proxy, REMOTE_ONLY, PUBLIC_PATH)))


@LOCAL
async def test_remote_verification_sends_path_and_query_host_port_and_lower_case_method(
    make_proxy: ProxyFactory, aiohttp_server: AiohttpServer
) -> None:
    service = await start_auth_service(aiohttp_server, ADMIN)
    proxy = await remote_proxy(make_proxy, service)
    path = f"{INTERNAL_PATH}?region=us-east-1"
    header = sign(proxy, ADMIN, path)
    response = await get(proxy, path, header)
    assert response.status == 200, await response.text()
    assert service.app[CALLS][-1] == {
        "method": "get",
        "resource": path,
        "host": "127.0.0.1",
        "port": port_of(proxy),
        "authorization": header,
    }


@LOCAL
async def test_remote_auth_failure_is_401_with_the_services_message(
    make_proxy: ProxyFactory, aiohttp_server: AiohttpServer
) -> None:
    proxy = await remote_proxy(make_proxy, await start_auth_service(aiohttp_server, ADMIN))
    header = sign(proxy, Creds(ADMIN.client_id, "wrong-token", ()), PUBLIC_PATH)
    detail = await assert_unauthorized(await get(proxy, PUBLIC_PATH, header), "Bad mac")
    assert detail == "Bad mac"


@LOCAL
async def test_remote_mode_refuses_a_malformed_header_without_calling_the_service(
    make_proxy: ProxyFactory, aiohttp_server: AiohttpServer
) -> None:
    service = await start_auth_service(aiohttp_server, ADMIN)
    proxy = await remote_proxy(make_proxy, service)
    calls_before = len(service.app[CALLS])
    await assert_unauthorized(await get(proxy, PUBLIC_PATH, "Hawk"), "malformed Hawk header")
    await assert_unauthorized(await get(proxy, PUBLIC_PATH, 'Hawk id="admin"'), "missing")
    assert len(service.app[CALLS]) == calls_before


@LOCAL
async def test_remote_verification_rejects_a_body_that_does_not_match_the_returned_hash(
    make_proxy: ProxyFactory, aiohttp_server: AiohttpServer
) -> None:
    service = await start_auth_service(aiohttp_server, ADMIN)
    proxy = await remote_proxy(make_proxy, service)
    header = sign(proxy, ADMIN, "/upload", "POST", body=batch_body(b"what was signed"))
    response = await proxy.request(
        "POST", "/upload", body=batch_body(b"what was sent"), headers={"Authorization": header}
    )
    await assert_unauthorized(response, "payload hash")
    assert service.app[CALLS][-1]["authorization"] == header


@LOCAL
async def test_unreachable_auth_service_is_503_with_retry_after_not_anonymous(make_proxy: ProxyFactory) -> None:
    proxy = await unreachable_auth_proxy(make_proxy)
    response = await get(proxy, PUBLIC_PATH, sign(proxy, ADMIN, PUBLIC_PATH))
    assert response.status == 503, await response.text()
    assert response.headers["Content-Type"] == "application/json"
    assert int(response.headers["Retry-After"]) > 0
    assert "authentication service" in (await response.json())["detail"]
    anonymous = await get(proxy, PUBLIC_PATH)
    assert anonymous.status == 200, await anonymous.text()


@LOCAL
async def test_heartbeat_names_the_auth_check_when_the_service_is_unreachable(make_proxy: ProxyFactory) -> None:
    proxy = await unreachable_auth_proxy(make_proxy)
    response = await proxy.request("GET", "/__heartbeat__")
    assert 500 <= response.status < 600
    assert response.headers["Content-Type"].startswith("application/json")
    body = await response.json()
    assert body["failed"] == ["auth"]
    assert body["checks"]["store"] == "ok"


@LOCAL
async def test_heartbeat_passes_when_the_auth_service_answers(
    make_proxy: ProxyFactory, aiohttp_server: AiohttpServer
) -> None:
    service = await start_auth_service(aiohttp_server, ADMIN)
    proxy = await make_proxy(taskcluster_root_url=str(service.make_url("")).rstrip("/"))
    response = await proxy.request("GET", "/__heartbeat__")
    assert response.status == 200, await response.text()
    assert (await response.json())["checks"]["auth"] == "ok"


# 7. The clients file, re-read while running


def clients_path(proxy: Proxy) -> Path:
    return Path(proxy.env["TOOLTOOL_CLIENTS_FILE"])


async def wait_for_recheck() -> None:
    await asyncio.sleep(clients_module.RECHECK_SECONDS + 0.1)


@LOCAL
async def test_client_added_while_running_is_accepted_without_restart(files: Proxy) -> None:
    unknown = await get(files, INTERNAL_PATH, sign(files, Creds("late", "not-yet-issued-token", ()), INTERNAL_PATH))
    await assert_unauthorized(unknown, "unknown Hawk client id")
    client = add_client(clients_path(files), "late", [f"{P}/download/internal"])
    await wait_for_recheck()
    late = Creds(client.client_id, client.access_token, client.scopes)
    response = await get(files, INTERNAL_PATH, sign(files, late, INTERNAL_PATH))
    assert response.status == 200, await response.text()


@LOCAL
async def test_malformed_clients_file_written_while_running_keeps_the_last_good_version(files: Proxy) -> None:
    clients_path(files).write_text('{"clients": [{"clientId": "admin", "accessT')
    await wait_for_recheck()
    response = await get(files, INTERNAL_PATH, sign(files, ADMIN, INTERNAL_PATH))
    assert response.status == 200, await response.text()
