"""`tooltool-proxy verify` (re-hash every stored file) and `gc` (remove what uploads that never
completed left, and stale replay markers)."""

import argparse
import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from manifests import IndexEntry, PendingUpload, ValidationError
from proxy.catalog import Catalog, CatalogState
from proxy.commands.admin import AdminContext, run_admin, selected_regions
from proxy.commands.catalog_cmds import batch_id_of
from proxy.commands.command import CommandError, Subcommands, add_command
from proxy.commands.layout import artifact_digest, list_keys, named_stores
from proxy.commands.progress import Progress, format_bytes
from proxy.concurrency import for_each
from proxy.hashing import sha512_of
from proxy.journal import BATCH_DELETED
from proxy.keys import (
    ARTIFACT_PREFIX,
    BATCHES_PREFIX,
    REPLAY_PREFIX,
    UPLOADS_PREFIX,
    batch_key,
    pending_key,
    quarantine_key,
    replay_marker_time,
    upload_of_key,
)
from proxy.storage import ObjectNotFound, ObjectStore, PreconditionFailed, StoreError

VERIFY_CONCURRENCY = 4
GC_CONCURRENCY = 8
_DURATION = re.compile(r"([0-9]+)([smhd])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# A replay marker matters only within the Hawk clock-skew window (60 s); an hour is far past it.
REPLAY_MARKER_LIFETIME_SECONDS = 3600


async def update_instances(context: AdminContext, digest: str, change: Callable[[set[str]], set[str]]) -> set[str]:
    """Apply `change` to the regions the file's index entry lists; returns the regions added
    and removed. Works on what downloads obey (FileIndex.load), so bytes without an index
    object get none made for them unless the regions change."""
    entry = await context.index.load(digest)
    if entry is None:
        return set()
    changed: set[str] = set()

    def apply(current: IndexEntry | None) -> IndexEntry | None:
        base = current or entry  # an index object, or what downloads obey without one
        before = set(base.instances)
        after = change(before)
        changed.clear()
        changed.update(after ^ before)
        return replace(base, instances=tuple(sorted(after))) if after != before else None

    await context.index.update(digest, apply, replace_invalid=True)
    return changed


@dataclass
class Tally:
    checked: int = 0
    bytes: int = 0
    mismatches: int = 0
    failures: int = 0


async def quarantine(context: AdminContext, region: str, key: str, digest: str, etag: str, size: int) -> None:
    """Move the bytes aside (copy, then delete) and drop the region from the index entry."""
    store = context.stores.regions[region]
    await store.copy_if_unchanged(key, quarantine_key(digest), etag, size)
    await store.delete(key)
    await update_instances(context, digest, lambda regions: regions - {region})


async def verify_object(
    context: AdminContext, region: str, key: str, move_aside: bool, tally: Tally, progress: Progress
) -> int:
    """Hash one object; report (and maybe quarantine) a mismatch. Returns the bytes hashed."""
    store = context.stores.regions[region]
    digest = artifact_digest(key)
    if digest is None:
        progress.echo(f"skipped {key} in region {region}: not named for a sha512 digest")
        return 0
    info = await store.head(key)
    if info is None:
        return 0  # deleted since the listing
    try:
        async with await store.open_range(key) as chunks:
            actual = await sha512_of(chunks)
    except ObjectNotFound:
        return 0
    tally.checked += 1
    if actual == digest:
        return info.size
    tally.mismatches += 1
    progress.echo(f"MISMATCH {key} in region {region}: its bytes hash to {actual}")
    if move_aside:
        try:
            await quarantine(context, region, key, digest, info.etag, info.size)
        except (PreconditionFailed, ObjectNotFound):
            progress.echo(f"  not quarantined: {key} changed while it was hashed; verify it again")
            tally.failures += 1
        else:
            progress.echo(f"  moved to {quarantine_key(digest)} in region {region}; its index entry lists it no more")
    return info.size


async def verify(context: AdminContext, regions: list[str], move_aside: bool) -> int:
    items = [
        (region, key) for region in regions for key in await list_keys(context.stores.regions[region], ARTIFACT_PREFIX)
    ]
    tally = Tally()
    with Progress("verify", len(items), unit="object") as progress:

        async def check(item: tuple[str, str]) -> None:
            region, key = item
            hashed = 0
            try:
                hashed = await verify_object(context, region, key, move_aside, tally, progress)
            except StoreError as exc:
                progress.echo(f"FAILED {key} in region {region}: the store failed ({exc})")
                tally.failures += 1
            tally.bytes += hashed
            progress.advance(1, hashed)

        await for_each(items, check, VERIFY_CONCURRENCY)
    print(
        f"verify: {tally.checked} objects ({format_bytes(tally.bytes)}) hashed, "
        f"{tally.mismatches} mismatches, {tally.failures} failures"
    )
    return 1 if tally.mismatches or tally.failures else 0


def parse_duration(text: str) -> float:
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise CommandError(f"--older-than {text!r} is not a duration; use a number and s, m, h or d (7d, 12h, 30m)")
    return int(match[1]) * _SECONDS[match[2]]


def upload_of(key: str) -> tuple[str, int] | None:
    """(digest, batch id) of a staged upload, its `.verifying` copy or its pending record."""
    return upload_of_key(key)


@dataclass
class Upload:
    """The objects one upload (digest, batch) left, in whichever stores hold them."""

    digest: str
    batch_id: int
    objects: list[tuple[str, ObjectStore, str]] = field(default_factory=list)  # (store name, store, key)


async def age_of(context: AdminContext, upload: Upload, now: float) -> float:
    """Seconds since its put_url expired (from the pending record) or, for an orphan, since
    the upload began (the batch id is milliseconds since the epoch, times 1000)."""
    record = await context.stores.home.read(pending_key(upload.digest, upload.batch_id))
    if record is not None:
        try:
            return now - PendingUpload.from_json(record).expires
        except ValidationError:
            pass  # unreadable: judge it by its batch id
    return now - upload.batch_id / 1_000_000


async def list_uploads(context: AdminContext) -> list[Upload]:
    uploads: dict[tuple[str, int], Upload] = {}
    for name, store in named_stores(context.stores):
        for key in await list_keys(store, UPLOADS_PREFIX):
            found = upload_of(key)
            if found is not None:
                uploads.setdefault(found, Upload(*found)).objects.append((name, store, key))
    return sorted(uploads.values(), key=lambda u: (u.digest, u.batch_id))


async def gc(context: AdminContext, limit: float, limit_text: str, dry_run: bool) -> int:
    now = time.time()
    uploads = await list_uploads(context)
    stale = [upload for upload in uploads if await age_of(context, upload, now) > limit]
    left = await gc_uploads(context, stale, dry_run)
    print(
        f"gc: {'would remove' if dry_run else 'removed'} {left.removed} objects of {len(stale)} uploads older "
        f"than {limit_text}; kept {len(uploads) - len(stale)} uploads; {left.failures} failures"
    )
    # An upload whose objects stay (fresh, or not removed) may still complete its batch.
    removed = {(upload.digest, upload.batch_id) for upload in stale} - {(u.digest, u.batch_id) for u in left.kept}
    unfinished = {(upload.digest, upload.batch_id) for upload in uploads} - removed
    batches = await gc_batches(context, now - limit - context.config.upload_url_ttl, unfinished, dry_run)
    print(
        f"gc: {'would remove' if dry_run else 'removed'} {batches.removed} batch records of uploads never "
        f"completed whose put_urls expired more than {limit_text} ago; {batches.failures} failures"
    )
    markers = await gc_replay_markers(context, now - REPLAY_MARKER_LIFETIME_SECONDS, dry_run)
    print(
        f"gc: {'would remove' if dry_run else 'removed'} {markers.removed} replay markers older than "
        f"{REPLAY_MARKER_LIFETIME_SECONDS // 3600} hour; {markers.failures} failures"
    )
    return 1 if left.failures or batches.failures or markers.failures else 0


@dataclass
class Removal:
    removed: int = 0
    failures: int = 0
    kept: list[Upload] = field(default_factory=list)  # uploads some object of which could not be removed


async def gc_uploads(context: AdminContext, stale: list[Upload], dry_run: bool) -> Removal:
    tally = Removal()
    verb = "would remove" if dry_run else "removed"
    with Progress("gc", len(stale), unit="upload") as progress:

        async def remove(upload: Upload) -> None:
            for name, store, key in upload.objects:
                try:
                    if not dry_run:
                        await store.delete(key)
                except StoreError as exc:
                    progress.echo(f"FAILED to remove {key} ({name}): the store failed ({exc})")
                    tally.failures += 1
                    tally.kept.append(upload)
                else:
                    progress.echo(f"{verb} {key} ({name})")
                    tally.removed += 1
            progress.advance()

        await for_each(stale, remove, GC_CONCURRENCY)
    return tally


def known_committed(state: CatalogState, batch_id: int) -> bool:
    """Whether the search catalog knows a file of the batch to have been committed."""
    batch = state.batches.get(batch_id)
    if batch is None:
        return False
    return any((facts := state.files.get(digest)) is not None and facts.indexed for _, digest in batch.files)


async def gc_batches(
    context: AdminContext, expired_before: float, unfinished: set[tuple[str, int]], dry_run: bool
) -> Removal:
    """Remove the batch records of uploads never completed: made before `expired_before` (by
    their id), none of whose files was ever committed (the catalog knows of no commit, and the
    store holds neither an index object nor bytes for any), with no upload of it left. Each
    removal is journaled, so that search catalogs drop the batch."""
    home = context.stores.home
    before_id = int(expired_before * 1_000_000)
    ids = [batch_id for batch_id in map(batch_id_of, await list_keys(home, BATCHES_PREFIX)) if batch_id]
    old = [batch_id for batch_id in ids if batch_id < before_id]
    # The catalog (snapshot and journal) spares reading the batches it knows were completed.
    state = await Catalog(context.index).load() if old else CatalogState()
    candidates = [batch_id for batch_id in old if not known_committed(state, batch_id)]
    tally = Removal()
    verb = "would remove" if dry_run else "removed"
    with Progress("gc batches", len(candidates), unit="batch") as progress:

        async def examine(batch_id: int) -> None:
            key = batch_key(batch_id)
            try:
                batch = await context.batches.get(batch_id)
                digests = sorted({upload.digest for upload in batch.files}) if batch is not None else []
                if batch is None or any((digest, batch_id) in unfinished for digest in digests):
                    return  # unreadable (left for an operator), or an upload of it may still complete
                entries = await asyncio.gather(*(context.index.load(digest) for digest in digests))
                if any(entry is not None for entry in entries):
                    return
                if not dry_run:
                    await home.delete(key)
                    await context.index.journal.append(BATCH_DELETED, {"id": batch_id})
            except StoreError as exc:
                progress.echo(f"FAILED to remove {key}: the store failed ({exc})")
                tally.failures += 1
            else:
                progress.echo(f"{verb} {key}: none of its files ever arrived")
                tally.removed += 1
            finally:
                progress.advance()

        await for_each(candidates, examine, GC_CONCURRENCY)
    return tally


async def gc_replay_markers(context: AdminContext, stale_before: float, dry_run: bool) -> Removal:
    """Remove the replay markers of requests stamped before `stale_before`. Marker keys sort by
    their timestamp, so the listing stops at the first fresh one."""
    home = context.stores.home
    stale = []
    async for key in home.list_keys(REPLAY_PREFIX):
        stamp = replay_marker_time(key)
        if stamp is None:
            continue  # not a marker: not ours to remove
        if stamp >= stale_before:
            break
        stale.append(key)
    tally = Removal()
    with Progress("gc replay markers", len(stale), unit="marker") as progress:

        async def remove(key: str) -> None:
            try:
                if not dry_run:
                    await home.delete(key)
            except StoreError as exc:
                progress.echo(f"FAILED to remove {key}: the store failed ({exc})")
                tally.failures += 1
            else:
                tally.removed += 1
            progress.advance()

        await for_each(stale, remove, GC_CONCURRENCY)
    return tally


def _verify(args: argparse.Namespace) -> int:
    return run_admin(lambda context: verify(context, selected_regions(context, args.region), args.quarantine))


def _gc(args: argparse.Namespace) -> int:
    limit = parse_duration(args.older_than)
    return run_admin(lambda context: gc(context, limit, args.older_than, args.dry_run))


def register(subcommands: Subcommands) -> None:
    verify_cmd = add_command(
        subcommands,
        "verify",
        "re-hash every stored file and report those whose bytes do not match their name",
        "Re-hash every sha512/<digest> object in every region (streaming, constant memory) and "
        "report each whose bytes do not hash to its name. With --quarantine, move such an object "
        "to quarantine/sha512/<digest> and drop that region from the file's index entry.",
        done="every object matches",
        problems="mismatches found, or some objects could not be checked (one line each)",
    )
    verify_cmd.add_argument(
        "--quarantine", action="store_true", help="move mismatching objects to quarantine/sha512/<digest>"
    )
    verify_cmd.add_argument("--region", help="verify only this configured region")
    verify_cmd.set_defaults(run=_verify)

    gc_cmd = add_command(
        subcommands,
        "gc",
        "remove what uploads that never completed left, and stale replay markers",
        "Remove staged uploads (uploads/<digest>/<batch>, their .verifying copies) and pending-upload "
        "records older than the limit: counted from the record's expiry, or for objects without a "
        "record from the batch id. Remove the batch records (batches/<id>.json) none of whose files "
        "was ever committed once their put_urls expired more than the limit ago (TOOLTOOL_UPLOAD_URL_TTL "
        "after the batch), journaled so that search drops them. Remove replay markers (replay/) older "
        f"than {REPLAY_MARKER_LIFETIME_SECONDS // 3600} hour. Never touches sha512/ or index/.",
        done="removed (or nothing to remove)",
        problems="some objects could not be removed",
    )
    gc_cmd.add_argument(
        "--older-than", required=True, metavar="DURATION", help="a number and s, m, h or d: 7d, 12h, 30m"
    )
    gc_cmd.add_argument("--dry-run", action="store_true", help="print what would be removed, remove nothing")
    gc_cmd.set_defaults(run=_gc)
