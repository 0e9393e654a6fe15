"""HTTP load on loopback: wrk where installed, else a pool of aiohttp clients in its own process.

Both run as a separate process pinned to the load core(s). Hawk requests need a fresh nonce
each (the proxy refuses replays), so a fixed header will not do:
- with wrk, headers are signed in advance (one per request, each with its own nonce) and a Lua
  script sends them in turn;
- the Python pool signs each request as it sends it.
Either way the proxy and the reference get exactly the same kind of load.

The pool is also a command, used by the functions below:

    python -m benchmarks.load --url URL --seconds S --concurrency C [--count N] [--hawk ID:KEY]
"""

import argparse
import asyncio
import json
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from benchmarks.processes import pin
from tests.support.hawk import tooltool_header

# Sends the pre-signed Authorization headers of the file named by the script's argument, one
# per request; when they run out it sends an invalid one, which the proxy answers 401 (counted).
HAWK_LUA = """
local headers = {}
local next_header = 0
init = function(args)
  for line in io.lines(args[1]) do headers[#headers + 1] = line end
end
request = function()
  next_header = next_header + 1
  return wrk.format(nil, nil, {["Authorization"] = headers[next_header] or "Hawk exhausted"})
end
"""
HAWK_HEADERS_PER_SECOND = 40_000  # more than any server here answers, so wrk never runs out


@dataclass(frozen=True)
class Hawk:
    client_id: str
    access_token: str


@dataclass(frozen=True)
class LoadResult:
    tool: str
    requests: int
    seconds: float
    unexpected: int  # other statuses than expected, and socket errors

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run_load(
    url: str,
    seconds: float,
    concurrency: int,
    cores: frozenset[int] | None,
    *,
    hawk: Hawk | None = None,
    use_wrk: bool = True,
) -> LoadResult:
    """Load `url` for `seconds` with `concurrency` connections; every answer must be a redirect."""
    if use_wrk and wrk_available():
        return _run_wrk(url, seconds, concurrency, cores, hawk)
    return run_pool(url, concurrency, cores, seconds=seconds, hawk=hawk)


def _run_wrk(url: str, seconds: float, concurrency: int, cores: frozenset[int] | None, hawk: Hawk | None) -> LoadResult:
    threads = len(cores) if cores else 1
    duration = f"-d{max(1, round(seconds))}s"
    command = ["wrk", f"-t{threads}", f"-c{max(concurrency, threads)}", duration, "--timeout", "5s"]
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        if hawk is not None:
            script, headers = Path(tmp) / "hawk.lua", Path(tmp) / "headers.txt"
            script.write_text(HAWK_LUA)
            count = int(HAWK_HEADERS_PER_SECOND * (seconds + 1)) // threads
            headers.write_text("".join(header + "\n" for header in signed_headers(hawk, url, count)))
            command += ["-s", str(script), url, "--", str(headers)]
        else:
            command.append(url)
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # noqa: S603
        pin(process.pid, cores)
        output = process.communicate(timeout=seconds + 60)[0].decode()
    if process.returncode != 0:
        raise RuntimeError(f"wrk failed:\n{output}")
    return parse_wrk(output)


def signed_headers(hawk: Hawk, url: str, count: int) -> list[str]:
    """`count` Hawk headers for GET `url`, each with its own nonce (valid for the clock skew)."""
    now, prefix = int(time.time()), secrets.token_hex(3)
    return [
        tooltool_header(hawk.client_id, hawk.access_token, "GET", url, timestamp=now, nonce=f"{prefix}{n:x}")
        for n in range(count)
    ]


def parse_wrk(output: str) -> LoadResult:
    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b", output)
    if done is None:
        raise RuntimeError(f"cannot read wrk's output:\n{output}")
    scale = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[done.group(3)]
    unexpected = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", output))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if socket_errors:
        unexpected += sum(int(n) for n in socket_errors.groups())
    return LoadResult("wrk", int(done.group(1)), float(done.group(2)) * scale, unexpected)


def run_pool(
    url: str,
    concurrency: int,
    cores: frozenset[int] | None,
    *,
    seconds: float | None = None,
    count: int | None = None,
    hawk: Hawk | None = None,
) -> LoadResult:
    """The aiohttp client pool in its own (pinned) process; bounded by `seconds` or `count`."""
    command = [sys.executable, "-m", "benchmarks.load", "--url", url, "--concurrency", str(concurrency)]
    if seconds is not None:
        command += ["--seconds", str(seconds)]
    if count is not None:
        command += ["--count", str(count)]
    if hawk is not None:
        command += ["--hawk", f"{hawk.client_id}:{hawk.access_token}"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE)  # noqa: S603 - our own interpreter
    pin(process.pid, cores)
    output = process.communicate(timeout=(seconds or 0) + 600)[0]
    if process.returncode != 0:
        raise RuntimeError(f"the load pool failed with status {process.returncode}")
    result = json.loads(output)
    statuses = Counter({int(k): v for k, v in result["statuses"].items()})
    unexpected = sum(n for status, n in statuses.items() if status != result["expect"]) + result["errors"]
    return LoadResult("python pool", sum(statuses.values()), result["seconds"], unexpected)


async def _pool(
    url: str, concurrency: int, seconds: float | None, count: int | None, hawk: Hawk | None
) -> dict[str, object]:
    statuses: Counter[int] = Counter()
    errors = 0
    remaining = count if count is not None else -1
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started = time.perf_counter()
        deadline = started + seconds if seconds is not None else float("inf")

        async def worker() -> None:
            nonlocal remaining, errors
            while remaining != 0 and time.perf_counter() < deadline:
                remaining -= 1
                headers = {}
                if hawk is not None:
                    headers["Authorization"] = tooltool_header(hawk.client_id, hawk.access_token, "GET", url)
                try:
                    async with session.get(url, headers=headers, allow_redirects=False) as response:
                        await response.read()
                        statuses[response.status] += 1
                except (aiohttp.ClientError, TimeoutError):
                    errors += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {"statuses": statuses, "errors": errors, "seconds": elapsed, "expect": 302}


def main() -> None:
    parser = argparse.ArgumentParser(description="An aiohttp client pool: GET one URL, count the answers.")
    parser.add_argument("--url", required=True)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, help="stop after this long")
    parser.add_argument("--count", type=int, help="stop after this many requests")
    parser.add_argument("--hawk", help="CLIENT_ID:ACCESS_TOKEN to sign each request with (fresh nonce)")
    args = parser.parse_args()
    if args.seconds is None and args.count is None:
        parser.error("give --seconds or --count (the load must stop by itself)")
    hawk = Hawk(*args.hawk.split(":", 1)) if args.hawk else None
    result = asyncio.run(_pool(args.url, args.concurrency, args.seconds, args.count, hawk))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
