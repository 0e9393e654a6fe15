"""Declaring a command: how a module adds its subcommands, their arguments, and the error an operator sees.

Exit status of every command: 0 done (or nothing wrong found), 1 problems found or some
items failed, 2 usage or configuration error (one line saying what to do).
"""

import argparse
from typing import Protocol, TypeAlias

from manifests import is_valid_digest

Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

EXIT_STATUS = """exit status:
  0  {done}
  1  {problems}
  2  usage or configuration error"""


class CommandError(Exception):
    """A one-line message for the operator; the command exits with status 2."""


class CommandGroup(Protocol):
    """A module of proxy/commands: it adds its subcommands to `tooltool-proxy`."""

    def register(self, subcommands: Subcommands) -> None: ...


def add_command(
    subcommands: Subcommands, name: str, summary: str, description: str, *, done: str, problems: str
) -> argparse.ArgumentParser:
    """A subcommand of `tooltool-proxy` whose --help ends with what its exit status means."""
    return subcommands.add_parser(
        name,
        help=summary,
        description=description,
        epilog=EXIT_STATUS.format(done=done, problems=problems),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def digest_argument(value: str) -> str:
    """The argparse type of every argument that is a sha512 digest."""
    # CommandError, not ArgumentTypeError: argparse lets it through, so a bad digest gets the one
    # line of every other command error instead of argparse's usage block.
    if not is_valid_digest(value):
        raise CommandError(f"{value[:140]!r} is not a sha512 digest; give its 128 lower-case hex characters")
    return value
