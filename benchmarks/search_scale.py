"""Search at scale (issue 3 §2): build a store of N files and M batches, compact its journal
with `tooltool-proxy catalog compact`, then measure the real Catalog on it.

    python -m benchmarks.search_scale --files 100000 --batches 50000

The store holds what the proxy would have written over the years: an index object and a batch
record per upload, each with its journal record stamped at its upload time. Measured: the cold
load (snapshot + journal), the catalog's memory, warm search latency per kind of query, and the
store requests a warm search makes (counted by a wrapper around the store). Prints markdown.
"""

import argparse
import asyncio
import gc
import hashlib
import json
import os
import random
import shutil
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, cast

from manifests import Batch, IndexEntry, UploadFile, Visibility
from proxy import cli
from proxy.catalog import SEARCH_RESULT_LIMIT, SNAPSHOT_KEY, Catalog, CatalogState
from proxy.concurrency import map_concurrently
from proxy.config import Config, load_config
from proxy.index import FileIndex
from proxy.journal import journal_key
from proxy.keys import batch_key, index_key
from proxy.storage import ObjectStore
from proxy.stores import Stores, open_location

WRITE_CONCURRENCY = 64
HISTORY_SECONDS = 3 * 365 * 86400  # uploads spread over three years
TOOLS = [
    "gcc", "clang", "rustc", "cargo", "sccache", "node", "nasm", "yasm", "cmake", "ninja", "python",
    "wasi-sdk", "binutils", "gdb", "llvm-symbolizer", "dump_syms", "fix-stacks", "minidump-stackwalk",
    "android-sdk", "android-ndk", "jdk", "gradle", "xcode-sdk", "macosx-sdk", "windows-sdk", "vs2019",
    "mingw32", "nsis", "upx", "grcov", "cbindgen", "pkgconf", "zstd", "xz", "tar", "makecab",
]  # fmt: skip
PLATFORMS = ["linux64", "linux32", "macosx64", "win64", "win32", "android-aarch64"]
AUTHORS = [f"project/releng/services/tooltool/bug{1_400_000 + n}" for n in range(40)] + ["releng-bot"]


@dataclass(frozen=True)
class Query:
    kind: str  # what the row measures
    what: str  # "file" or "upload"
    text: str


class CountingStore:
    """The real store, with a count of the requests made through it (by method name)."""

    REQUESTS = {"head", "read", "write", "write_stream", "open_range", "delete", "list_keys", "copy_if_unchanged"}

    def __init__(self, inner: ObjectStore) -> None:
        self.inner = inner
        self.counts: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.inner, name)
        if name not in self.REQUESTS:
            return target

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.counts[name] += 1
            return target(*args, **kwargs)

        return counted


def filename(rng: random.Random, tool: str) -> str:
    version = f"{rng.randint(1, 20)}.{rng.randint(0, 9)}.{rng.randint(0, 30)}"
    return f"{tool}-{version}-{rng.choice(PLATFORMS)}.tar.{rng.choice(['xz', 'zst', 'gz', 'bz2'])}"


def make_history(files: int, batches: int, seed: int = 1) -> list[tuple[float, Batch, list[IndexEntry]]]:
    """`batches` uploads of `files` distinct files in all (one to a few each), oldest first."""
    rng = random.Random(seed)  # noqa: S311 - made-up test data, not secrets
    now = time.time()
    sizes = [1] * batches
    for _ in range(files - batches):
        sizes[rng.randrange(batches)] += 1
    history = []
    number = 0
    for batch_number, size in enumerate(sizes):
        moment = now - HISTORY_SECONDS * (1 - (batch_number + rng.random()) / batches)
        uploaded = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(moment))
        author = rng.choice(AUTHORS)
        tool = rng.choice(TOOLS)
        visibility = Visibility.INTERNAL if rng.random() < 0.2 else Visibility.PUBLIC
        uploads, entries = [], []
        for _ in range(size):
            name = filename(rng, tool)
            digest = _digest(number)
            number += 1
            size_bytes = rng.randint(1000, 2_000_000_000)
            uploads.append(UploadFile(name, size_bytes, digest, visibility))
            entries.append(IndexEntry(digest, size_bytes, visibility, ("local",), (name,), uploaded, author))
        message = f"Bug {1_000_000 + rng.randrange(900_000)}: update {tool} for {rng.choice(PLATFORMS)}"
        batch = Batch(int(moment * 1000) * 1000 + batch_number % 1000, uploaded, author, message, tuple(uploads))
        history.append((moment, batch, entries))
    return history


