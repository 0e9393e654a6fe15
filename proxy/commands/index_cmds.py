"""`tooltool-proxy index show|set-visibility|delete|lint`: index objects, edited in the store."""

import argparse
import sys
from dataclasses import dataclass, replace

from manifests import IndexEntry, ValidationError, Visibility
from proxy.commands.admin import AdminContext, run_admin
from proxy.commands.command import Subcommands, add_command, digest_argument
from proxy.commands.layout import artifact_holdings, index_digest, list_keys, regions_holding
from proxy.commands.progress import Progress
from proxy.concurrency import for_each
from proxy.keys import INDEX_PREFIX, artifact_key, index_key

LINT_CONCURRENCY = 16


@dataclass(frozen=True)
class StoredFile:
    """What the store holds for one digest: its index object as stored, and its bytes."""

    digest: str
    raw: bytes | None  # the index object, None when there is none
    entry: IndexEntry | None  # the index object parsed, None when missing or invalid
    problem: str | None  # why the index object is invalid
    effective: IndexEntry | None  # what downloads obey (FileIndex.load)
    holding: dict[str, int]  # region -> size of the bytes its store holds

    @property
    def known(self) -> bool:
        return self.raw is not None or self.effective is not None


async def inspect_file(context: AdminContext, digest: str) -> StoredFile:
    raw = await context.index.store.read(index_key(digest))
    entry, problem = None, None
    if raw is not None:
        try:
            entry = IndexEntry.from_json(raw, digest)
        except ValidationError as exc:
            problem = str(exc)
    effective = await context.index.load(digest)
    return StoredFile(digest, raw, entry, problem, effective, await regions_holding(context.stores, digest))


def _unknown(digest: str) -> int:
    print(f"{digest}: no such file (no index object and no bytes in any region)", file=sys.stderr)
    return 1


def _note(text: str) -> None:
    print(f"note: {text}", file=sys.stderr)


async def show(context: AdminContext, digest: str) -> int:
    found = await inspect_file(context, digest)
    if not found.known:
        return _unknown(digest)
    key = index_key(digest)
    if found.raw is not None:
        sys.stdout.write(found.raw.decode(errors="replace"))
        if found.problem is not None:
            _note(f"{key} is invalid ({found.problem}); the file is served as internal")
    elif found.effective is not None:
        sys.stdout.write(found.effective.to_json().decode())
        _note(f"{key} does not exist; the bytes are served as internal")
    effective = found.effective
    if found.entry is not None and effective is not None and effective.visibility != found.entry.visibility:
        _note(f"downloads treat the file as {effective.visibility.value}")
    if effective is not None and set(effective.instances) != set(found.holding):
        _note(f"the bytes are in regions [{', '.join(sorted(found.holding))}]")
    return 0


async def set_visibility(context: AdminContext, digest: str, visibility: Visibility, dry_run: bool) -> int:
    found = await inspect_file(context, digest)
    if not found.known:
        return _unknown(digest)
    current = found.effective
    if current is None:
        print(f"{index_key(digest)} is invalid ({found.problem}) and no region holds the bytes: fix it by hand")
        return 1
    if found.entry is not None and current.visibility == visibility:
        print(f"{digest} is already {visibility.value}; nothing changed")
        return 0
    how = ""
    if found.raw is None:
        how = " (creating its index object)"
    elif found.entry is None:
        how = " (replacing its invalid index object)"
    change = f"visibility of {digest}: {current.visibility.value} -> {visibility.value}{how}"
    if dry_run:
        print(f"would set {change}")
        return 0
    base = current

    def set_it(stored: IndexEntry | None) -> IndexEntry:
        return replace(stored or base, visibility=visibility)

    await context.index.update(digest, set_it, replace_invalid=True)
    await context.index.retag(digest)
    print(f"set {change}")
    return 0


async def delete(context: AdminContext, digest: str, dry_run: bool) -> int:
    found = await inspect_file(context, digest)
    if not found.known:
        return _unknown(digest)
    doomed = [f"{artifact_key(digest)} in region {region}" for region in found.holding]
    if found.raw is not None:
        doomed.append(index_key(digest))
    if dry_run:
        for what in doomed:
            print(f"would delete {what}")
        return 0
    for region in found.holding:
        await context.stores.regions[region].delete(artifact_key(digest))
    if found.raw is not None:
        await context.index.store.delete(index_key(digest))
    context.index.cache.invalidate(digest)
    if found.effective is not None:
        # Search catalogs learn of it as a file without instances, what batch records that
        # still name it make of it on a rebuild.
        gone = replace(found.effective, instances=())
        await context.index.journal.append_entry(gone)
    for what in doomed:
        print(f"deleted {what}")
    return 0


