"""The application factory: configuration in, a wired aiohttp application out."""

import json
import logging
from collections.abc import AsyncIterator
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import aiohttp
import sentry_sdk
from aiohttp import web

from proxy.auth import Authenticator, AuthServiceUnavailable
from proxy.batches import BatchRecords
from proxy.catalog import Catalog
from proxy.clients import ClientsFile
from proxy.config import Config, ConfigError
from proxy.context import (
    AUTH,
    CATALOG,
    CONFIG,
    DOWNLOADS,
    FILES,
    HTTP_SESSION,
    INDEX,
    NOTICES,
    STORE,
    STORES,
    UPLOADS,
    VERSION,
)
from proxy.cors import setup_cors
from proxy.downloads import Downloads
from proxy.errors import STORE_RETRY_AFTER_SECONDS, HTTPProblem, problem_response
from proxy.files import Files
from proxy.handlers import downloads, files, openapi, ops, search, uploads, web_api
from proxy.handlers import web as web_page
from proxy.index import FileIndex
from proxy.metrics import METRICS, Metrics, serve_metrics
from proxy.observability import Handler, request_summary
from proxy.replay import ReplayGuard
from proxy.storage import PreconditionFailed, StoreUnavailable
from proxy.storage.cas import probe_conditional_writes
from proxy.stores import StoreOpener, download_plan, open_location, open_stores
from proxy.uploads import Uploads, UploadSettings

log = logging.getLogger("tooltool.app")


@web.middleware
async def error_bodies(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error leaves as the JSON body of PROTOCOL.md §2; nothing leaves as a traceback."""
    try:
        return await handler(request)
    except HTTPProblem as exc:
        return problem_response(exc.status, exc.detail, exc.headers)
    except (StoreUnavailable, PreconditionFailed) as exc:
        # PreconditionFailed here: a conditional write lost a race its caller does not retry.
        log.warning("object store unavailable", extra={"reason": str(exc)})
        request.app[METRICS].store_errors.inc()
        return problem_response(
            503,
            "The object store is unavailable; retry later.",
            {"Retry-After": str(STORE_RETRY_AFTER_SECONDS)},
        )
    except AuthServiceUnavailable:
        log.warning("auth service unavailable")
        return problem_response(503, "The authentication service is unavailable; retry later.", {"Retry-After": "5"})
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow",)}
        return problem_response(exc.status, exc.reason, headers)
    except Exception:
        log.exception("unhandled error", extra={"path": request.path, "method": request.method})
        sentry_sdk.capture_exception()
        return problem_response(500, "The server failed to answer; the error was reported.")


def _version_info(path: Path) -> dict[str, Any]:
    try:
        info = json.loads(path.read_text())
        if isinstance(info, dict):
            return info
    except (OSError, ValueError):
        pass
    try:
        installed = package_version("tooltool-proxy")
    except PackageNotFoundError:
        installed = "unknown"
    return {
        "source": "unknown",
        "version": installed,
        "commit": "unknown",
        "build": "unknown",
    }


def create_app(
    config: Config, store_opener: StoreOpener = open_location, put_base_url: str | None = None
) -> web.Application:
    """Build the application. `put_base_url` is where clients reach this proxy for proxied PUTs
    when TOOLTOOL_PUBLIC_URL is not set (the CLI passes the address it listens on)."""
    metrics = Metrics()
    app = web.Application(
        client_max_size=config.max_body_bytes,
        middlewares=[request_summary, error_bodies],
    )
    app[METRICS] = metrics
    app[CONFIG] = config
    app[NOTICES] = []
    app[VERSION] = _version_info(config.version_file)
    app[AUTH] = Authenticator(
        ClientsFile(config.clients_file),
        config.anonymous_scopes,
        skew_seconds=config.hawk_skew_seconds,
        taskcluster_root_url=config.taskcluster_root_url,
        public_url=config.public_url,
    )

    async def resources(app: web.Application) -> AsyncIterator[None]:
        stores = await open_stores(config, store_opener)
        store = stores.home
        index = FileIndex(stores, ttl=config.cache_ttl, maxsize=config.cache_size, mode=config.index_mode)
        app[STORES] = stores
        app[STORE] = store
        app[INDEX] = index
        warning = await probe_conditional_writes(store)
        if warning is not None:
            app[NOTICES].append(warning)
        app[AUTH].replay_guard = ReplayGuard(store)
        metrics.watch(index.cache.stats, app[AUTH])
        app[DOWNLOADS] = Downloads(
            stores, index, config.scope_prefix, config.signed_url_ttl, download_plan(config, stores)
        )
        app[FILES] = Files(app[DOWNLOADS], BatchRecords(stores.home, index.journal), config.scope_prefix)
        proxy_base = (config.public_url or put_base_url) if config.uploads_through_proxy else None
        if config.uploads_through_proxy and proxy_base is None:
            raise ConfigError("TOOLTOOL_PUBLIC_URL is required: uploads go through the proxy's PUT endpoint")
        app[CATALOG] = Catalog(
            index,
            refresh_seconds=config.catalog_refresh,
            result_limit=config.search_limit,
            max_lookups=config.search_max_lookups,
            upload_url_ttl=config.upload_url_ttl,
        )
        app[UPLOADS] = Uploads(
            stores,
            index,
            UploadSettings(
                scope_prefix=config.scope_prefix,
                put_url_ttl=config.upload_url_ttl,
                max_file_bytes=config.max_file_bytes,
                proxy_put_base=proxy_base,
                secret=config.upload_secret,
            ),
        )
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
            app[HTTP_SESSION] = session
            app[AUTH].bind_session(session)
            try:
                yield
            finally:
                await stores.close()

    app.cleanup_ctx.append(resources)
    setup_routes(app)
    setup_cors(app, config)
    return app


def setup_routes(app: web.Application) -> None:
    # `{digest:[\s\S]*}` so that anything under /sha512/ (encoded slashes and newlines too) is
    # validated → 400.
    app.router.add_get(r"/sha512/{digest:[\s\S]*}", downloads.download)
    app.router.add_post("/upload", uploads.create_batch)
    app.router.add_get(r"/upload/complete/sha512/{digest:[\s\S]*}", uploads.complete)
    app.router.add_put(r"/upload/put/sha512/{digest:[\s\S]*}", uploads.receive_put)
    app.router.add_get("/file", search.search_files)
    app.router.add_get(r"/file/sha512/{digest:[\s\S]*}", files.get_file)
    app.router.add_patch(r"/file/sha512/{digest:[\s\S]*}", files.patch_file)
    app.router.add_get("/upload", search.search_batches)
    app.router.add_get("/upload/{batch_id}", files.get_batch)
    app.router.add_get("/__lbheartbeat__", ops.lbheartbeat)
    app.router.add_get("/__heartbeat__", ops.heartbeat)
    app.router.add_get("/__version__", ops.version)
    app.router.add_get("/metrics", serve_metrics)
    app.router.add_get("/openapi.json", openapi.serve_openapi)
    setup_web_routes(app)


def setup_web_routes(app: web.Application) -> None:
    """The web page (proxy/web/) and the few calls it makes beyond the legacy API."""
    app.router.add_get("/", web_page.page)
    app.router.add_get("/ui/config.json", web_page.page_config)
    app.router.add_get(r"/ui/{asset:[\s\S]+}", web_page.asset)
    app.router.add_get("/auth/whoami", web_api.whoami)
    app.router.add_get("/file/search", web_api.search_files_with_names)
    app.router.add_get(r"/file/batches/sha512/{digest:[\s\S]*}", web_api.file_batches)
