"""GET/HEAD /sha512/<digest>: redirect to a signed URL, or stream the bytes."""

import functools
import html
import logging

from aiohttp import web

from manifests import Visibility
from proxy.downloads import Authorized
from proxy.http.context import CONFIG, DOWNLOADS, identify
from proxy.keys import artifact_key
from proxy.outcomes import NotFound
from proxy.ranges import parse_range
from proxy.storage import ObjectNotFound, StoreError

log = logging.getLogger("tooltool.downloads")


@functools.lru_cache(maxsize=1024)
def _redirect_page(url: str) -> bytes:
    """The same little page Flask sent, for people following along with curl. Cached: a signed
    URL is handed out many times over (see Downloads.signed_url)."""
    escaped = html.escape(url, quote=True)
    return (
        '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">\n<title>Redirecting...</title>\n'
        f"<h1>Redirecting...</h1>\n<p>You should be redirected automatically to target URL: "
        f'<a href="{escaped}">{escaped}</a>.  If not click the link.'
    ).encode()


def _redirect(url: str) -> web.Response:
    return web.Response(
        status=302,
        body=_redirect_page(url),
        headers={"Location": url, "Cache-Control": "no-store", "Content-Type": "text/html; charset=utf-8"},
    )


async def download(request: web.Request) -> web.StreamResponse:
    identity = await identify(request)
    digest = request.match_info["digest"]
    downloads = request.app[DOWNLOADS]
    file = await downloads.authorize(digest, identity, request.query.get("region"))
    if downloads.redirects:
        return _redirect(await downloads.signed_url(file))
    return await _stream(request, file)


async def _stream(request: web.Request, file: Authorized) -> web.StreamResponse:
    entry = file.entry
    etag = f'"{entry.digest}"'
    headers = {
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "Content-Type": "application/octet-stream",
        # Bytes never change for a digest, but their visibility can: shared caches may keep a
        # public file only as long as a replica may (TOOLTOOL_CACHE_TTL), internal ones never.
        "Cache-Control": f"public, max-age={int(request.app[CONFIG].cache_ttl)}"
        if entry.visibility is Visibility.PUBLIC
        else "private, no-store",
    }
    if etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    # A range past the end is an error like any other (416 with the size in Content-Range).
    byte_range = parse_range(request.headers.get("Range"), entry.size)
    first, last = byte_range if byte_range else (0, entry.size - 1)
    response = web.StreamResponse(status=206 if byte_range else 200, headers=headers)
    if byte_range:
        response.headers["Content-Range"] = f"bytes {first}-{last}/{entry.size}"
    response.content_length = last - first + 1
    if request.method == "HEAD" or entry.size == 0:
        await response.prepare(request)
        await response.write_eof()
        return response

    try:
        chunks = await file.store.open_range(artifact_key(entry.digest), first, last)
    except ObjectNotFound:
        # The index lists instances but the bytes are gone (deleted behind the proxy's back).
        log.warning("indexed file has no bytes", extra={"key": artifact_key(entry.digest)})
        raise NotFound() from None
    async with chunks:
        await response.prepare(request)
        try:
            async for chunk in chunks:
                await response.write(chunk)
        except StoreError as exc:
            # The status line is out, so no error body can follow: cut the connection, and the
            # client sees a short read at once (tooltool.py's size check fails) instead of waiting.
            log.warning("store failed mid-download; closing the connection", extra={"reason": str(exc)})
            if request.transport is not None:
                request.transport.abort()
            return response
        await response.write_eof()
    return response
