"""`python -m benchmarks.upload`: how fast `tooltool-proxy upload` moves a big file, against reading it.

    python -m benchmarks.upload [--mib 256] [--runs 3] [--tooltool PATH] [--json]

One file of `--mib` random MiB is uploaded `--runs` times with `tooltool-proxy upload` (the whole
command, interpreter start included) to the embedded default: `tooltool-proxy serve` with a fresh
local directory each run, on 127.0.0.1, nothing pinned (client and server share the machine's
cores, as on a developer's machine). Just before each upload the references are measured in this
process on the same file, in 4 MiB chunks: reading it from the page cache (it was just read),
reading it cold (evicted from the page cache first with POSIX_FADV_DONTNEED, so from the disk),
reading it while hashing it with sha512, and hashing 4 MiB blocks already in memory (the sha512
rate H). The protocol's bound for this machine follows from H: the uploader must hash the file
once before it sends anything and the server once as it arrives, so no upload can beat 1 / (2/H),
that is H/2. The file is evicted again just before the upload, so the upload reads it from disk
as the cold reference does. Rates are medians and bests of the runs; each ratio is a run's upload
rate over the reference's rate measured just before it, and the report gives their median and best.
On a shared machine rates follow the load; CPU seconds much less so. The report also gives the CPU
the upload command and the server used for the upload, against the CPU of the bound's two passes.

The server's log gives the PUT and upload/complete times of each run, so the report splits the
upload into the client's part (start, manifest check) and the server's (receive, verify).

Each run also uploads the same file with tooltool.py's own upload, to a fresh server of its own:
the real tooltool.py when `--tooltool PATH` names a copy of it, else a stand-in with its shape
(tests/support/tooltool_client.py's upload, which sends the file with http.client in 8 KiB blocks, run in
a thread while the main thread polls `is_alive()` without sleeping, as tooltool.py's join loop
does). With the real tooltool.py, use `--runs 1`: the issue saw it move under 1 MiB a second.
"""

import argparse
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.processes import Server, free_port, start_server
from tests.support import tooltool_client

MIB = 1024 * 1024
READ_CHUNK = 4 * MIB


@dataclass(frozen=True)
class Sample:
    read_s: float
    cold_read_s: float
    read_hash_s: float
    hash_s: float
    upload_s: float
    client_cpu_s: float
    server_cpu_s: float
    hash_cpu_s: float
    server_put_s: float
    server_complete_s: float
    start_s: float
    tooltool_s: float


def make_file(directory: Path, name: str, mib: int, visibility: str = "public") -> Path:
    """`mib` MiB of random bytes and their manifest.tt in `directory`; returns the file."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    digest = hashlib.sha512()
    remaining = mib * MIB
    with path.open("wb") as file:
        while remaining:
            chunk = os.urandom(min(READ_CHUNK, remaining))
            digest.update(chunk)
            file.write(chunk)
            remaining -= len(chunk)
        file.flush()
        os.fsync(file.fileno())  # dirty pages cannot be evicted: make them clean
    record = {
        "filename": name,
        "size": path.stat().st_size,
        "algorithm": "sha512",
        "digest": digest.hexdigest(),
        "visibility": visibility,
    }
    (directory / "manifest.tt").write_text(json.dumps([record], indent=2) + "\n")
    return path


def time_read(path: Path, digest: Callable[[memoryview], object] | None = None) -> float:
    buffer = bytearray(READ_CHUNK)
    view = memoryview(buffer)
    started = time.perf_counter()
    with path.open("rb", buffering=0) as file:
        while count := file.readinto(buffer):
            if digest is not None:
                digest(view[:count])
    return time.perf_counter() - started


def time_read_and_hash(path: Path) -> float:
    return time_read(path, hashlib.sha512().update)


def evict(path: Path) -> None:
    """Drop the file's pages from the page cache, so that the next read comes from the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def time_cold_read(path: Path) -> float:
    evict(path)
    return time_read(path)


