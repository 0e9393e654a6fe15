"""`tooltool-proxy import FILE…`: store local files exactly as an upload would.

The import is an uploader holding every scope that PUTs through the proxy's own path: a batch
record and pending uploads from `Uploads.create_batch`, the bytes through `receive_put`
(length and sha512 checked while they are written to the staging key), then
`verify_and_commit`. So nothing becomes visible under `sha512/` unless it hashed to its name.
"""

import argparse
import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from manifests import IndexEntry, UploadRequest, ValidationError, Visibility, parse_upload_request
from manifests.manifest import validate_filename
from manifests.uploads import MAX_FILES_PER_BATCH
from proxy.auth import Identity
from proxy.commands.admin import AdminContext, run_admin
from proxy.commands.command import CommandError, Subcommands, add_command
from proxy.commands.progress import Progress, format_bytes
from proxy.hashing import HashedFile, hash_file
from proxy.outcomes import CommitOutcome, DomainError
from proxy.scopes import Scopes
from proxy.storage import StoreError
from proxy.storage.base import CHUNK_SIZE
from proxy.tokens import PutGrant
from proxy.uploads import Uploads, UploadSettings


@dataclass
class Outcome:
    stored: int = 0
    skipped: int = 0
    failed: int = 0


async def read_chunks(path: Path, progress: Progress) -> AsyncIterator[bytes]:
    file = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(file.read, CHUNK_SIZE):
            progress.advance(len(chunk))
            yield chunk
    finally:
        file.close()


def check_paths(paths: list[Path]) -> None:
    """Refuse, before any work, what cannot be imported: missing files and clashing names."""
    seen: set[str] = set()
    for path in paths:
        if not path.is_file():
            raise CommandError(f"{path} is not a file; give paths of regular files")
        try:
            validate_filename(path.name)
        except ValidationError as exc:
            raise CommandError(str(exc)) from None
        if path.name in seen:
            raise CommandError(f"two files are named {path.name}; a batch names each file once")
        seen.add(path.name)


async def hash_files(paths: list[Path]) -> list[HashedFile]:
    with Progress("import: hashing", sum(path.stat().st_size for path in paths), unit="byte") as progress:
        return [await hash_file(path, progress.advance) for path in paths]


def upload_request(files: list[HashedFile], visibility: Visibility, message: str) -> UploadRequest:
    doc = {
        "message": message,
        "files": {
            f.name: {"size": f.size, "digest": f.digest, "algorithm": "sha512", "visibility": visibility.value}
            for f in files
        },
    }
    try:
        return parse_upload_request(doc)
    except ValidationError as exc:
        raise CommandError(str(exc)) from None


def refusal(entry: IndexEntry | None, file: HashedFile, visibility: Visibility, max_bytes: int) -> str | None:
    """Why the file cannot be imported as asked, or None."""
    if file.size > max_bytes:
        return f"larger than TOOLTOOL_MAX_FILE_BYTES ({max_bytes})"
    if entry is not None and entry.visibility != visibility:
        return (
            f"already stored as {entry.visibility.value}; "
            "`tooltool-proxy index set-visibility` changes a stored file's visibility"
        )
    if entry is not None and entry.size != file.size:
        return f"already stored with size {entry.size}"
    return None


def uploads_for(context: AdminContext) -> Uploads:
    # The import PUTs through receive_put itself: create_batch hands out no put_urls.
    settings = UploadSettings.from_config(context.config, in_process=True)
    return Uploads(context.stores, context.index, context.batches, settings)


