"""`python -m benchmarks`: start moto, the proxies and the references, run the cases, write the table.

Figures are ratios against a reference measured in the same run: this machine is shared and
noisy, so absolute numbers drift between runs while ratios hold.
"""

import argparse
import asyncio
import os
import shlex
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import cases
from benchmarks.cases import QUICK, Row, Settings
from benchmarks.deployment import (
    AWS_ENV,
    READER,
    Bucket,
    Seeded,
    pattern,
    record_answer,
    start_moto,
    start_proxy,
    start_reference,
)
from benchmarks.load import signed_headers, wrk_available
from benchmarks.processes import Cores, Server, free_port, pin, running, split_cores, start_server
from benchmarks.report import RunInfo, write_report
from manifests import Visibility

HOT_FILE = b"a small public file everyone downloads\n" * 32
INTERNAL_FILE = b"a small internal file for authenticated downloads\n" * 32


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmark tooltool-proxy's hot paths against references measured in the same run, "
        "and write the table to BENCHMARKS.md. Starts moto_server, the proxy and the references itself; "
        "everything listens on 127.0.0.1. Run it from the repository root. The full run takes about "
        "ten minutes.",
    )
    parser.add_argument("--quick", action="store_true", help="a short smoke run (small file, 1 s loads)")
    parser.add_argument(
        "--output", type=Path, default=Path("BENCHMARKS.md"), help="markdown file to write (default: %(default)s)"
    )
    parser.add_argument(
        "--python-pool", action="store_true", help="load with the aiohttp client pool even where wrk is installed"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = QUICK if args.quick else cases.FULL
    if args.python_pool:
        settings = Settings(**{**settings.__dict__, "use_wrk": False})
    os.environ.update(AWS_ENV)
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.pop("AWS_PROFILE", None)
    cores = split_cores()
    pin(os.getpid(), cores.load)  # this process is a client too (streaming, latency, hashing)
    quiet = _load_average()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tooltool-bench-") as tmp:
        rows = run_cases(settings, cores, Path(tmp))
    info = RunInfo(
        date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        command="python -m benchmarks" + (" " + shlex.join(argv if argv is not None else sys.argv[1:])).rstrip(),
        machine=_machine(),
        load_tool=_load_tool(settings),
        pinning=cores.describe(),
        quiet=quiet,
        duration=f"took {time.monotonic() - started:.0f} s",
    )
    write_report(args.output, rows, info)
    for row in rows:
        verdict = {True: "ok  ", False: "MISS", None: "n/a "}[row.met]
        print(f"{verdict} {row.case}: {row.measured} vs {row.reference} ({row.ratio})")
    print(f"wrote {args.output}")
    return 0


def run_cases(settings: Settings, cores: Cores, workdir: Path) -> list[Row]:
    moto = start_moto(cores)
    with running([moto]) as servers:
        bucket = Bucket(moto.url)
        hot = bucket.put_file(HOT_FILE, Visibility.PUBLIC)
        internal = bucket.put_file(INTERNAL_FILE, Visibility.INTERNAL)
        cold = [bucket.put_file(f"cold file {n}\n".encode(), Visibility.PUBLIC) for n in range(settings.cold_samples)]
        big_data = pattern(settings.big_size)
        big = bucket.put_file(big_data, Visibility.PUBLIC)

        proxy = start_proxy(moto, workdir, cores)
        servers.append(proxy)
        hot_url, internal_url = f"{proxy.url}/sha512/{hot.digest}", f"{proxy.url}/sha512/{internal.digest}"
        hot_reference = start_reference(record_answer(hot_url), workdir, cores, "reference-anonymous")
        servers.append(hot_reference)
        signed = {"Authorization": signed_headers(READER, internal_url, 1)[0]}
        internal_reference = start_reference(record_answer(internal_url, signed), workdir, cores, "reference-hawk")
        servers.append(internal_reference)
        rows = [
            cases.request_rate(
                "anonymous download of a hot public file (302), request logging on",
                0.7,
                (proxy, hot_url),
                (hot_reference, f"{hot_reference.url}/sha512/{hot.digest}"),
                settings,
                cores,
            ),
            cases.request_rate(
                "Hawk-authenticated download of an internal file (static clients)",
                0.5,
                (proxy, internal_url),
                (internal_reference, f"{internal_reference.url}/sha512/{internal.digest}"),
                settings,
                cores,
                hawk=READER,
            ),
        ]
        for server in (hot_reference, internal_reference):
            server.stop()
        workers = start_proxy(moto, workdir, cores, name="proxy-workers", workers=2)
        servers.append(workers)
        rows.append(
            cases.workers_cpu((proxy, hot_url), (workers, f"{workers.url}/sha512/{hot.digest}"), settings, cores)
        )
        workers.stop()

        rows.append(_store_requests(moto, hot, settings, cores, workdir, servers))
        direct_url = record_answer(f"{proxy.url}/sha512/{big.digest}")["headers"]["Location"]
        stream_proxy = start_proxy(moto, workdir, cores, name="proxy-stream", download="stream")
        servers.append(stream_proxy)
        rows.append(asyncio.run(cases.streaming(stream_proxy, moto, direct_url, big, settings, cores)))
        stream_proxy.stop()
        rows.append(asyncio.run(cases.verification(moto.url, bucket, big, big_data, workdir, settings, cores)))
        del big_data
        rows.append(asyncio.run(cases.cold_latency(proxy, moto.url, cold, hot, cores)))
    return _in_issue_order(rows)


def _store_requests(
    moto: Server, hot: Seeded, settings: Settings, cores: Cores, workdir: Path, servers: list[Server]
) -> Row:
    port = free_port()
    counter = start_server(
        "counter",
        ["-m", "benchmarks.counter", "--port", str(port), "--upstream", moto.url],
        port,
        cores=cores.server,
        ready_path="/__counts__",
    )
    servers.append(counter)
    counted = start_proxy(counter, workdir, cores, name="proxy-counted", cache_ttl=f"{settings.cache_ttl:g}")
    servers.append(counted)
    try:
        return asyncio.run(cases.store_requests(counted, counter, hot, settings, cores))
    finally:
        counted.stop()
        counter.stop()


def _in_issue_order(rows: list[Row]) -> list[Row]:
    order = ["anonymous", "Hawk", "server CPU", "streaming", "upload verification", "object-store", "cold download"]
    return sorted(rows, key=lambda row: next(i for i, prefix in enumerate(order) if row.case.startswith(prefix)))


def _machine() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.partition(":")[2].strip()
            break
    return f"{os.cpu_count()} cores (nproc), {model}, Python {sys.version.split()[0]}"


def _load_tool(settings: Settings) -> str:
    if settings.use_wrk and wrk_available():
        return "wrk (Hawk: pre-signed headers, one nonce per request, sent by a Lua script) for the request rates"
    return "the aiohttp client pool of benchmarks/load.py (wrk not installed or --python-pool)"


def _load_average() -> str:
    try:
        one_minute = float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return "unknown"
    return f"1-minute load average {one_minute:.2f}" + (" (quiet)" if one_minute < 0.8 else " (busy: other work ran)")
