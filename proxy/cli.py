"""`tooltool-proxy`: serve, manage clients, and run the runbook's smoke test."""

import argparse
import asyncio
import logging
import os
import socket
import sys
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from proxy import preflight, uploader
from proxy.admin import catalog_cmds, import_cmds, index_cmds, legacy, maintenance, replicate
from proxy.clients import ClientsFile, ClientsFileError, add_bearer_token, add_client, write_private_json
from proxy.config import Config, ConfigError, load_config
from proxy.scopes import Scopes

log = logging.getLogger("tooltool.cli")

# Admin command modules (proxy/admin/*), each adding its subcommands with register().
ADMIN_MODULES: list[Any] = [catalog_cmds, index_cmds, import_cmds, legacy, maintenance, replicate, uploader]


class CommandError(Exception):
    """A one-line message for the operator; the command exits with status 2."""


def all_scopes(config: Config) -> list[str]:
    return list(Scopes(config.scope_prefix).all)


def _write_auth_file(path: Path, client_id: str, access_token: str) -> None:
    write_private_json(path, {"clientId": client_id, "accessToken": access_token})


def ensure_embedded_admin(config: Config) -> Path | None:
    """On a fresh local store: create the clients file with an `admin` client and its auth file."""
    if not config.store.is_local or config.clients_file is None or config.clients_file.exists():
        return None
    client = add_client(config.clients_file, "admin", all_scopes(config))
    auth_file = Path(config.store.path) / "admin-auth.json"
    _write_auth_file(auth_file, client.client_id, client.access_token)
    return auth_file


def _serve(args: argparse.Namespace) -> int:
    from proxy.app import create_app
    from proxy.http.context import VERSION
    from proxy.observability import configure_logging, flush_logs, init_sentry

    config = load_config()
    port = args.port if args.port is not None else int(os.environ.get("PORT", "8000"))
    worker = args.listen_fd is not None  # started by `serve --workers N` on its socket
    if worker:
        from proxy.workers import set_parent_death_signal

        set_parent_death_signal()
    preflight.refuse_unreachable_put_urls(config, args.host, port)
    listener = None
    if args.workers > 1:
        from proxy.workers import bind

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
    if listener is not None:
        from proxy.workers import Supervisor

        try:
            return Supervisor(listener, args.host, args.workers, os.environ).run()
        finally:
            flush_logs()
    app = create_app(config, put_base_url=base_url)
    init_sentry(config.sentry_dsn, str(app[VERSION].get("version")))
    try:
        if worker:
            sock = socket.socket(fileno=args.listen_fd)
            web.run_app(app, sock=sock, print=None, access_log=None)
        else:
            web.run_app(app, host=args.host, port=port, print=None, access_log=None)
    finally:
        flush_logs()
    return 0


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
    from proxy.workers import parse_workers

    try:
        return parse_workers(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _clients_file(args: argparse.Namespace) -> Path:
    if args.clients_file:
        return Path(args.clients_file)
    config = load_config()
    if config.clients_file is None:
        raise CommandError("no clients file is configured; pass --clients-file or set TOOLTOOL_CLIENTS_FILE")
    return config.clients_file


def _clients_add(args: argparse.Namespace) -> int:
    path = _clients_file(args)
    client = add_client(path, args.client_id, args.scope)
    _write_auth_file(Path(args.auth_file), client.client_id, client.access_token)
    print(f"added client {client.client_id} to {path}; its tooltool.py auth file is {args.auth_file}")
    return 0


def _clients_add_token(args: argparse.Namespace) -> int:
    path = _clients_file(args)
    token = add_bearer_token(path, args.name, args.scope)
    out = Path(args.token_file)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(token + "\n")
    print(f"added Bearer token {args.name} to {path}; the token is in {out}")
    return 0


async def run_check(base_url: str, public: str, internal: str) -> list[tuple[str, bool, str]]:
    """The runbook's smoke test; each result is (what, passed, what was seen)."""
    base = base_url.rstrip("/")
    # A streaming deployment answers the public file itself; ask for one byte so the check
    # never downloads a whole artifact.
    cases = [
        ("known public digest is served (302, or 206 when streaming)", f"{base}/sha512/{public}", {302, 206}),
        ("known internal digest is protected (403)", f"{base}/sha512/{internal}", {403}),
        ("malformed digest is refused (400)", f"{base}/sha512/invalid", {400}),
        ("heartbeat is healthy (200)", f"{base}/__heartbeat__", {200}),
    ]
    results = []
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for what, url, expected in cases:
            try:
                async with session.get(url, allow_redirects=False, headers={"Range": "bytes=0-0"}) as response:
                    seen = f"HTTP {response.status}"
                    results.append((what, response.status in expected, seen))
            except (aiohttp.ClientError, TimeoutError) as exc:
                results.append((what, False, f"no answer ({type(exc).__name__})"))
    return results


def _check(args: argparse.Namespace) -> int:
    results = asyncio.run(run_check(args.url, args.public, args.internal))
    for what, passed, seen in results:
        print(f"{'PASS' if passed else 'FAIL'}  {what}: {seen}")
    failed = sum(not passed for _, passed, _ in results)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 0 if failed == 0 else 1


def _digest(value: str) -> str:
    from manifests import is_valid_digest

    if not is_valid_digest(value):
        raise argparse.ArgumentTypeError("must be 128 lower-case hex characters (a sha512 digest)")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tooltool-proxy",
        description="A stateless tooltool server on object storage. Configuration: TOOLTOOL_* variables (README).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
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

    clients = commands.add_parser(
        "clients", help="manage the static clients file", description="Manage the static clients file."
    )
    clients_commands = clients.add_subparsers(dest="clients_command", required=True, metavar="ACTION")
    add = clients_commands.add_parser(
        "add",
        help="add (or replace) a Hawk client and write its auth file",
        description="Add (or replace) a Hawk client and write its tooltool.py auth file.",
    )
    add.add_argument("client_id", metavar="CLIENT_ID")
    add.add_argument("--scope", action="append", required=True, help="a scope to grant (repeat for more)")
    add.add_argument("--auth-file", required=True, help="where to write {clientId, accessToken}")
    add.add_argument("--clients-file", help="clients file (default: TOOLTOOL_CLIENTS_FILE or the store's)")
    add.set_defaults(run=_clients_add)
    token = clients_commands.add_parser(
        "add-token",
        help="add a Bearer token and write it to a file",
        description="Add a Bearer token; only its SHA-256 is stored.",
    )
    token.add_argument("name", metavar="NAME")
    token.add_argument("--scope", action="append", required=True, help="a scope to grant (repeat for more)")
    token.add_argument("--token-file", required=True, help="where to write the token (tooltool.py auth file)")
    token.add_argument("--clients-file", help="clients file (default: TOOLTOOL_CLIENTS_FILE or the store's)")
    token.set_defaults(run=_clients_add_token)

    check = commands.add_parser(
        "check",
        help="run the runbook smoke test against a server",
        description="The runbook smoke test: public 302, internal 403, invalid 400, "
        "heartbeat 200. Exit 0 only when all pass.",
    )
    check.add_argument("url", metavar="URL", help="the server's base URL")
    check.add_argument("--public", required=True, type=_digest, help="digest of a known public file")
    check.add_argument("--internal", required=True, type=_digest, help="digest of a known internal file")
    check.set_defaults(run=_check)

    for module in ADMIN_MODULES:
        module.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = args.run(args)
        return result
    except (ConfigError, ClientsFileError, CommandError) as exc:
        print(f"tooltool-proxy: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"tooltool-proxy: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
