"""`tooltool-proxy serve`: the start-up checks, the embedded admin client, then the server (or its workers)."""

import argparse
import os
import sys
from pathlib import Path

from proxy import preflight
from proxy.clients import ClientsFile, add_client, write_auth_file
from proxy.commands.command import Subcommands
from proxy.config import Config, load_config
from proxy.scopes import Scopes
from proxy.workers import Supervisor, bind, parse_workers, set_parent_death_signal


def ensure_embedded_admin(config: Config) -> Path | None:
    """On a fresh local store: create the clients file with an `admin` client and its auth file."""
    if not config.store.is_local or config.clients_file is None or config.clients_file.exists():
        return None
    client = add_client(config.clients_file, "admin", list(Scopes(config.scope_prefix).all))
    auth_file = Path(config.store.path) / "admin-auth.json"
    write_auth_file(auth_file, client)
    return auth_file


def _serve(args: argparse.Namespace) -> int:
    # The application is imported only here: the other commands do not need aiohttp's server.
    from proxy.app import run
    from proxy.observability import configure_logging, flush_logs

    config = load_config()
    port = args.port if args.port is not None else int(os.environ.get("PORT", "8000"))
    worker = args.listen_fd is not None  # started by `serve --workers N` on its socket
    if worker:
        set_parent_death_signal()
    preflight.refuse_unreachable_put_urls(config, args.host, port)
    listener = None
    if args.workers > 1:
        listener = bind(args.host, port)
        port = listener.getsockname()[1]
    base_url = config.public_url or f"http://{args.host}:{port}"
    preflight.check_store_writable(config)
    created = None if worker else ensure_embedded_admin(config)
    if config.clients_file is not None:
        ClientsFile(config.clients_file)  # fail now, with one line, if it is malformed
    configure_logging(flush_seconds=config.log_flush_seconds)
    if not worker:
        _print_banner(config, base_url, created, args.workers)
    try:
        if listener is not None:
            return Supervisor(listener, args.host, args.workers, os.environ).run()
        run(config, base_url, host=args.host, port=port, listen_fd=args.listen_fd)
        return 0
    finally:
        flush_logs()


def _print_banner(config: Config, base_url: str, created: Path | None, workers: int) -> None:
    where = config.store.path if config.store.is_local else f"s3://{config.store.bucket}/{config.store.prefix}"
    print(f"tooltool-proxy serving {where} on {base_url}/", file=sys.stderr)
    if config.store.is_local and config.clients_file is not None:
        auth_file = created or Path(config.store.path) / "admin-auth.json"
        print(f"  clients file: {config.clients_file}", file=sys.stderr)
        if auth_file.exists():
            note, client_auth_file = preflight.admin_auth_for_clients(auth_file)
            print(f"  admin credentials for tooltool.py: {auth_file}{note}", file=sys.stderr)
            print(
                f"  try: python tooltool.py --url {base_url}/ --authentication-file {client_auth_file} "
                'upload --message "Bug 1: my first upload"',
                file=sys.stderr,
            )
    if workers > 1:
        print(f"  {workers} worker processes", file=sys.stderr)


def _workers(value: str) -> int:
    try:
        return parse_workers(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(subcommands: Subcommands) -> None:
    serve = subcommands.add_parser(
        "serve",
        help="run the server",
        description="Run the server. With no configuration it serves ./tooltool-data and creates an admin client.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port to listen on (default $PORT or 8000)")
    serve.add_argument(
        "--workers",
        type=_workers,
        default=1,
        metavar="N|auto",
        help="worker processes on the one port (auto: one per usable core; default 1, no supervisor)",
    )
    serve.add_argument("--listen-fd", type=int, default=None, help=argparse.SUPPRESS)  # a worker's inherited socket
    serve.set_defaults(run=_serve)
