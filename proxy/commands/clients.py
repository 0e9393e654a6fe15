"""`tooltool-proxy clients`: add Hawk clients and Bearer tokens to the static clients file."""

import argparse
import os
from pathlib import Path

from proxy.clients import add_bearer_token, add_client, write_auth_file
from proxy.commands.command import CommandError, Subcommands
from proxy.config import load_config


def _clients_file(args: argparse.Namespace) -> Path:
    if args.clients_file:
        return Path(args.clients_file)
    config = load_config()
    if config.clients_file is None:
        raise CommandError("no clients file is configured; pass --clients-file or set TOOLTOOL_CLIENTS_FILE")
    return config.clients_file


def _add(args: argparse.Namespace) -> int:
    path = _clients_file(args)
    client = add_client(path, args.client_id, args.scope)
    write_auth_file(Path(args.auth_file), client)
    print(f"added client {client.client_id} to {path}; its tooltool.py auth file is {args.auth_file}")
    return 0


def _add_token(args: argparse.Namespace) -> int:
    path = _clients_file(args)
    token = add_bearer_token(path, args.name, args.scope)
    out = Path(args.token_file)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(token + "\n")
    print(f"added Bearer token {args.name} to {path}; the token is in {out}")
    return 0


def register(subcommands: Subcommands) -> None:
    clients = subcommands.add_parser(
        "clients", help="manage the static clients file", description="Manage the static clients file."
    )
    actions = clients.add_subparsers(dest="clients_command", required=True, metavar="ACTION")
    add = actions.add_parser(
        "add",
        help="add (or replace) a Hawk client and write its auth file",
        description="Add (or replace) a Hawk client and write its tooltool.py auth file.",
    )
    add.add_argument("client_id", metavar="CLIENT_ID")
    add.add_argument("--scope", action="append", required=True, help="a scope to grant (repeat for more)")
    add.add_argument("--auth-file", required=True, help="where to write {clientId, accessToken}")
    add.add_argument("--clients-file", help="clients file (default: TOOLTOOL_CLIENTS_FILE or the store's)")
    add.set_defaults(run=_add)
    token = actions.add_parser(
        "add-token",
        help="add a Bearer token and write it to a file",
        description="Add a Bearer token; only its SHA-256 is stored.",
    )
    token.add_argument("name", metavar="NAME")
    token.add_argument("--scope", action="append", required=True, help="a scope to grant (repeat for more)")
    token.add_argument("--token-file", required=True, help="where to write the token (tooltool.py auth file)")
    token.add_argument("--clients-file", help="clients file (default: TOOLTOOL_CLIENTS_FILE or the store's)")
    token.set_defaults(run=_add_token)
