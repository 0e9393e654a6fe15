"""The web page for release engineers: GET / and its static files under /ui/ (proxy/web/).

The files ship in the package and are read once. Only these responses carry the page's security
headers (a Content-Security-Policy without inline script or style, no framing, no sniffing, HSTS
on https); no middleware adds anything to the API's answers.
"""

import hashlib
import mimetypes
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from aiohttp import web

from proxy.config import Config
from proxy.http.context import CONFIG
from proxy.outcomes import NotFound

WEB_PACKAGE_DIR = "web"  # proxy/web/, listed in setup.py package_data
PAGE = "index.html"
ASSET_NOT_FOUND_DETAIL = "There is no such file of the web page."
CONTENT_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".txt": "text/plain",
}
HSTS = "max-age=31536000"
AWS_S3_ORIGINS = "https://*.amazonaws.com"


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


def _content_type(name: str) -> str:
    return CONTENT_TYPES.get(PurePosixPath(name).suffix) or mimetypes.guess_type(name)[0] or "text/plain"


def _walk(directory: Traversable, prefix: str = "") -> dict[str, Asset]:
    found: dict[str, Asset] = {}
    for entry in directory.iterdir():
        name = f"{prefix}{entry.name}"
        if entry.is_dir():
            found |= _walk(entry, f"{name}/")
        elif entry.is_file() and not entry.name.startswith("."):
            body = entry.read_bytes()
            found[name] = Asset(body, _content_type(name), f'"{hashlib.sha256(body).hexdigest()[:32]}"')
    return found


@cache
def web_assets() -> dict[str, Asset]:
    """Every file of proxy/web/, by its path below it (`js/app.js`, `vendor/…`)."""
    return _walk(files("proxy").joinpath(WEB_PACKAGE_DIR))


def upload_origins(config: Config) -> str:
    """Where the page's PUTs go, for its connect-src: the proxy itself, or the object store."""
    if config.uploads_through_proxy:
        return ""
    if config.s3_endpoint_url:
        parts = urlsplit(config.s3_endpoint_url)
        return f" {parts.scheme}://{parts.netloc}"
    return f" {AWS_S3_ORIGINS}"


@cache
def security_headers(config: Config) -> dict[str, str]:
    policy = (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        f"connect-src 'self'{upload_origins(config)}; worker-src 'self'; form-action 'none'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
    headers = {
        "Content-Security-Policy": policy,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Opener-Policy": "same-origin",
    }
    if config.public_url and urlsplit(config.public_url).scheme == "https":
        headers["Strict-Transport-Security"] = HSTS
    return headers


def _answer(request: web.Request, asset: Asset) -> web.Response:
    headers = {**security_headers(request.app[CONFIG]), "ETag": asset.etag, "Cache-Control": "no-cache"}
    if asset.etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    charset = "utf-8" if asset.content_type.startswith("text/") or asset.content_type.endswith("json") else None
    return web.Response(body=asset.body, content_type=asset.content_type, charset=charset, headers=headers)


async def page(request: web.Request) -> web.Response:
    return _answer(request, web_assets()[PAGE])


async def asset(request: web.Request) -> web.Response:
    found = web_assets().get(request.match_info["asset"])
    if found is None:
        raise NotFound(ASSET_NOT_FOUND_DETAIL)
    return _answer(request, found)


async def page_config(request: web.Request) -> web.Response:
    """What the page needs to know about this deployment; nothing secret."""
    config = request.app[CONFIG]
    body = {
        "bugUrl": config.bug_url,
        "uploadsThroughProxy": config.uploads_through_proxy,
        "maxFileBytes": config.max_file_bytes,
    }
    return web.json_response(body, headers={**security_headers(config), "Cache-Control": "no-cache"})
