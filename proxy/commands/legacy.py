"""`tooltool-proxy import-legacy EXPORT`: index objects and batch records from the legacy database.

EXPORT is one JSON object holding the four tables of the legacy (relengapi) tooltool schema,
as the SQL in README.md ("Importing from the legacy service") produces it:
    {"files": [{"id", "size", "sha512", "visibility"}], "file_instances": [{"file_id", "region"}],
     "batches": [{"id", "uploaded", "author", "message"}],
     "batch_files": [{"batch_id", "file_id", "filename"}]}
Every row is validated, and every document built from them read back as the proxy would read
it, before anything is written: a bad row writes nothing. A re-run writes only what differs.
"""

import argparse
import functools
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from manifests import Batch, IndexEntry, UploadFile, ValidationError, Visibility, is_valid_digest, parse_visibility
from manifests.manifest import validate_filename
from proxy.commands.admin import AdminContext, run_admin
from proxy.commands.command import CommandError, Subcommands, add_command
from proxy.commands.progress import Progress
from proxy.concurrency import for_each
from proxy.keys import batch_key, index_key

TABLES = ("files", "file_instances", "batches", "batch_files")
CONCURRENCY = 16


def _int(row: dict[str, Any], key: str) -> int:
    value = row.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationError(f"'{key}' must be an integer")
    return value


def _text(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    if not isinstance(value, str):
        raise ValidationError(f"'{key}' must be a string")
    return value


def normalize_timestamp(value: str) -> str:
    """The legacy `uploaded` (an ISO time, UTC when it names no zone) in batch-record form."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"'uploaded' is not an ISO 8601 time: {value[:40]!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class LegacyFile:
    digest: str
    size: int
    visibility: Visibility


@dataclass(frozen=True)
class LegacyBatch:
    uploaded: str
    author: str
    message: str


@dataclass
class LegacyTables:
    """The export's rows, checked one by one; `problems` says what was wrong with which row."""

    files: dict[int, LegacyFile] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)  # sha512 -> file id
    regions: dict[int, set[str]] = field(default_factory=dict)  # file id -> regions
    batches: dict[int, LegacyBatch] = field(default_factory=dict)
    members: dict[int, dict[str, int]] = field(default_factory=dict)  # batch id -> filename -> file id
    problems: list[str] = field(default_factory=list)

    def read(self, tables: dict[str, list[Any]]) -> None:
        readers: dict[str, Callable[[dict[str, Any]], None]] = {
            "files": self._file,
            "file_instances": self._instance,
            "batches": self._batch,
            "batch_files": self._batch_file,
        }
        for table in TABLES:  # in this order: rows refer to files and batches read before them
            for number, row in enumerate(tables[table]):
                try:
                    if not isinstance(row, dict):
                        raise ValidationError("must be a JSON object")
                    readers[table](row)
                except ValidationError as exc:
                    self.problems.append(f"{table}[{number}]{_row_id(row)}: {exc}")

    def _file(self, row: dict[str, Any]) -> None:
        file_id, size, digest = _int(row, "id"), _int(row, "size"), _text(row, "sha512")
        if not is_valid_digest(digest):
            raise ValidationError("'sha512' must be 128 lower-case hex characters")
        visibility = parse_visibility(row.get("visibility"))
        if file_id in self.files:
            raise ValidationError(f"file id {file_id} appears twice")
        if digest in self.ids:
            raise ValidationError(f"sha512 {digest[:16]}… is also file id {self.ids[digest]}")
        self.files[file_id] = LegacyFile(digest, size, visibility)
        self.ids[digest] = file_id

    def _instance(self, row: dict[str, Any]) -> None:
        file_id, region = self._known_file(row), _text(row, "region")
        if not region.strip():
            raise ValidationError("'region' must not be empty")
        self.regions.setdefault(file_id, set()).add(region)

    def _batch(self, row: dict[str, Any]) -> None:
        batch_id = _int(row, "id")
        uploaded = normalize_timestamp(_text(row, "uploaded"))
        if batch_id in self.batches:
            raise ValidationError(f"batch id {batch_id} appears twice")
        self.batches[batch_id] = LegacyBatch(uploaded, _text(row, "author"), _text(row, "message"))

    def _batch_file(self, row: dict[str, Any]) -> None:
        batch_id, file_id, filename = _int(row, "batch_id"), self._known_file(row), _text(row, "filename")
        validate_filename(filename)
        if batch_id not in self.batches:
            raise ValidationError(f"batch_id {batch_id} is not in 'batches'")
        named = self.members.setdefault(batch_id, {})
        if named.get(filename, file_id) != file_id:
            raise ValidationError(f"batch {batch_id} names two files {filename!r}")
        named[filename] = file_id

    def _known_file(self, row: dict[str, Any]) -> int:
        file_id = _int(row, "file_id")
        if file_id not in self.files:
            raise ValidationError(f"file_id {file_id} is not in 'files'")
        return file_id