def time_hash(mib: int) -> tuple[float, float]:
    """sha512 of `mib` MiB already in memory (4 MiB blocks): (wall, CPU) seconds; H = mib / wall."""
    block = os.urandom(READ_CHUNK)
    digest = hashlib.sha512()
    started, cpu_started = time.perf_counter(), time.process_time()
    for _ in range(mib * MIB // READ_CHUNK):
        digest.update(block)
    return time.perf_counter() - started, time.process_time() - cpu_started


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a running process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    """User + system CPU seconds of the finished child processes (the upload command)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def embedded_server(root: Path) -> Iterator[tuple[Server, Path, Path]]:
    """`tooltool-proxy serve` on a fresh local directory; yields it, its admin auth file and its log."""
    root.mkdir(parents=True)
    data = root / "tooltool-data"
    log = root / "serve.log"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOOLTOOL_", "TASKCLUSTER_"))}
    env["TOOLTOOL_STORE"] = f"file://{data}"
    env["TOOLTOOL_LOG_FLUSH_SECONDS"] = "0"  # the report reads the request log while the server runs
    server = start_server(
        "proxy", ["-m", "proxy", "serve", "--port", str(port)], port, cores=None, env=env, log_path=log
    )
    try:
        yield server, data / "admin-auth.json", log
    finally:
        server.stop()


def request_seconds(log: Path, method: str, path_start: str) -> float:
    """The `t` of the request.summary lines for these requests, added up (seconds)."""
    total = 0.0
    for line in log.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        fields = record.get("Fields", {})
        if (
            record.get("Type") == "request.summary"
            and fields.get("method") == method
            and str(fields.get("path", "")).startswith(path_start)
        ):
            total += float(fields["t"]) / 1000
    return total


def command_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("TOOLTOOL_", "TASKCLUSTER_"))}


def run_uploader(url: str, auth_file: Path, manifest: Path) -> float:
    command = [
        sys.executable,
        "-m",
        "proxy",
        "upload",
        "--url",
        url + "/",
        "--authentication-file",
        str(auth_file),
        "--message",
        "Bug 11: benchmark",
        "-m",
        str(manifest),
    ]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=command_env(), check=False)  # noqa: S603
    elapsed = time.perf_counter() - started
    if done.returncode != 0 or "1 uploaded" not in done.stdout:
        raise RuntimeError(f"tooltool-proxy upload failed ({done.returncode}): {done.stdout}{done.stderr}")
    return elapsed


def time_start() -> float:
    """`tooltool-proxy upload --help`: the interpreter's start and the CLI's imports."""
    started = time.perf_counter()
    command = [sys.executable, "-m", "proxy", "upload", "--help"]
    subprocess.run(command, capture_output=True, env=command_env(), check=True)  # noqa: S603
    return time.perf_counter() - started


def run_tooltool_py(tooltool: Path, url: str, auth_file: Path, manifest: Path) -> float:
    """The real tooltool.py (it reads the manifest's files from its working directory)."""
    command = [
        sys.executable,
        str(tooltool),
        "--url",
        url + "/",
        "--authentication-file",
        str(auth_file),
        "upload",
        "--message",
        "Bug 11: benchmark",
        "-m",
        manifest.name,
    ]
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603
        command, cwd=manifest.parent, capture_output=True, text=True, env=command_env(), check=False
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"tooltool.py upload failed ({done.returncode}): {done.stderr[-2000:]}")
    return elapsed


def upload_like_tooltool_py(url: str, auth_file: Path, path: Path) -> None:
    """tooltool.py's shape: the upload in a thread, the main thread polling it without sleeping."""
    failure: list[BaseException] = []

    def upload() -> None:
        try:
            tooltool_client.upload(url, auth_file, {path: "public"}, "Bug 11: benchmark")
        except BaseException as exc:  # reported by the main thread
            failure.append(exc)

    worker = threading.Thread(target=upload, daemon=True)
    worker.start()
    while worker.is_alive():
        pass
    if failure:
        raise RuntimeError(f"the tooltool.py-shaped upload failed: {failure[0]!r}")


def run_tooltool_shaped(url: str, auth_file: Path, path: Path) -> float:
    """The stand-in in a process of its own, interpreter start included, as tooltool.py runs."""
    command = [sys.executable, "-m", "benchmarks.upload", "--stand-in", url + "/", str(auth_file), str(path)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=command_env(), check=False)  # noqa: S603
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"the tooltool.py-shaped upload failed: {done.stderr[-2000:]}")
    return elapsed