def _lint_entry(context: AdminContext, digest: str, raw: bytes, holdings: dict[str, set[str]]) -> list[str]:
    try:
        entry = IndexEntry.from_json(raw, digest)
    except ValidationError as exc:
        return [f"invalid ({exc}); the file is served as internal"]
    held = holdings.get(digest, set())
    if entry.instances and not held:
        return [f"lists instances [{', '.join(entry.instances)}] but no region holds its bytes"]
    missing = sorted({context.stores.region(name) for name in entry.instances} - held)
    return [f"lists region {region} but its bytes are missing there" for region in missing]


async def lint(context: AdminContext) -> int:
    keys = await list_keys(context.index.store, INDEX_PREFIX)
    holdings = await artifact_holdings(context.stores)
    problems: list[tuple[str, str]] = []

    with Progress("index lint", len(keys), unit="object") as progress:

        async def check(key: str) -> None:
            digest = index_digest(key)
            raw = await context.index.store.read(key) if digest is not None else None
            if digest is None:
                problems.append((key, f"not an index object name (expected {INDEX_PREFIX}<sha512 digest>.json)"))
            elif raw is not None:
                problems.extend((key, problem) for problem in _lint_entry(context, digest, raw, holdings))
            progress.advance()

        await for_each(keys, check, LINT_CONCURRENCY)

    indexed = {index_digest(key) for key in keys}
    for digest, regions in holdings.items():
        if digest not in indexed:
            where = ", ".join(sorted(regions))
            problems.append((artifact_key(digest), f"bytes in [{where}] have no index object; served as internal"))
    for key, problem in sorted(problems):
        print(f"{key}: {problem}")
    print(f"index lint: {len(keys)} index objects, {len(holdings)} stored files, {len(problems)} problems")
    return 1 if problems else 0


def _show(args: argparse.Namespace) -> int:
    return run_admin(lambda context: show(context, args.digest))


def _set_visibility(args: argparse.Namespace) -> int:
    visibility = Visibility(args.visibility)
    return run_admin(lambda context: set_visibility(context, args.digest, visibility, args.dry_run))


def _delete(args: argparse.Namespace) -> int:
    return run_admin(lambda context: delete(context, args.digest, args.dry_run))


def _lint(args: argparse.Namespace) -> int:
    return run_admin(lint)


def register(subcommands: Subcommands) -> None:
    index = subcommands.add_parser(
        "index",
        help="inspect and edit index objects in the store",
        description="Inspect and edit index objects (index/sha512/<digest>.json) directly in the store.",
    )
    actions = index.add_subparsers(dest="index_command", required=True, metavar="ACTION")

    show_cmd = add_command(
        actions,
        "show",
        "print a file's index object",
        "Print the file's index object as the store has it. Notes on stderr say when it is invalid or "
        "missing (bytes without a valid index object are served as internal).",
        done="the file is known (it has an index object or bytes)",
        problems="no such file",
    )
    show_cmd.add_argument("digest", metavar="DIGEST", type=digest_argument, help="the file's sha512 digest")
    show_cmd.set_defaults(run=_show)

    visibility_cmd = add_command(
        actions,
        "set-visibility",
        "make a file public or internal",
        "Set the file's visibility in its index object (journaled for search). Creates the index "
        "object for bytes that have none.",
        done="set, or already so",
        problems="no such file",
    )
    visibility_cmd.add_argument("digest", metavar="DIGEST", type=digest_argument, help="the file's sha512 digest")
    visibility_cmd.add_argument("visibility", choices=[v.value for v in Visibility], metavar="public|internal")
    visibility_cmd.add_argument("--dry-run", action="store_true", help="print what would change, change nothing")
    visibility_cmd.set_defaults(run=_set_visibility)

    delete_cmd = add_command(
        actions,
        "delete",
        "delete a file entirely: its bytes in every region and its index object",
        "Delete the file entirely: its bytes in every region and its index object; search learns it "
        "is gone through the journal. Batch records keep mentioning it.",
        done="deleted",
        problems="no such file",
    )
    delete_cmd.add_argument("digest", metavar="DIGEST", type=digest_argument, help="the file's sha512 digest")
    delete_cmd.add_argument("--dry-run", action="store_true", help="print what would be deleted, delete nothing")
    delete_cmd.set_defaults(run=_delete)

    lint_cmd = add_command(
        actions,
        "lint",
        "check every index object against the stored bytes",
        "Read every index object and report those that are invalid, those whose bytes no region "
        "holds, and bytes that have no index object.",
        done="no problems",
        problems="problems found (one line each on stdout)",
    )
    lint_cmd.set_defaults(run=_lint)
