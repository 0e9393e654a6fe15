"""`tooltool-proxy`: the program. Its commands are the modules of proxy/commands, in this order in --help."""

import argparse
import importlib
import sys
from typing import cast

from proxy.clients import ClientsFileError
from proxy.commands.command import CommandError, CommandGroup
from proxy.config import ConfigError

# The modules of proxy/commands and the commands each registers, in --help order. Only the module
# of the command being run is imported: all of them together take about a third of a second
# (aiohttp's client, taskcluster), which every `tooltool-proxy upload` would pay at start.
# `--help` and usage errors import them all (tests/commands/test_registry.py checks this table).
COMMANDS: dict[str, tuple[str, ...]] = {
    "serve": ("serve",),
    "clients": ("clients",),
    "check": ("check",),
    "catalog_cmds": ("catalog",),
    "index_cmds": ("index",),
    "import_cmds": ("import",),
    "legacy": ("import-legacy",),
    "maintenance": ("verify", "gc"),
    "replicate": ("replicate",),
    "upload": ("upload",),
}


def command_groups(command: str | None = None) -> list[CommandGroup]:
    """The command modules, imported: the one registering `command`, or every one."""
    names = [name for name, commands in COMMANDS.items() if command is None or command in commands]
    return [cast(CommandGroup, importlib.import_module(f"proxy.commands.{name}")) for name in names]


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser of `argv`'s command alone when it names one, else of every command."""
    parser = argparse.ArgumentParser(
        prog="tooltool-proxy",
        description="A stateless tooltool server on object storage. Configuration: TOOLTOOL_* variables (README).",
    )
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    known = {command for commands in COMMANDS.values() for command in commands}
    command = argv[0] if argv and argv[0] in known else None
    for group in command_groups(command):
        group.register(subcommands)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        # Inside the try: an argument type (a digest) may raise CommandError.
        arguments = sys.argv[1:] if argv is None else argv
        args = build_parser(arguments).parse_args(arguments)
        status: int = args.run(args)
        return status
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
