"""Running an admin command: its parser, stores that answer, and the errors an operator sees.

Exit status of every admin command: 0 done (or nothing wrong found), 1 problems found or some
items failed, 2 usage or configuration error (one line saying what to do).
"""

import argparse
import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from manifests import is_valid_digest
from proxy.admin.common import AdminContext, admin_context
from proxy.admin.layout import named_stores
from proxy.config import Config, load_config
from proxy.storage import StoreError

T = TypeVar("T")
AdminWork = Callable[[AdminContext], Awaitable[int]]

EXIT_STATUS = """exit status:
  0  {done}
  1  {problems}
  2  usage or configuration error"""


def add_command(
    commands: Any, name: str, summary: str, description: str, *, done: str, problems: str
) -> argparse.ArgumentParser:
    """A subcommand of `tooltool-proxy` whose --help ends with what its exit status means."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=summary,
        description=description,
        epilog=EXIT_STATUS.format(done=done, problems=problems),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def command_error(message: str) -> Exception:
    """The error `tooltool-proxy` prints as one line before exiting with status 2."""
    # proxy.cli imports the admin modules to register their commands: import it late.
    from proxy.cli import CommandError

    return CommandError(message)


def require_digest(value: str) -> str:
    if not is_valid_digest(value):
        raise command_error(f"{value[:140]!r} is not a sha512 digest; give its 128 lower-case hex characters")
    return value


def selected_regions(context: AdminContext, name: str | None) -> list[str]:
    """The regions a command works on: the one named by --region, or every configured one."""
    if name is None:
        return list(context.stores.regions)
    if name not in context.stores.regions:
        configured = ", ".join(context.stores.regions)
        raise command_error(f"--region {name!r} is not a configured region; use one of: {configured}")
    return [name]


def run_admin(work: AdminWork) -> int:
    """Run `work` on the configured stores and return its exit status."""
    config = load_config()
    _require_local_directories(config)
    with _quiet_index_warnings():
        return asyncio.run(_run(config, work))


@contextlib.contextmanager
def _quiet_index_warnings() -> Iterator[None]:
    # The index warns the server's log of invalid and missing index objects ("serving it as
    # internal"); admin commands report those themselves, in their own words.
    logger = logging.getLogger("tooltool.index")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


async def _run(config: Config, work: AdminWork) -> int:
    async with admin_context(config) as context:
        await _require_reachable(context)
        try:
            return await work(context)
        except StoreError as exc:
            raise command_error(
                f"the object store failed ({exc or type(exc).__name__}); "
                "run the command again once it answers (admin commands are safe to re-run)"
            ) from None


def _require_local_directories(config: Config) -> None:
    # Opening a local store creates its directory; an admin command on a mistyped path must
    # say so rather than report an empty store.
    places = [("TOOLTOOL_STORE", config.store)] + [(f"TOOLTOOL_REGIONS ({r.name})", r.store) for r in config.regions]
    for variable, location in places:
        if location.is_local and not Path(location.path).is_dir():
            raise command_error(f"{variable}: the directory {location.path} does not exist; check the path")


async def _require_reachable(context: AdminContext) -> None:
    for what, store in named_stores(context.stores):
        try:
            await store.ping()
        except StoreError as exc:
            raise command_error(
                f"the {what} store does not answer ({exc or 'bucket not found'}); "
                "check TOOLTOOL_STORE, TOOLTOOL_REGIONS and TOOLTOOL_S3_ENDPOINT_URL"
            ) from None


async def for_each(items: Iterable[T], work: Callable[[T], Awaitable[None]], limit: int) -> None:
    """Run `work` on every item, at most `limit` at a time; the first error stops the rest."""
    remaining = iter(items)

    async def worker() -> None:
        for item in remaining:
            await work(item)

    workers = [asyncio.create_task(worker()) for _ in range(limit)]
    try:
        await asyncio.gather(*workers)
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
