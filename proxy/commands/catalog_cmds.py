"""`tooltool-proxy catalog compact|rebuild`: the snapshot search catalogs start from.

compact: the current snapshot plus the journal records since, written as a new snapshot;
journal records it made unnecessary are deleted (keeping RETENTION_SECONDS of them, so that
no replica misses one). Cheap: run it from cron, hourly or daily.
rebuild: a snapshot from every index object, stored file and batch record, for a bucket that
has no snapshot or journal yet (a legacy bucket) or after index objects were edited by hand.
It reads every object once: slow on a big bucket, and admin-only for that reason.
"""

import argparse
import time

from proxy.catalog import SNAPSHOT_KEY, STORE_CONCURRENCY, Catalog, CatalogState
from proxy.commands.admin import AdminContext, run_admin
from proxy.commands.command import CommandError, Subcommands, add_command
from proxy.commands.layout import artifact_holdings, index_digest, list_keys
from proxy.commands.progress import Progress
from proxy.concurrency import for_each
from proxy.journal import JOURNAL_PREFIX, RETENTION_SECONDS, position_at
from proxy.keys import BATCHES_PREFIX, INDEX_PREFIX, batch_id_of_key, batch_key
from proxy.storage import ObjectStore, PreconditionFailed

SNAPSHOT_ATTEMPTS = 3


def batch_id_of(key: str) -> int | None:
    """The id of a listed batch record's key, or None for a key that is not one."""
    return batch_id_of_key(key)


def _summary(state: CatalogState) -> str:
    return (
        f"wrote {SNAPSHOT_KEY}: {len(state.files)} files, {len(state.batches)} batches, "
        f"journal up to {state.position.last or '(empty)'}"
    )


async def compact(context: AdminContext) -> int:
    catalog = Catalog(context.index)
    for _attempt in range(SNAPSHOT_ATTEMPTS):
        found, etag = await catalog.read_snapshot_versioned()
        state = found or CatalogState()
        keys = await catalog.unapplied_keys(state)
        with Progress("reading journal records", len(keys), unit="record") as progress:
            await catalog.apply_journal(state, keys, progress.advance)
        try:
            await catalog.write_snapshot(state, replacing=etag)
            break
        except PreconditionFailed:
            print("another compact or rebuild wrote the snapshot meanwhile; folding the journal into that one")
    else:
        raise CommandError("the snapshot kept changing while it was compacted; run `catalog compact` again later")
    print(_summary(state))
    deleted = await delete_journal_before(context.index.store, prune_position(state))
    print(f"deleted {deleted} journal records the snapshot made unnecessary")
    return 0


def prune_position(state: CatalogState) -> str | None:
    """Records before this are in the snapshot and older than the retention (None: keep all)."""
    window_start = state.position.start_after()
    if window_start is None:
        return None
    return min(window_start, position_at(time.time() - RETENTION_SECONDS))


async def delete_journal_before(store: ObjectStore, position: str | None) -> int:
    if position is None:
        return 0
    doomed = [key for key in await list_keys(store, JOURNAL_PREFIX) if key < position]
    with Progress("deleting journal records", len(doomed), unit="record") as progress:

        async def delete(key: str) -> None:
            await store.delete(key)
            progress.advance()

        await for_each(doomed, delete, STORE_CONCURRENCY)
    return len(doomed)


async def rebuild(context: AdminContext) -> int:
    catalog = Catalog(context.index)
    store = context.index.store
    state = CatalogState()
    # Every record listed now was written after its index object or batch record, so the
    # objects read below reflect it: the new catalog starts after these keys.
    state.position.mark_applied(await catalog.journal.keys_after(None))
    index_keys = await list_keys(store, INDEX_PREFIX)
    digests = sorted({*filter(None, map(index_digest, index_keys)), *await artifact_holdings(context.stores)})
    batch_ids = [batch_id for batch_id in map(batch_id_of, await list_keys(store, BATCHES_PREFIX)) if batch_id]
    _previous, etag = await catalog.read_snapshot_versioned()
    unreadable: list[str] = []

    with Progress("reading index objects and batch records", len(digests) + len(batch_ids), unit="object") as progress:

        async def read_file(digest: str) -> None:
            entry = await context.index.load(digest)  # as downloads see it: bytes without a valid index are internal
            if entry is not None:
                state.apply_entry(entry)
            progress.advance()

        async def read_batch(batch_id: int) -> None:
            batch = await context.batches.get(batch_id)
            if batch is None:
                unreadable.append(batch_key(batch_id))
            else:
                state.apply_batch(batch)
            progress.advance()

        await for_each(digests, read_file, STORE_CONCURRENCY)
        await for_each(batch_ids, read_batch, STORE_CONCURRENCY)
    for _attempt in range(SNAPSHOT_ATTEMPTS):
        try:
            await catalog.write_snapshot(state, replacing=etag)
            break
        except PreconditionFailed:
            # A compaction wrote meanwhile; it only folded journal records, which this state
            # takes in too before it replaces that snapshot.
            await catalog.catch_up(state)
            _previous, etag = await catalog.read_snapshot_versioned()
    else:
        raise CommandError("the snapshot kept changing during the rebuild; run `catalog rebuild` again later")
    for key in sorted(unreadable):
        print(f"{key}: invalid batch record, left out of the catalog")
    print(_summary(state))
    return 1 if unreadable else 0


def _compact(args: argparse.Namespace) -> int:
    return run_admin(compact)


def _rebuild(args: argparse.Namespace) -> int:
    return run_admin(rebuild)


def register(subcommands: Subcommands) -> None:
    catalog = subcommands.add_parser(
        "catalog",
        help="maintain the snapshot the search catalog starts from",
        description=f"Maintain {SNAPSHOT_KEY}, which every replica's search catalog starts from.",
    )
    actions = catalog.add_subparsers(dest="catalog_command", required=True, metavar="ACTION")
    compact_cmd = add_command(
        actions,
        "compact",
        "fold the journal into a new snapshot (cheap; run it regularly)",
        "Write a new snapshot: the current one plus the journal records written since. Then delete the "
        "journal records it made unnecessary, keeping the last "
        f"{RETENTION_SECONDS / 3600:g} hours of them. Safe to run at any time and to re-run.",
        done="snapshot written (unreadable journal records are skipped with a warning)",
        problems="not used",
    )
    compact_cmd.set_defaults(run=_compact)
    rebuild_cmd = add_command(
        actions,
        "rebuild",
        "write the snapshot from every index object and batch record (slow)",
        "Read every index object, stored file and batch record and write the snapshot from them: for a "
        "bucket without a snapshot or journal yet, or after index objects were edited by hand. It reads "
        "every object once, with progress on stderr. The journal is kept.",
        done="snapshot written",
        problems="snapshot written without the invalid batch records listed on stdout",
    )
    rebuild_cmd.set_defaults(run=_rebuild)