def _row_id(row: Any) -> str:
    if isinstance(row, dict) and isinstance(row.get("id"), int):
        return f" (id {row['id']})"
    return ""


def build_documents(tables: LegacyTables) -> tuple[list[IndexEntry], list[Batch]]:
    """Index entries and batch records, each read back as the proxy reads them (problems noted)."""
    batches = []
    for batch_id, legacy_batch in sorted(tables.batches.items()):
        named = sorted(tables.members.get(batch_id, {}).items())
        files = tuple(_upload_file(filename, tables.files[file_id]) for filename, file_id in named)
        batch = Batch(batch_id, legacy_batch.uploaded, legacy_batch.author, legacy_batch.message, files)
        try:
            Batch.from_json(batch.to_json())
        except ValidationError as exc:
            tables.problems.append(f"batch {batch_id}: {exc}")
        batches.append(batch)

    names: dict[int, set[str]] = {}
    batch_ids: dict[int, list[int]] = {}
    for batch_id, by_name in tables.members.items():
        for filename, file_id in by_name.items():
            names.setdefault(file_id, set()).add(filename)
            batch_ids.setdefault(file_id, []).append(batch_id)
    entries = []
    for file_id, legacy_file in sorted(tables.files.items()):
        # The first upload is the earliest batch that named the file.
        first = min(batch_ids.get(file_id, []), key=lambda b: (tables.batches[b].uploaded, b), default=None)
        first_batch = tables.batches[first] if first is not None else None
        entry = IndexEntry(
            digest=legacy_file.digest,
            size=legacy_file.size,
            visibility=legacy_file.visibility,
            instances=tuple(sorted(tables.regions.get(file_id, ()))),
            filenames=tuple(sorted(names.get(file_id, ()))),
            uploaded=first_batch.uploaded if first_batch else None,
            author=first_batch.author if first_batch else None,
        )
        try:
            IndexEntry.from_json(entry.to_json(), entry.digest)
        except ValidationError as exc:
            tables.problems.append(f"file id {file_id}: {exc}")
        entries.append(entry)
    return entries, batches


def _upload_file(filename: str, file: LegacyFile) -> UploadFile:
    return UploadFile(filename, file.size, file.digest, file.visibility)


def merge(stored: IndexEntry | None, legacy: IndexEntry) -> IndexEntry:
    """The export decides size, visibility and first upload; regions and filenames add up."""
    if stored is None:
        return legacy
    if stored.size != legacy.size:
        raise ValidationError(f"size {legacy.size} differs from the stored index object's {stored.size}")
    return replace(
        legacy,
        instances=tuple(sorted({*stored.instances, *legacy.instances})),
        filenames=tuple(sorted({*stored.filenames, *legacy.filenames})),
        uploaded=legacy.uploaded or stored.uploaded,
        author=legacy.author or stored.author,
        extra=stored.extra,
    )


@dataclass
class Plan:
    """What the import writes: only documents missing or different in the store."""

    entries: list[IndexEntry] = field(default_factory=list)
    batches: list[Batch] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    problems: list[str] = field(default_factory=list)

    def needs_write(self, key: str, stored: bytes | None, wanted: bytes, existing: bytes | None) -> bool:
        """Count the document as created, updated or unchanged; True when it must be written.

        `stored` is what the store holds, `existing` the same normalized (None if invalid)."""
        if existing == wanted:
            self.unchanged += 1
            return False
        (self.created if stored is None else self.updated).append(key)
        return True


async def plan_writes(context: AdminContext, entries: list[IndexEntry], batches: list[Batch]) -> Plan:
    plan = Plan()
    with Progress("import-legacy: reading the store", len(entries) + len(batches), unit="object") as progress:

        async def plan_entry(entry: IndexEntry) -> None:
            key = index_key(entry.digest)
            stored = await context.index.store.read(key)
            existing = None
            if stored is not None:
                try:
                    existing = IndexEntry.from_json(stored, entry.digest)
                except ValidationError:
                    existing = None  # replaced by the export's entry
            try:
                merged = merge(existing, entry)
            except ValidationError as exc:
                plan.problems.append(f"{key}: {exc}")
            else:
                if plan.needs_write(key, stored, merged.to_json(), existing.to_json() if existing else None):
                    plan.entries.append(merged)
            progress.advance()

        async def plan_batch(batch: Batch) -> None:
            key = batch_key(batch.id)
            stored = await context.batches.store.read(key)
            if plan.needs_write(key, stored, batch.to_json(), _normalized_batch(stored)):
                plan.batches.append(batch)
            progress.advance()

        await for_each(entries, plan_entry, CONCURRENCY)
        await for_each(batches, plan_batch, CONCURRENCY)
    return plan


