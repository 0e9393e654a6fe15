"""The web page's server side (issue 10): the page and its files with their security headers, the
calls it makes beyond the legacy API (whoami, search with filenames, a file's batches), CORS
for the JSON API, and the settings. The page itself runs in Chromium in tests/browser/."""

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from proxy.config import DEFAULT_BUG_URL, ConfigError, load_config
from proxy.handlers.web import web_assets
from tests.support.credentials import ADMIN, BEARER_TOKEN, INTERNAL_READER, NOBODY, PUBLIC_READER, UPLOADER, Creds, P
from tests.support.fake_taskcluster import create_fake_taskcluster
from tests.support.proxies import Proxy, ProxyFactory

ROOT = Path(__file__).parents[2]
WEB_DIR = ROOT / "proxy" / "web"
ALL_TOOLTOOL_SCOPES = [
    f"{P}/{a}" for a in ("download/public", "download/internal", "upload/public", "upload/internal", "manage")
]
PAGE_HEADERS = ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options", "Strict-Transport-Security")


# --- the page and its files ---------------------------------------------------------------


async def test_the_page_is_served_with_its_security_headers(proxy: Proxy) -> None:
    response = await proxy.request("GET", "/")
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert await response.read() == (WEB_DIR / "index.html").read_bytes()
    policy = dict(part.strip().split(" ", 1) for part in response.headers["Content-Security-Policy"].split(";"))
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Strict-Transport-Security" not in response.headers  # served over http


async def test_connect_src_names_where_the_page_puts_files(proxy: Proxy, store_kind: str) -> None:
    policy = (await proxy.request("GET", "/")).headers["Content-Security-Policy"]
    connect = next(part for part in policy.split(";") if part.strip().startswith("connect-src")).split()[1:]
    if store_kind == "local":
        assert connect == ["'self'"]  # put_urls are the proxy's own
    else:
        assert connect == ["'self'", proxy.config.s3_endpoint_url]  # put_urls are signed S3 URLs


@pytest.mark.parametrize("store_kind", ["local"])
async def test_hsts_when_the_public_url_is_https(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy(public_url="https://tooltool.example.com")
    for path in ("/", "/ui/js/app.js", "/ui/config.json"):
        response = await proxy.request("GET", path)
        assert response.headers["Strict-Transport-Security"] == "max-age=31536000", path


@pytest.mark.parametrize("store_kind", ["local"])
async def test_every_file_of_the_page_is_served_with_its_type(proxy: Proxy) -> None:
    files = sorted(str(p.relative_to(WEB_DIR)) for p in WEB_DIR.rglob("*") if p.is_file())
    assert sorted(web_assets()) == files
    types = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".json": "application/json"}
    for name in files:
        response = await proxy.request("GET", f"/ui/{name}")
        assert response.status == 200, name
        assert await response.read() == (WEB_DIR / name).read_bytes()
        expected = types.get(Path(name).suffix, "text/plain")
        assert response.headers["Content-Type"].split(";")[0] == expected, name
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        again = await proxy.request("GET", f"/ui/{name}", headers={"If-None-Match": response.headers["ETag"]})
        assert again.status == 304


@pytest.mark.parametrize("store_kind", ["local"])
@pytest.mark.parametrize("path", ["/ui/nope.js", "/ui/js%2F..%2F..%2Fopenapi.json", "/ui/js/", "/ui/"])
async def test_anything_else_under_ui_is_404(proxy: Proxy, path: str) -> None:
    response = await proxy.request("GET", path)
    assert response.status == 404
    assert (await response.json())["detail"] in ("There is no such file of the web page.", "Not Found")


@pytest.mark.parametrize("store_kind", ["local"])
async def test_api_answers_carry_none_of_the_page_headers(proxy: Proxy) -> None:
    """GET / is the page only: the API's answers are what they were (no CSP, no new header)."""
    digest = await proxy.upload(ADMIN, "plain.txt", b"plain bytes\n")
    for method, path in [
        ("GET", f"/sha512/{digest}"),
        ("GET", "/sha512/invalid"),
        ("GET", "/file?q=plain"),
        ("GET", f"/file/sha512/{digest}"),
        ("GET", "/upload?q=Bug"),
        ("GET", "/__heartbeat__"),
    ]:
        response = await proxy.request(method, path)
        assert not set(PAGE_HEADERS) & set(response.headers), path
        assert "Access-Control-Allow-Origin" not in response.headers


