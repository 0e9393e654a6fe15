"""The application factory: configuration in, a wired aiohttp application out."""

import json
from collections.abc import AsyncIterator
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from proxy.auth import Authenticator
from proxy.batches import BatchRecords
from proxy.catalog import Catalog
from proxy.clients import ClientsFile
from proxy.config import Config
from proxy.downloads import Downloads
from proxy.files import Files
from proxy.handlers import downloads, files, openapi, ops, search, uploads, web_api
from proxy.handlers import web as web_page
from proxy.http.context import (
    AUTH,
    CATALOG,
    CONFIG,
    DOWNLOADS,
    FILES,
    HTTP_SESSION,
    INDEX,
    METRICS,
    NOTICES,
    SCOPES,
    STORE,
    STORES,
    UPLOADS,
    VERSION,
)
from proxy.http.cors import setup_cors
from proxy.http.problems import error_bodies
from proxy.http.request_log import redact_parser_errors, request_summary
from proxy.index import FileIndex
from proxy.metrics import Metrics
from proxy.replay import ReplayGuard
from proxy.scopes import Scopes
from proxy.storage.cas import probe_conditional_writes
from proxy.stores import StoreOpener, download_plan, open_location, open_stores
from proxy.taskcluster_auth import TaskclusterAuth
from proxy.uploads import Uploads, UploadSettings


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
    redact_parser_errors()
    app = web.Application(
        client_max_size=config.max_body_bytes,
        middlewares=[request_summary, error_bodies],
    )
    app[METRICS] = metrics
    app[CONFIG] = config
    app[SCOPES] = scopes = Scopes(config.scope_prefix)
    app[NOTICES] = []
    app[VERSION] = _version_info(config.version_file)
    app[AUTH] = Authenticator(
        ClientsFile(config.clients_file),
        config.anonymous_scopes,
        skew_seconds=config.hawk_skew_seconds,
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
        batches = BatchRecords(stores.home, index.journal)
        app[DOWNLOADS] = Downloads(stores, index, scopes, config.signed_url_ttl, download_plan(config, stores))
        app[FILES] = Files(app[DOWNLOADS], batches, scopes)
        settings = UploadSettings.from_config(config, put_base_url)
        app[CATALOG] = Catalog(
            index,
            refresh_seconds=config.catalog_refresh,
            result_limit=config.search_limit,
            max_lookups=config.search_max_lookups,
            upload_url_ttl=config.upload_url_ttl,
        )
        app[UPLOADS] = Uploads(stores, index, batches, settings)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
            app[HTTP_SESSION] = session
            if config.taskcluster_root_url:
                app[AUTH].remote = TaskclusterAuth(config.taskcluster_root_url, session)
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
    app.router.add_get("/metrics", ops.serve_metrics)
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


def run(config: Config, put_base_url: str, *, host: str, port: int, listen_fd: int | None = None) -> None:
    """Serve until SIGTERM or SIGINT: on host:port, or on an inherited listening socket (a `serve --workers` worker)."""
    import socket

    from proxy.http.sentry import init_sentry

    app = create_app(config, put_base_url=put_base_url)
    init_sentry(config.sentry_dsn, str(app[VERSION].get("version")))
    if listen_fd is None:
        web.run_app(app, host=host, port=port, print=None, access_log=None)
    else:
        web.run_app(app, sock=socket.socket(fileno=listen_fd), print=None, access_log=None)
