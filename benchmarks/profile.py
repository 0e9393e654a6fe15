"""Where the proxy's CPU goes under a benchmark's load: py-spy samples, summed by function.

    python -m benchmarks.profile anonymous|hawk|stream [--seconds S] [--top N]

Starts moto and the proxy as `python -m benchmarks` does, loads it (wrk or the aiohttp pool
for the request cases, one 1 GiB GET for `stream`) while `py-spy record` samples the proxy
process, then prints the share of samples spent in each function, callees included. Needs
py-spy (the `dev` extra) and permission to trace the process (root, or ptrace allowed).
"""

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import aiohttp

from benchmarks.cases import MIB, timed_get
from benchmarks.deployment import AWS_ENV, READER, Bucket, pattern, record_answer, start_moto, start_proxy
from benchmarks.load import run_load
from benchmarks.processes import Cores, Server, cpu_seconds, pin, running, split_cores
from manifests import Visibility

SAMPLES_PER_SECOND = 200
STREAM_SIZE = 1024 * MIB


def inclusive_shares(raw: str) -> tuple[int, Counter[str]]:
    """From py-spy's raw (collapsed) stacks: total samples, and samples per function with callees."""
    shares: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        samples = int(count)
        total += samples
        # "name (file:line)" -> "name (file)": lines of one function count as one
        for frame in {re.sub(r":\d+\)$", ")", frame) for frame in stack.split(";")}:
            shares[frame] += samples
    return total, shares


def record(pid: int, seconds: float, output: Path) -> subprocess.Popen[bytes]:
    command = ["py-spy", "record", "-p", str(pid), "-r", str(SAMPLES_PER_SECOND), "-d", str(int(seconds))]
    command += ["-f", "raw", "-o", str(output)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603


def load(case: str, proxy: Server, url: str, seconds: float, cores: Cores) -> str:
    """Run the case's load; returns a line describing what was done."""
    if case == "stream":
        elapsed = asyncio.run(_stream_once(url))
        return f"one {STREAM_SIZE // MIB} MiB GET at {STREAM_SIZE / MIB / elapsed:,.0f} MiB/s"
    hawk = READER if case == "hawk" else None
    result = run_load(url, seconds, 64, cores.load, hawk=hawk)
    return f"{result.requests:,} requests at {result.rate:,.0f} req/s ({result.tool})"


async def _stream_once(url: str) -> float:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as session:
        return await timed_get(session, url, STREAM_SIZE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("case", choices=("anonymous", "hawk", "stream"))
    parser.add_argument("--seconds", type=float, default=10.0, help="load duration (default: %(default)s)")
    parser.add_argument("--top", type=int, default=40, help="functions to print (default: %(default)s)")
    parser.add_argument("--match", default="", help="print only functions whose line matches this regex")
    args = parser.parse_args()
    if shutil.which("py-spy") is None:
        parser.error("py-spy is not installed: python -m pip install -e '.[dev]'")
    os.environ.update(AWS_ENV)
    cores = split_cores()
    pin(os.getpid(), cores.load)
    with tempfile.TemporaryDirectory(prefix="tooltool-profile-") as tmp:
        workdir = Path(tmp)
        moto = start_moto(cores)
        with running([moto]) as servers:
            bucket = Bucket(moto.url)
            visibility = Visibility.INTERNAL if args.case == "hawk" else Visibility.PUBLIC
            data = pattern(STREAM_SIZE) if args.case == "stream" else b"a small file\n" * 64
            seeded = bucket.put_file(data, visibility)
            del data
            if args.case == "stream":
                proxy = start_proxy(moto, workdir, cores, download="stream")
            else:
                proxy = start_proxy(moto, workdir, cores)
            servers.append(proxy)
            url = f"{proxy.url}/sha512/{seeded.digest}"
            if args.case != "stream":
                record_answer(url)  # warm the cache and the signed URL
            samples = workdir / "samples.txt"
            cpu_before = cpu_seconds(proxy.pid)
            spy = record(proxy.pid, args.seconds + 60, samples)
            what = load(args.case, proxy, url, args.seconds, cores)
            spy.send_signal(2)  # stop sampling now, and write the samples
            spy.wait(timeout=60)
            cpu = cpu_seconds(proxy.pid) - cpu_before
            total, shares = inclusive_shares(samples.read_text())
    print(f"{args.case}: {what}; proxy CPU {cpu:.1f} s; {total} samples at {SAMPLES_PER_SECOND}/s")
    print("share of samples in the function and its callees:")
    matching = [(frame, count) for frame, count in shares.most_common() if re.search(args.match, frame)]
    for frame, count in matching[: args.top]:
        print(f"{100 * count / total:5.1f}%  {frame}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