def test_the_page_is_shipped_in_the_package(tmp_path: Path) -> None:
    """What setup.py builds holds every file of proxy/web/, so installing needs only pip."""
    subprocess.run(
        [sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(tmp_path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    built = tmp_path / "proxy" / "web"
    for source in WEB_DIR.rglob("*"):
        if source.is_file():
            assert (built / source.relative_to(WEB_DIR)).read_bytes() == source.read_bytes(), source


def test_the_vendored_hash_library_is_the_pinned_one() -> None:
    """proxy/web/vendor/ is what web-build/build.sh copies from the version package.json pins."""
    pinned = json.loads((ROOT / "web-build" / "package.json").read_text())["dependencies"]["@noble/hashes"]
    locked = json.loads((ROOT / "web-build" / "package-lock.json").read_text())
    vendored = json.loads((WEB_DIR / "vendor" / "noble-hashes" / "package.json").read_text())
    assert vendored["name"] == "@noble/hashes"
    assert vendored["version"] == pinned == locked["packages"]["node_modules/@noble/hashes"]["version"]
    assert (WEB_DIR / "vendor" / "noble-hashes" / "LICENSE").read_text().startswith("The MIT License")


async def test_page_config_says_what_the_page_needs(make_proxy: ProxyFactory, store_kind: str) -> None:
    proxy = await make_proxy(bug_url="https://bugs.example.com/{}")
    response = await proxy.request("GET", "/ui/config.json")
    assert await response.json() == {
        "bugUrl": "https://bugs.example.com/{}",
        "uploadsThroughProxy": store_kind == "local",
        "maxFileBytes": proxy.config.max_file_bytes,
    }


# --- who am I -----------------------------------------------------------------------------


async def whoami(proxy: Proxy, creds: Creds | None = None, headers: dict[str, str] | None = None) -> object:
    response = await proxy.request("GET", "/auth/whoami", creds, headers=headers)
    assert response.status == 200, await response.text()
    assert response.headers["Cache-Control"] == "no-store"
    return await response.json()


@pytest.mark.parametrize("store_kind", ["local"])
async def test_whoami_answers_the_caller_and_its_tooltool_scopes(proxy: Proxy) -> None:
    assert await whoami(proxy) == {
        "clientId": None,
        "scopes": [f"{P}/download/public"],
        "may": {"download": ["public"], "upload": [], "manage": False},
    }
    assert await whoami(proxy, ADMIN) == {  # P/* expands to every tooltool scope
        "clientId": "admin",
        "scopes": ALL_TOOLTOOL_SCOPES,
        "may": {"download": ["public", "internal"], "upload": ["public", "internal"], "manage": True},
    }
    assert await whoami(proxy, UPLOADER) == {
        "clientId": "uploader",
        "scopes": ALL_TOOLTOOL_SCOPES[:4],
        "may": {"download": ["public", "internal"], "upload": ["public", "internal"], "manage": False},
    }
    assert await whoami(proxy, NOBODY) == {
        "clientId": "nobody",
        "scopes": [],
        "may": {"download": [], "upload": [], "manage": False},
    }
    assert await whoami(proxy, headers={"Authorization": f"Bearer {BEARER_TOKEN}"}) == {
        "clientId": "bearer:ci",
        "scopes": ALL_TOOLTOOL_SCOPES[:2],
        "may": {"download": ["public", "internal"], "upload": [], "manage": False},
    }
    refused = await proxy.request("GET", "/auth/whoami", headers={"Authorization": "Bearer not-a-token"})
    assert refused.status == 401
    assert (await refused.json())["detail"] == "unknown Bearer token"


@pytest.mark.parametrize("store_kind", ["local"])
async def test_whoami_shows_what_the_taskcluster_auth_service_says(
    make_proxy: ProxyFactory, aiohttp_server: AiohttpServer
) -> None:
    """The service's scopes, not the clients file's: PUBLIC_READER's credentials carry the
    internal-download scope there."""
    service: TestServer = await aiohttp_server(
        create_fake_taskcluster(
            {PUBLIC_READER.client_id: {"accessToken": PUBLIC_READER.access_token, "scopes": [f"{P}/download/*"]}}
        )
    )
    proxy = await make_proxy(taskcluster_root_url=str(service.make_url("")).rstrip("/"))
    assert await whoami(proxy, PUBLIC_READER) == {
        "clientId": PUBLIC_READER.client_id,
        "scopes": ALL_TOOLTOOL_SCOPES[:2],
        "may": {"download": ["public", "internal"], "upload": [], "manage": False},
    }


# --- search with filenames, a file's batches ------------------------------------------------


async def test_file_search_adds_filenames_and_regions_with_the_same_visibility_rule(proxy: Proxy) -> None:
    public = await proxy.upload(ADMIN, "web-public.tar.xz", b"public web bytes\n")
    internal = await proxy.upload(ADMIN, "web-internal.tar.xz", b"internal web bytes\n", "internal")
    await proxy.upload(ADMIN, "web-public-again.tar.xz", b"public web bytes\n")
    region = proxy.store.region

    async def search(creds: Creds | None) -> list[dict[str, object]]:
        response = await proxy.request("GET", "/file/search?q=web-", creds)
        legacy = await proxy.request("GET", "/file?q=web-", creds)
        found: list[dict[str, object]] = (await response.json())["result"]
        # The same files as GET /file?q=, each with its filenames and regions.
        stripped = [{k: v for k, v in f.items() if k not in ("filenames", "instances")} for f in found]
        assert stripped == (await legacy.json())["result"]
        return found

    anonymous = await search(None)
    assert [f["digest"] for f in anonymous] == [public]
    assert anonymous[0]["filenames"] == ["web-public-again.tar.xz", "web-public.tar.xz"]
    assert anonymous[0]["instances"] == [region]
    assert {f["digest"] for f in await search(INTERNAL_READER)} == {internal}
    assert {f["digest"] for f in await search(ADMIN)} == {public, internal}


async def test_file_batches_lists_the_batches_that_uploaded_it_newest_first(proxy: Proxy) -> None:
    data = b"uploaded twice\n"
    first = await proxy.upload_batch(ADMIN, {"first-name.bin": data})
    digest = await proxy.upload(ADMIN, "first-name.bin", data)  # a second batch, which completes it
    secret = b"internal bytes beside it\n"
    files = {
        "second-name.bin": {"size": len(data), "digest": digest, "algorithm": "sha512", "visibility": "public"},
        "secret.bin": {
            "size": len(secret),
            "digest": hashlib.sha512(secret).hexdigest(),
            "algorithm": "sha512",
            "visibility": "internal",
        },
    }
    body = json.dumps({"message": "Bug 2: mixed", "files": files}).encode()
    response = await proxy.request("POST", "/upload", UPLOADER, body)
    assert response.status == 200
    last = (await response.json())["result"]
    await proxy.upload_batch(UPLOADER, {"unrelated.bin": b"other bytes\n"})

    async def batches(creds: Creds | None) -> list[dict[str, Any]]:
        response = await proxy.request("GET", f"/file/batches/sha512/{digest}", creds)
        assert response.status == 200
        found: list[dict[str, Any]] = (await response.json())["result"]
        return found

    anonymous = await batches(None)
    assert len(anonymous) == 3
    assert (anonymous[0]["id"], anonymous[-1]["id"]) == (last["id"], first["id"])
    assert list(anonymous[0]["files"]) == ["second-name.bin"]  # the internal file beside it is not shown
    assert all(digest in {f["digest"] for f in b["files"].values()} for b in anonymous)
    assert sorted((await batches(UPLOADER))[0]["files"]) == ["second-name.bin", "secret.bin"]


async def test_file_batches_follows_the_rules_of_get_file(proxy: Proxy) -> None:
    internal = await proxy.upload(UPLOADER, "internal-only.bin", b"internal only\n", "internal")
    assert (await proxy.request("GET", f"/file/batches/sha512/{internal}")).status == 403
    assert (await proxy.request("GET", f"/file/batches/sha512/{internal}", PUBLIC_READER)).status == 403
    allowed = await proxy.request("GET", f"/file/batches/sha512/{internal}", INTERNAL_READER)
    assert [list(b["files"]) for b in (await allowed.json())["result"]] == [["internal-only.bin"]]
    invalid = await proxy.request("GET", "/file/batches/sha512/invalid")
    assert (invalid.status, (await invalid.json())["detail"]) == (400, "Invalid sha512 digest")
    assert (await proxy.request("GET", f"/file/batches/sha512/{'0' * 128}")).status == 404


# --- CORS ---------------------------------------------------------------------------------

ORIGIN = "https://tools.example.com"
PREFLIGHT = {
    "Origin": ORIGIN,
    "Access-Control-Request-Method": "PATCH",
    "Access-Control-Request-Headers": "authorization",
}


@pytest.mark.parametrize("store_kind", ["local"])
async def test_cors_is_off_by_default(proxy: Proxy) -> None:
    digest = await proxy.upload(ADMIN, "cors.txt", b"cors bytes\n")
    response = await proxy.request("GET", f"/file/sha512/{digest}", headers={"Origin": ORIGIN})
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Vary" not in response.headers
    preflight = await proxy.request("OPTIONS", f"/file/sha512/{digest}", headers=PREFLIGHT)
    assert preflight.status == 405  # as before: no route answers OPTIONS
    assert "Access-Control-Allow-Methods" not in preflight.headers


async def test_cors_when_configured_allows_the_listed_origins_only(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy(cors_origins=f"{ORIGIN} https://other.example.com")
    digest = await proxy.upload(ADMIN, "cors.txt", b"cors bytes\n")
    preflight = await proxy.request("OPTIONS", f"/file/sha512/{digest}", headers=PREFLIGHT)
    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "PATCH" in preflight.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]

    for path in (f"/file/sha512/{digest}", f"/sha512/{digest}", "/sha512/invalid"):  # streamed and error answers too
        response = await proxy.request("GET", path, headers={"Origin": ORIGIN})
        assert response.headers["Access-Control-Allow-Origin"] == ORIGIN, path
        assert "X-Retry-After" in response.headers["Access-Control-Expose-Headers"]
        assert "Origin" in response.headers.getall("Vary")

    stranger = {**PREFLIGHT, "Origin": "https://evil.example.net"}
    refused = await proxy.request("OPTIONS", f"/file/sha512/{digest}", headers=stranger)
    assert refused.status == 403
    assert "Access-Control-Allow-Origin" not in refused.headers
    response = await proxy.request("GET", f"/file/sha512/{digest}", headers={"Origin": "https://evil.example.net"})
    assert response.status == 200
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize("store_kind", ["local"])
async def test_cors_wildcard(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy(cors_origins="*")
    response = await proxy.request("GET", "/__version__", headers={"Origin": "https://anywhere.example"})
    assert response.headers["Access-Control-Allow-Origin"] == "*"


# --- settings -----------------------------------------------------------------------------


def test_settings_defaults() -> None:
    config = load_config({})
    assert config.bug_url == DEFAULT_BUG_URL == "https://bugzilla.mozilla.org/show_bug.cgi?id={}"
    assert config.cors_origins == ()
    assert load_config({"TOOLTOOL_CORS_ORIGINS": "https://a.example/, http://b.example:8080"}).cors_origins == (
        "https://a.example",
        "http://b.example:8080",
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TOOLTOOL_BUG_URL": "https://bugs.example.com/"}, "TOOLTOOL_BUG_URL="),
        ({"TOOLTOOL_BUG_URL": "javascript:alert({})"}, "TOOLTOOL_BUG_URL="),
        ({"TOOLTOOL_CORS_ORIGINS": "https://a.example/path"}, "TOOLTOOL_CORS_ORIGINS item"),
        ({"TOOLTOOL_CORS_ORIGINS": "a.example"}, "TOOLTOOL_CORS_ORIGINS item"),
        ({"TOOLTOOL_CORS_ORIGINS": "* https://a.example"}, "TOOLTOOL_CORS_ORIGINS is *"),
    ],
)
def test_bad_settings_stop_start_up_with_one_line(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(env)
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


def test_browser_tests_fail_in_one_line_when_chromium_cannot_be_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tests/browser never skips silently: without /usr/bin/chromium it runs install-chromium.sh,
    and if that fails the tests fail with one line saying what to do."""
    from tests.browser import harness

    failing = tmp_path / "install.sh"
    failing.write_text("echo 'E: Unable to locate package chromium' >&2\nexit 100\n")
    monkeypatch.setattr(harness, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setattr(harness, "INSTALL_SCRIPT", failing)
    with pytest.raises(harness.ChromiumMissing) as raised:
        harness.ensure_chromium()
    message = str(raised.value)
    assert "\n" not in message
    assert "exit 100: E: Unable to locate package chromium" in message
    assert "apt-get install chromium" in message


def test_browser_tests_install_chromium_when_it_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.browser import harness

    browser = tmp_path / "chromium"
    installer = tmp_path / "install.sh"
    installer.write_text(f"touch {browser}\n")
    monkeypatch.setattr(harness, "CHROMIUM", browser)
    monkeypatch.setattr(harness, "INSTALL_SCRIPT", installer)
    assert harness.ensure_chromium() == browser
    assert browser.exists()


def test_the_chromium_installer_uses_debians_package() -> None:
    script = (ROOT / "tests" / "browser" / "install-chromium.sh").read_text()
    assert "apt-get update" in script
    assert "apt-get install -y -q --no-install-recommends chromium" in script


async def test_file_batches_stays_current_after_its_first_answer(proxy: Proxy) -> None:
    """The catalog's digest -> batches map is built by the first look-up, then kept current."""
    data = b"uploaded, looked up, uploaded again\n"
    digest = await proxy.upload(ADMIN, "before.bin", data)
    path = f"/file/batches/sha512/{digest}"
    assert [list(b["files"]) for b in (await (await proxy.request("GET", path)).json())["result"]] == [["before.bin"]]
    await proxy.upload(ADMIN, "after.bin", data)
    found = (await (await proxy.request("GET", path)).json())["result"]
    assert [list(b["files"]) for b in found] == [["after.bin"], ["before.bin"]]