def measure(root: Path, mib: int, runs: int, tooltool: Path | None) -> list[Sample]:
    path = make_file(root / "upload", "toolchain.tar.xz", mib)
    manifest = path.parent / "manifest.tt"
    samples = []
    for run in range(runs):
        with embedded_server(root / f"server-tooltool-{run}") as (server, auth_file, _):
            if tooltool is not None:
                tooltool_s = run_tooltool_py(tooltool, server.url, auth_file, manifest)
            else:
                tooltool_s = run_tooltool_shaped(server.url, auth_file, path)
        with embedded_server(root / f"server-{run}") as (server, auth_file, log):
            cold_read_s = time_cold_read(path)
            read_s = time_read(path)
            read_hash_s = time_read_and_hash(path)
            hash_s, hash_cpu_s = time_hash(mib)
            evict(path)
            client_cpu, server_cpu = children_cpu_seconds(), process_cpu_seconds(server.pid)
            upload_s = run_uploader(server.url, auth_file, manifest)
            client_cpu, server_cpu = children_cpu_seconds() - client_cpu, process_cpu_seconds(server.pid) - server_cpu
            samples.append(
                Sample(
                    read_s=read_s,
                    cold_read_s=cold_read_s,
                    read_hash_s=read_hash_s,
                    hash_s=hash_s,
                    upload_s=upload_s,
                    client_cpu_s=client_cpu,
                    server_cpu_s=server_cpu,
                    hash_cpu_s=hash_cpu_s,
                    server_put_s=request_seconds(log, "PUT", "/upload/put/"),
                    server_complete_s=request_seconds(log, "GET", "/upload/complete/"),
                    start_s=time_start(),
                    tooltool_s=tooltool_s,
                )
            )
        print(
            f"run {run + 1}/{runs}: tooltool-proxy upload {mib / upload_s:.0f} MiB/s, "
            f"tooltool.py {mib / tooltool_s:.0f} MiB/s",
            file=sys.stderr,
        )
    return samples


def rates(mib: int, seconds: list[float]) -> dict[str, float]:
    return {"median_mib_s": mib / statistics.median(seconds), "best_mib_s": mib / min(seconds)}


def ratios(values: list[float]) -> dict[str, float]:
    """Per-run ratios (the upload and its reference measured moments apart): median and best."""
    return {"median": statistics.median(values), "best": max(values)}


def report(
    mib: int, samples: list[Sample], tooltool_kind: str, load_at_start: tuple[float, ...] = ()
) -> dict[str, object]:
    def median(values: list[float]) -> float:
        return statistics.median(values)

    result: dict[str, object] = {
        "file_mib": mib,
        "runs": len(samples),
        "read": rates(mib, [s.read_s for s in samples]),
        "cold_read": rates(mib, [s.cold_read_s for s in samples]),
        "read_sha512": rates(mib, [s.read_hash_s for s in samples]),
        "sha512": rates(mib, [s.hash_s for s in samples]),
        # One sha512 pass before sending and one on arrival: the fastest this protocol allows.
        "protocol_bound": rates(mib, [2 * s.hash_s for s in samples]),
        "upload": rates(mib, [s.upload_s for s in samples]),
        "tooltool": rates(mib, [s.tooltool_s for s in samples]),
        "tooltool_kind": tooltool_kind,
        "ratio_to_read": ratios([s.read_s / s.upload_s for s in samples]),
        "ratio_to_cold_read": ratios([s.cold_read_s / s.upload_s for s in samples]),
        "ratio_to_read_sha512": ratios([s.read_hash_s / s.upload_s for s in samples]),
        "ratio_to_protocol_bound": ratios([2 * s.hash_s / s.upload_s for s in samples]),
        "speedup_over_tooltool": ratios([s.tooltool_s / s.upload_s for s in samples]),
        # CPU seconds hold up better than rates on a shared machine: the protocol's two sha512
        # passes over what the upload's two processes used, client and server together.
        "cpu_ratio_to_protocol_bound": ratios([2 * s.hash_cpu_s / (s.client_cpu_s + s.server_cpu_s) for s in samples]),
        "client_cpu_s": median([s.client_cpu_s for s in samples]),
        "server_cpu_s": median([s.server_cpu_s for s in samples]),
        "protocol_bound_cpu_s": median([2 * s.hash_cpu_s for s in samples]),
        "upload_s": median([s.upload_s for s in samples]),
        "server_put_s": median([s.server_put_s for s in samples]),
        "server_complete_s": median([s.server_complete_s for s in samples]),
        "client_rest_s": median([s.upload_s - s.server_put_s - s.server_complete_s for s in samples]),
        "start_s": median([s.start_s for s in samples]),
        "load_average_1m": os.getloadavg()[0],
        "load_average_start": load_at_start,
        "samples": [asdict(s) for s in samples],
    }
    return result