def _normalized_batch(stored: bytes | None) -> bytes | None:
    if stored is None:
        return None
    try:
        return Batch.from_json(stored).to_json()
    except ValidationError:
        return None


async def write_plan(context: AdminContext, plan: Plan) -> None:
    async def write_entry(entry: IndexEntry) -> None:
        # Merged again with what is stored when the write lands: what a replica committed or
        # changed since the plan was made stays.
        await context.index.update(entry.digest, lambda stored: merge(stored, entry), replace_invalid=True)

    writes: list[Callable[[], Awaitable[None]]] = [
        *(functools.partial(write_entry, entry) for entry in plan.entries),
        *(functools.partial(context.batches.put, batch) for batch in plan.batches),
    ]
    with Progress("import-legacy: writing", len(writes), unit="object") as progress:

        async def write(one: Callable[[], Awaitable[None]]) -> None:
            await one()
            progress.advance()

        await for_each(writes, write, CONCURRENCY)


def load_export(path: Path) -> dict[str, list[Any]]:
    how = "produce it with the SQL in README.md, 'Importing from the legacy service'"
    try:
        doc = json.loads(path.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CommandError(f"{path} is not JSON ({exc}); {how}") from None
    if not isinstance(doc, dict) or not all(table in doc for table in TABLES):
        raise CommandError(f"{path} is not a legacy export: it needs the keys {', '.join(TABLES)}; {how}")
    tables = {}
    for table in TABLES:
        rows = doc[table] if doc[table] is not None else []  # json_agg over no rows is null
        if not isinstance(rows, list):
            raise CommandError(f"{path}: {table!r} must be a list of rows; {how}")
        tables[table] = rows
    return tables


async def import_legacy(context: AdminContext, tables: LegacyTables, dry_run: bool) -> int:
    entries, batches = build_documents(tables)
    if tables.problems:
        return _refuse(tables.problems)
    plan = await plan_writes(context, entries, batches)
    if plan.problems:
        return _refuse(plan.problems)
    unconfigured = sorted({r for e in entries for r in e.instances} - set(context.stores.regions))
    if unconfigured:
        print(
            f"note: regions {', '.join(unconfigured)} are not configured (TOOLTOOL_REGIONS); "
            "downloads look for those files in the default region",
            file=sys.stderr,
        )
    if dry_run:
        for key in sorted(plan.created):
            print(f"would create {key}")
        for key in sorted(plan.updated):
            print(f"would update {key}")
    else:
        await write_plan(context, plan)
    verb = "would write" if dry_run else "wrote"
    print(
        f"import-legacy: {len(entries)} files, {len(batches)} batches; {verb} {len(plan.created)} new and "
        f"{len(plan.updated)} changed documents; {plan.unchanged} already up to date"
    )
    return 0


def _refuse(problems: list[str]) -> int:
    for problem in problems:
        print(problem)
    print(f"import-legacy: {len(problems)} bad rows or conflicts; nothing was written")
    return 1


def _import_legacy(args: argparse.Namespace) -> int:
    tables = LegacyTables()
    tables.read(load_export(Path(args.export)))
    return run_admin(lambda context: import_legacy(context, tables, args.dry_run))


def register(subcommands: Subcommands) -> None:
    parser = add_command(
        subcommands,
        "import-legacy",
        "build index objects and batch records from the legacy database's export",
        "Build index objects and batch records from a JSON export of the legacy service's "
        "PostgreSQL tables (README.md, 'Importing from the legacy service'). Every row is checked "
        "first: any bad row and nothing is written. Safe to re-run: only what differs is written.",
        done="imported (or already up to date)",
        problems="bad rows or conflicts with the store (one line each); nothing written",
    )
    parser.add_argument("export", metavar="EXPORT", help="the JSON export")
    parser.add_argument("--dry-run", action="store_true", help="print what would be written, write nothing")
    parser.set_defaults(run=_import_legacy)
