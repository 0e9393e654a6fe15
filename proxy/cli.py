"""`tooltool-proxy`: the program. Its commands are the modules of proxy/commands, in this order in --help."""

import argparse
import sys

from proxy.clients import ClientsFileError
from proxy.commands import (
    catalog_cmds,
    check,
    clients,
    import_cmds,
    index_cmds,
    legacy,
    maintenance,
    replicate,
    serve,
    upload,
)
from proxy.commands.command import CommandError, CommandGroup
from proxy.config import ConfigError

COMMAND_GROUPS: list[CommandGroup] = [
    serve,
    clients,
    check,
    catalog_cmds,
    index_cmds,
    import_cmds,
    legacy,
    maintenance,
    replicate,
    upload,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tooltool-proxy",
        description="A stateless tooltool server on object storage. Configuration: TOOLTOOL_* variables (README).",
    )
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.register(subcommands)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        # Inside the try: an argument type (a digest) may raise CommandError.
        args = build_parser().parse_args(argv)
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