def print_report(result: dict[str, Any]) -> None:
    mib, runs = result["file_mib"], result["runs"]
    print(
        f"`tooltool-proxy upload` of one {mib} MiB file to the embedded default, {runs} runs "
        f"(load average {result['load_average_1m']:.1f} at the end):"
    )
    print()
    print("| measure | median | best |")
    print("|---|---:|---:|")
    for what, key in (
        ("reading the file (page cache)", "read"),
        ("reading the file cold (from disk)", "cold_read"),
        ("reading it + sha512", "read_sha512"),
        ("sha512 in memory (H)", "sha512"),
        ("the protocol's bound, H/2 (two sha512 passes)", "protocol_bound"),
        ("`tooltool-proxy upload` (the whole command)", "upload"),
        (result["tooltool_kind"], "tooltool"),
    ):
        print(f"| {what} | {result[key]['median_mib_s']:.0f} MiB/s | {result[key]['best_mib_s']:.0f} MiB/s |")
    for what, key in (
        ("upload ÷ reading (page cache)", "ratio_to_read"),
        ("upload ÷ reading cold", "ratio_to_cold_read"),
        ("upload ÷ reading + sha512", "ratio_to_read_sha512"),
        ("upload ÷ the protocol's bound", "ratio_to_protocol_bound"),
        ("upload ÷ tooltool.py", "speedup_over_tooltool"),
        ("the bound's CPU ÷ the upload's CPU (client + server)", "cpu_ratio_to_protocol_bound"),
    ):
        print(f"| {what} | {result[key]['median']:.3f} | {result[key]['best']:.3f} |")
    print()
    print(
        f"upload (median) {result['upload_s']:.2f} s = server receiving the PUT {result['server_put_s']:.2f} s"
        f" + server verifying in upload/complete {result['server_complete_s']:.2f} s"
        f" + the client's own part {result['client_rest_s']:.2f} s (interpreter start and imports alone:"
        f" {result['start_s']:.2f} s; then the manifest check, the POST, the PUT's first bytes)"
    )
    print(
        f"CPU (median): the upload command {result['client_cpu_s']:.2f} s, the server {result['server_cpu_s']:.2f} s;"
        f" the protocol's bound (two sha512 passes) {result['protocol_bound_cpu_s']:.2f} s"
    )
    print(f"load average (1, 5, 15 min) at the start: {result['load_average_start']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=256, help="size of the big file (default 256)")
    parser.add_argument("--runs", type=int, default=3, help="uploads of the big file (default 3)")
    parser.add_argument("--tooltool", type=Path, help="a copy of tooltool.py to measure instead of the stand-in")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--stand-in", nargs=3, metavar=("URL", "AUTH_FILE", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.stand_in:
        url, auth_file, path = args.stand_in
        upload_like_tooltool_py(url, Path(auth_file), Path(path))
        return 0
    load_at_start = tuple(round(load, 2) for load in os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="tooltool-upload-bench-") as tmp:
        samples = measure(Path(tmp), args.mib, args.runs, args.tooltool)
    kind = f"tooltool.py ({args.tooltool})" if args.tooltool else "tooltool.py-shaped stand-in (see --help)"
    result = report(args.mib, samples, kind, load_at_start)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_report(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