async def store_batch(
    context: AdminContext, uploads: Uploads, identity: Identity, files: list[HashedFile], request: UploadRequest
) -> Outcome:
    outcome = Outcome()
    try:
        created = await uploads.create_batch(request, identity)
    except DomainError as exc:
        print(f"failed: the batch was refused ({exc.detail})")
        return Outcome(failed=len(files))
    batch_id = created.batch.id
    staged = {file.upload.filename for file in created.staged()}
    expires = int(time.time()) + context.config.upload_url_ttl
    region = context.stores.default_region
    stored_digests: set[str] = set()
    with Progress("import: storing", sum(f.size for f in files), unit="byte") as progress:
        for file in files:
            if file.name not in staged or file.digest in stored_digests:
                # Stored meanwhile, or the same bytes under another name: the batch records it.
                progress.advance(file.size)
                progress.echo(f"imported {file.name} {file.digest} (batch {batch_id})")
                outcome.stored += 1
                continue
            grant = PutGrant(file.digest, batch_id, file.size, expires, region)
            try:
                await uploads.receive_put(grant, read_chunks(file.path, progress))
                committed = await uploads.verify_and_commit(file.digest, identity)
            except (DomainError, StoreError) as exc:
                reason = exc.detail if isinstance(exc, DomainError) else f"the store failed ({exc})"
                progress.echo(f"failed {file.name}: {reason}")
                outcome.failed += 1
                continue
            if committed is not CommitOutcome.COMMITTED:
                progress.echo(f"failed {file.name}: the staged bytes vanished before they were verified")
                outcome.failed += 1
                continue
            stored_digests.add(file.digest)
            progress.echo(f"imported {file.name} {file.digest} (batch {batch_id})")
            outcome.stored += 1
    return outcome


async def import_files(
    context: AdminContext, paths: list[Path], visibility: Visibility, message: str, author: str
) -> int:
    files = await hash_files(paths)
    upload_request(files, visibility, message)  # refuse a bad batch before writing anything
    entries = {d: await context.index.load(d) for d in sorted({f.digest for f in files})}
    outcome = Outcome()
    to_store = []
    for file in files:
        entry = entries[file.digest]
        reason = refusal(entry, file, visibility, context.config.max_file_bytes)
        if reason is not None:
            print(f"failed {file.name}: {reason}")
            outcome.failed += 1
        elif entry is not None and entry.has_instances:
            print(f"skipped {file.name}: already stored ({file.digest})")
            outcome.skipped += 1
        else:
            to_store.append(file)

    uploads = uploads_for(context)
    identity = Identity(client_id=author, scopes=(Scopes(context.config.scope_prefix).everything,))
    for first in range(0, len(to_store), MAX_FILES_PER_BATCH):
        chunk = to_store[first : first + MAX_FILES_PER_BATCH]
        done = await store_batch(context, uploads, identity, chunk, upload_request(chunk, visibility, message))
        outcome.stored += done.stored
        outcome.failed += done.failed
    total = format_bytes(sum(f.size for f in to_store))
    print(f"import: {outcome.stored} stored ({total}), {outcome.skipped} already stored, {outcome.failed} failed")
    return 1 if outcome.failed else 0


def _import(args: argparse.Namespace) -> int:
    paths = [Path(name) for name in args.files]
    check_paths(paths)
    if not args.message.strip():
        raise CommandError("--message must not be empty; say why these files are stored (e.g. 'Bug 123: …')")
    visibility = Visibility(args.visibility)
    return run_admin(lambda context: import_files(context, paths, visibility, args.message, args.author))


def register(subcommands: Subcommands) -> None:
    parser = add_command(
        subcommands,
        "import",
        "store local files as an upload would (hashed, verified, batch recorded)",
        "Hash local files and store them as a tooltool.py upload would: one batch record, index "
        "entries, bytes visible only once they hash to their name. Files already stored are skipped.",
        done="every file stored or already there",
        problems="some files failed (one line each)",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="files to store, named by their base name")
    parser.add_argument("--visibility", required=True, choices=[v.value for v in Visibility], help="public or internal")
    parser.add_argument("--message", required=True, help="the batch message, e.g. 'Bug 123: new toolchain'")
    parser.add_argument("--author", default="admin", help="the batch author (default: admin)")
    parser.set_defaults(run=_import)