def _digest(number: int) -> str:
    return hashlib.sha512(f"file {number}".encode()).hexdigest()


async def build(store: ObjectStore, files: int, batches: int) -> int:
    """Write what the proxy would have: index objects, batch records and their journal records."""
    writes: list[tuple[str, bytes]] = []
    for moment, batch, entries in make_history(files, batches):
        writes.append((batch_key(batch.id), batch.to_json()))
        writes.append((journal_key(moment), _record("batch", batch.to_json())))
        for entry in entries:
            writes.append((index_key(entry.digest), entry.to_json()))
            writes.append((journal_key(moment + 1), _record("file", entry.to_json())))
    done = 0

    async def write(item: tuple[str, bytes]) -> None:
        nonlocal done
        await store.write(*item)
        done += 1
        if done % 50_000 == 0:
            print(f"  built {done}/{len(writes)} objects", file=sys.stderr, flush=True)

    await map_concurrently(write, writes, WRITE_CONCURRENCY)
    return len(writes)


def _record(kind: str, doc: bytes) -> bytes:
    return json.dumps({"kind": kind, "doc": json.loads(doc)}, sort_keys=True).encode()


def queries(state: CatalogState) -> list[Query]:
    """Queries of each kind, the specific ones taken from what the store holds."""
    digest = sorted(state.files)[len(state.files) // 2]
    name = state.files[digest].filenames[0]
    batch = state.batches[sorted(state.batches)[len(state.batches) // 2]]
    return [
        Query("file: one letter (capped)", "file", "a"),
        Query("file: short substring", "file", "gcc"),
        Query("file: long substring (a whole filename)", "file", name),
        Query("file: no match (full scan)", "file", "no-such-tool"),
        Query("file: digest prefix, 8 hex", "file", digest[:8]),
        Query("file: digest prefix, 2 hex", "file", digest[:2]),
        Query("upload: author", "upload", batch.author),
        Query("upload: message, common word (capped)", "upload", "update"),
        Query("upload: message, one bug", "upload", batch.message.split(":")[0]),
        Query("upload: no match (full scan)", "upload", "no-such-message"),
    ]


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def open_catalog(config: Config, refresh_seconds: float) -> tuple[Catalog, CountingStore]:
    home = await open_location(config.store, "local" if config.store.is_local else config.s3_region, config)
    counting = CountingStore(home)
    store = cast(ObjectStore, counting)
    index = FileIndex(Stores(home=store, regions={"local": store}), ttl=3600, maxsize=config.cache_size)
    return Catalog(index, refresh_seconds=refresh_seconds), counting


async def measure(config: Config, repeats: int) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    catalog, counting = await open_catalog(config, refresh_seconds=0)  # every search refreshes: the worst case
    started = time.perf_counter()
    state = await catalog.current()
    figures["cold_load"] = time.perf_counter() - started
    figures["cold_requests"] = dict(counting.counts)
    figures["snapshot_bytes"] = (await catalog.store.head(SNAPSHOT_KEY)).size  # type: ignore[union-attr]

    readers: dict[str, frozenset[Visibility]] = {
        "internal + public": frozenset(Visibility),
        "public only (anonymous)": frozenset({Visibility.PUBLIC}),
    }
    rows = []
    for query in queries(state):
        for reader, readable in readers.items():
            search: Callable[..., Any] = catalog.search_files if query.what == "file" else catalog.search_batches
            found = await search(query.text, readable)  # warms the index cache used to confirm public files
            row: dict[str, Any] = {"query": query, "reader": reader, "results": len(found.results)}
            for mode, interval in (("refreshing", 0.0), ("within", 3600.0)):
                catalog.refresh_seconds = interval
                latencies, requests = [], Counter[str]()
                for _ in range(repeats):
                    counting.counts.clear()
                    began = time.perf_counter()
                    await search(query.text, readable)
                    latencies.append(time.perf_counter() - began)
                    requests = max(requests, Counter(counting.counts), key=lambda c: sum(c.values()))
                row[mode] = {
                    "p50": percentile(latencies, 0.5),
                    "p99": percentile(latencies, 0.99),
                    "requests": requests,
                }
            rows.append(row)
    figures["rows"] = rows
    await catalog.store.close()
    figures.update(await measure_memory(config))
    return figures


async def measure_memory(config: Config) -> dict[str, Any]:
    """Bytes the loaded catalog holds (tracemalloc; it slows loading, so it is timed apart)."""
    catalog, _ = await open_catalog(config, refresh_seconds=3600)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    state = await catalog.load()
    # Build the texts searched, as the first search does.
    next(state.files_after("", frozenset(Visibility)), None)
    next(state.batch_files_after("", frozenset(Visibility)), None)
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    await catalog.store.close()
    return {"memory": held, "files": len(state.files), "batches": len(state.batches)}


def compact(env: dict[str, str]) -> float:
    """`tooltool-proxy catalog compact`, the real command, timed."""
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        started = time.perf_counter()
        status = cli.main(["catalog", "compact"])
        elapsed = time.perf_counter() - started
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    if status != 0:
        raise SystemExit(f"catalog compact failed with status {status}")
    return elapsed


def report(
    args: argparse.Namespace, where: str, built: tuple[int, float], compaction: float, figures: dict[str, Any]
) -> str:
    mib = 1024**2
    lines = [
        f"Store: {figures['files']:,} files, {figures['batches']:,} batches ({where}); "
        + (f"built with {built[0]:,} objects in {built[1]:.0f} s." if built[0] else "built by an earlier run."),
        "",
        "| measure | value |",
        "|---|---|",
        f"| `catalog compact` {'of the whole journal (first run)' if built[0] else '(nothing new)'} "
        f"| {compaction:.1f} s |",
        f"| snapshot `{SNAPSHOT_KEY}` | {figures['snapshot_bytes'] / mib:.1f} MiB |",
        f"| cold load (snapshot + journal since) | {figures['cold_load']:.2f} s, "
        f"store requests {_requests(figures['cold_requests'])} |",
        f"| catalog memory (tracemalloc) | {figures['memory'] / mib:.0f} MiB |",
        f"| result cap | {SEARCH_RESULT_LIMIT} |",
        "",
        f"Warm searches, {args.repeats} runs each: when the refresh is due (every search refreshing: "
        "refresh interval 0, the worst case) and within the refresh interval (default 5 s):",
        "",
        "| query | caller sees | results | refreshing: p50 / p99 ms | store requests | "
        "within the interval: p50 / p99 ms | store requests |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in figures["rows"]:
        query: Query = row["query"]
        cells = [query.kind, row["reader"], str(row["results"])]
        for mode in ("refreshing", "within"):
            figure = row[mode]
            cells.append(f"{figure['p50'] * 1000:.1f} / {figure['p99'] * 1000:.1f}")
            cells.append(_requests(figure["requests"]))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _requests(counts: dict[str, int]) -> str:
    names = {"list_keys": "LIST", "read": "GET", "head": "HEAD"}
    return ", ".join(f"{count} {names.get(kind, kind)}" for kind, count in sorted(counts.items())) or "none"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.search_scale",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--files", type=int, default=100_000, help="files in the store (default 100000)")
    parser.add_argument("--batches", type=int, default=50_000, help="upload batches (default 50000; at most --files)")
    parser.add_argument(
        "--store",
        help="where to build: file:///dir (must be empty) or s3://bucket[/prefix] (default: a temporary directory)",
    )
    parser.add_argument("--s3-endpoint-url", help="S3-compatible endpoint for an s3:// --store (MinIO, moto)")
    parser.add_argument("--reuse", action="store_true", help="measure a store this script built before; build nothing")
    parser.add_argument("--repeats", type=int, default=50, help="timed runs of each query (default 50)")
    args = parser.parse_args(argv)
    if not 0 < args.batches <= args.files:
        parser.error("--batches must be between 1 and --files")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    temporary = None if args.store else tempfile.mkdtemp(prefix="search-scale-")
    env = {"TOOLTOOL_STORE": args.store or f"file://{temporary}"}
    if args.s3_endpoint_url:
        env["TOOLTOOL_S3_ENDPOINT_URL"] = args.s3_endpoint_url
    config = load_config(env)
    where = "local directory" if config.store.is_local else f"S3 at {args.s3_endpoint_url or 'AWS'}"
    try:
        built = (0, 0.0)
        if not args.reuse:
            print(f"building {args.files} files and {args.batches} batches in {env['TOOLTOOL_STORE']}", file=sys.stderr)
            built = asyncio.run(_build(config, args.files, args.batches))
        compaction = compact(env)
        figures = asyncio.run(measure(config, args.repeats))
        print(report(args, where, built, compaction, figures))
    finally:
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)


async def _build(config: Config, files: int, batches: int) -> tuple[int, float]:
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(WRITE_CONCURRENCY))
    store = await open_location(config.store, "local", config)
    started = time.perf_counter()
    try:
        written = await build(store, files, batches)
    finally:
        await store.close()
    return written, time.perf_counter() - started


if __name__ == "__main__":
    main()
