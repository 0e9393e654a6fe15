"""`tooltool-proxy check`: the runbook's smoke test against a running server."""

import argparse
import asyncio

import aiohttp

from proxy.commands.command import Subcommands, digest_argument


async def run_check(base_url: str, public: str, internal: str) -> list[tuple[str, bool, str]]:
    """The runbook's smoke test; each result is (what, passed, what was seen)."""
    base = base_url.rstrip("/")
    # A streaming deployment answers the public file itself; ask for one byte so the check
    # never downloads a whole artifact.
    cases = [
        ("known public digest is served (302, or 206 when streaming)", f"{base}/sha512/{public}", {302, 206}),
        ("known internal digest is protected (403)", f"{base}/sha512/{internal}", {403}),
        ("malformed digest is refused (400)", f"{base}/sha512/invalid", {400}),
        ("heartbeat is healthy (200)", f"{base}/__heartbeat__", {200}),
    ]
    results = []
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for what, url, expected in cases:
            try:
                async with session.get(url, allow_redirects=False, headers={"Range": "bytes=0-0"}) as response:
                    seen = f"HTTP {response.status}"
                    results.append((what, response.status in expected, seen))
            except (aiohttp.ClientError, TimeoutError) as exc:
                results.append((what, False, f"no answer ({type(exc).__name__})"))
    return results


def _check(args: argparse.Namespace) -> int:
    results = asyncio.run(run_check(args.url, args.public, args.internal))
    for what, passed, seen in results:
        print(f"{'PASS' if passed else 'FAIL'}  {what}: {seen}")
    failed = sum(not passed for _, passed, _ in results)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 0 if failed == 0 else 1


def register(subcommands: Subcommands) -> None:
    check = subcommands.add_parser(
        "check",
        help="run the runbook smoke test against a server",
        description="The runbook smoke test: public 302, internal 403, invalid 400, "
        "heartbeat 200. Exit 0 only when all pass.",
    )
    check.add_argument("url", metavar="URL", help="the server's base URL")
    check.add_argument("--public", required=True, type=digest_argument, help="digest of a known public file")
    check.add_argument("--internal", required=True, type=digest_argument, help="digest of a known internal file")
    check.set_defaults(run=_check)
