"""Progress of long admin commands (proxy/commands/progress.py): a tqdm bar on a terminal, log lines otherwise."""

import asyncio
import fcntl
import hashlib
import io
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

from manifests import IndexEntry, Visibility
from proxy.commands.progress import Progress
from proxy.keys import artifact_key, index_key
from proxy.storage.local import LocalStore


def test_progress_without_a_terminal_logs_a_line_per_interval_and_one_at_the_end() -> None:
    stream = io.StringIO()
    now = [0.0]
    with Progress("verify", 4, unit="object", stream=stream, interval=10, clock=lambda: now[0]) as progress:
        progress.advance(1, 1024)
        now[0] = 11
        progress.advance(1, 1024)  # 11 s since the last line: one more
        now[0] = 12
        progress.advance(1, 1024)  # 1 s: none
    assert stream.getvalue().splitlines() == [
        "verify: 2/4 objects, 2.0 KiB (50%)",
        "verify: 3/4 objects, 3.0 KiB (75%)",
    ]


def run_lint_subprocess(store: Path, stderr_is_terminal: bool) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLTOOL_")}
    env["TOOLTOOL_STORE"] = f"file://{store}"
    command = [sys.executable, "-m", "proxy", "index", "lint"]
    if not stderr_is_terminal:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        return done.stderr
    leader, follower = pty.openpty()
    # A terminal of 24 rows and 100 columns (a fresh pty has no size, and tqdm draws nothing).
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    try:
        process = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=follower, timeout=60, check=False)
        assert process.returncode == 0
        os.close(follower)
        follower = -1
        output = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO once the terminal's other side is closed and drained
                break
            if not chunk:
                break
            output += chunk
        return output.decode()
    finally:
        os.close(leader)
        if follower != -1:
            os.close(follower)


def test_progress_is_a_bar_on_a_terminal_and_log_lines_otherwise(tmp_path: Path) -> None:
    store = tmp_path / "data"
    digest = hashlib.sha512(b"one\n").hexdigest()
    entry = IndexEntry(digest, 4, Visibility.PUBLIC, instances=("local",))

    async def seed() -> None:
        local = LocalStore(store)
        await local.write(artifact_key(digest), b"one\n")
        await local.write(index_key(digest), entry.to_json())

    asyncio.run(seed())
    on_terminal = run_lint_subprocess(store, stderr_is_terminal=True)
    assert "index lint: 100%|" in on_terminal
    assert "1/1" in on_terminal
    in_a_log = run_lint_subprocess(store, stderr_is_terminal=False)
    assert in_a_log == "index lint: 1/1 objects (100%)\n"
