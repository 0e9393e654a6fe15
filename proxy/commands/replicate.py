"""`tooltool-proxy replicate`: copy every indexed file to each configured region lacking it.

Each copy streams from a region that holds the bytes into a private key of the destination
(`uploads/<d>/<id>.verifying`, which `gc` removes if a copy is interrupted), hashing as it goes;
only bytes that hash to their name are then copied, server-side, to `sha512/<d>`. So, as for
uploads, nothing appears under `sha512/` unless it was verified. Then the region joins the
index entry's instances. Files already everywhere cost one listing entry per region, no copy.
"""

import argparse
import hashlib
import secrets
from dataclasses import dataclass

from manifests import IndexEntry, ValidationError
from proxy.commands.admin import AdminContext, run_admin, selected_regions
from proxy.commands.command import Subcommands, add_command
from proxy.commands.layout import artifact_holdings, index_digest, list_keys
from proxy.commands.maintenance import update_instances
from proxy.commands.progress import Progress, format_bytes
from proxy.concurrency import for_each
from proxy.hashing import hashed_blocks
from proxy.keys import INDEX_PREFIX, artifact_key, verifying_key
from proxy.storage import LengthMismatch, ObjectNotFound, ObjectStore, PreconditionFailed, StoreError
from proxy.uploads import new_batch_id

REPLICATE_CONCURRENCY = 4


class CopyRefused(Exception):
    """The source's bytes cannot be copied as they are; str() says why."""


async def copy_verified(
    source: ObjectStore, destination: ObjectStore, digest: str, size: int, tags: dict[str, str] | None
) -> None:
    """Copy `sha512/<digest>` from `source` to `destination`, refusing bytes that do not hash to it."""
    private = verifying_key(digest, new_batch_id(), secrets.token_hex(8))
    hasher = hashlib.sha512()
    try:
        chunks = await source.open_range(artifact_key(digest))
    except ObjectNotFound:
        raise CopyRefused("its bytes vanished from the source region") from None
    try:
        copy = await destination.write_stream(private, hashed_blocks(chunks, hasher), size)
        if hasher.hexdigest() != digest:
            raise CopyRefused("the source's bytes do not hash to their name")
        await destination.copy_if_unchanged(private, artifact_key(digest), copy.etag, copy.size, tags=tags)
    except LengthMismatch:
        raise CopyRefused(f"the source does not hold the {size} bytes its index entry says") from None
    except PreconditionFailed:
        raise CopyRefused("the copy changed before it was committed") from None
    finally:
        await chunks.aclose()
        await destination.delete(private)


@dataclass
class Tally:
    copies: int = 0
    bytes: int = 0
    failures: int = 0


@dataclass
class Replication:
    context: AdminContext
    targets: list[str]
    holdings: dict[str, set[str]]  # digest -> regions holding its bytes
    dry_run: bool
    progress: Progress
    tally: Tally

    def fail(self, message: str) -> None:
        self.progress.echo(f"FAILED {message}")
        self.tally.failures += 1

    async def replicate(self, key: str) -> None:
        digest = index_digest(key)
        raw = await self.context.index.store.read(key) if digest is not None else None
        if digest is None:
            self.fail(f"{key}: not an index object name")
        elif raw is not None:
            try:
                entry = IndexEntry.from_json(raw, digest)
            except ValidationError as exc:
                self.fail(f"{key}: invalid index object ({exc}); see `tooltool-proxy index lint`")
            else:
                await self.replicate_file(entry)

    async def replicate_file(self, entry: IndexEntry) -> None:
        if not entry.instances:
            return  # its bytes were deleted on purpose (PATCH delete_instances)
        digest = entry.digest
        held = self.holdings.setdefault(digest, set())
        source = next((region for region in self.context.stores.regions if region in held), None)
        if source is None:
            self.fail(f"{artifact_key(digest)}: no region holds its bytes; nothing to copy from")
            return
        for region in self.targets:
            if region in held:
                continue
            if self.dry_run:
                self.progress.echo(f"would copy {artifact_key(digest)} from {source} to {region}")
                self.tally.copies += 1
                self.tally.bytes += entry.size
                continue
            try:
                await self.copy(entry, source, region)
            except CopyRefused as exc:
                self.fail(f"{artifact_key(digest)} in region {source}: {exc}; not copied to {region}")
                return
            held.add(region)
        await self.record_instances(entry, held)

    async def copy(self, entry: IndexEntry, source: str, region: str) -> None:
        stores = self.context.stores.regions
        # The copy carries the tags a commit would (the visibility tag in tags mode).
        effective = await self.context.index.load(entry.digest) or entry
        tags = self.context.index.commit_tags(effective.visibility)
        await copy_verified(stores[source], stores[region], entry.digest, entry.size, tags)
        self.tally.copies += 1
        self.tally.bytes += entry.size
        self.progress.advance(0, entry.size)
        self.progress.echo(
            f"copied {artifact_key(entry.digest)} from {source} to {region} ({format_bytes(entry.size)})"
        )

    async def record_instances(self, entry: IndexEntry, held: set[str]) -> None:
        if self.dry_run:
            missing = sorted({*held, *self.targets} - set(entry.instances))
            if missing:
                self.progress.echo(f"would add [{', '.join(missing)}] to the instances of {entry.digest}")
            return
        added = await update_instances(self.context, entry.digest, lambda regions: regions | held)
        if added:
            self.progress.echo(f"added [{', '.join(sorted(added))}] to the instances of {entry.digest}")


async def replicate(context: AdminContext, targets: list[str], dry_run: bool) -> int:
    if len(context.stores.regions) < 2:
        print("replicate: only one region is configured (TOOLTOOL_REGIONS); nothing to do")
        return 0
    keys = await list_keys(context.index.store, INDEX_PREFIX)
    holdings = await artifact_holdings(context.stores)
    tally = Tally()
    with Progress("replicate", len(keys), unit="file") as progress:
        replication = Replication(context, targets, holdings, dry_run, progress, tally)

        async def replicate_one(key: str) -> None:
            try:
                await replication.replicate(key)
            except StoreError as exc:
                replication.fail(f"{key}: the store failed ({exc})")
            progress.advance()

        await for_each(keys, replicate_one, REPLICATE_CONCURRENCY)
    verb = "would copy" if dry_run else "copied"
    print(
        f"replicate: {len(keys)} files, {verb} {tally.copies} ({format_bytes(tally.bytes)}), {tally.failures} failures"
    )
    return 1 if tally.failures else 0


def _replicate(args: argparse.Namespace) -> int:
    return run_admin(lambda context: replicate(context, selected_regions(context, args.region), args.dry_run))


def register(subcommands: Subcommands) -> None:
    parser = add_command(
        subcommands,
        "replicate",
        "copy every file to each configured region that lacks it (verified)",
        "Copy every file that has an index entry to each configured region (TOOLTOOL_REGIONS) whose "
        "store lacks it, hashing while streaming so only bytes that match their name arrive, then "
        "add the region to the entry's instances. Safe to re-run: files already everywhere are not copied.",
        done="every file is in every region (or nothing to do)",
        problems="some files could not be copied (one line each)",
    )
    parser.add_argument("--region", help="copy only to this configured region")
    parser.add_argument("--dry-run", action="store_true", help="print what would be copied, copy nothing")
    parser.set_defaults(run=_replicate)
