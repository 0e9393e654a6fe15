"""`python -m proxy serve` as a real process, as operators run it: on a free loopback port, with
only the TOOLTOOL_* settings a test gives it, its output in a log file, and always stopped and
reaped (use it as a context manager, or call stop() from a fixture's teardown)."""

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from tests.support.cli import clean_env
from tests.support.credentials import LOG_SECRETS
from tests.support.net import free_port, stop_process, wait_for_http

START_SECONDS = 30.0  # until /__lbheartbeat__ answers


class ServeProcess:
    """One `python -m proxy serve --port <free port> [args]`; start() may be called again after
    kill() to restart it on the same port, appending to the same log."""

    def __init__(
        self,
        env: Mapping[str, str],
        log_path: Path,
        *,
        args: Sequence[str] = (),
        cwd: Path | None = None,
        public_url: bool = True,
        stderr_path: Path | None = None,
    ) -> None:
        """`env`: TOOLTOOL_* settings over the inherited environment (whose own TOOLTOOL_* and PORT
        are dropped). `public_url`: set TOOLTOOL_PUBLIC_URL to this process's own URL (False: the
        embedded default, no configuration). `stderr_path`: stderr to its own file instead of the log."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        own_url = {"TOOLTOOL_PUBLIC_URL": self.url} if public_url else {}
        self.env = {**clean_env(), **own_url, **env}
        self.log_path = log_path
        self.args = list(args)
        self.cwd = cwd
        self.stderr_path = stderr_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def process(self) -> subprocess.Popen[bytes]:
        """The process of the last start()."""
        assert self._process is not None, "not started"
        return self._process

    @property
    def pid(self) -> int:
        return self.process.pid

    def start(self) -> Self:
        """Start the process and wait until it answers; stopped again if it does not."""
        with contextlib.ExitStack() as files:  # the child has its own copies of the descriptors
            log = files.enter_context(self.log_path.open("ab"))
            stderr = files.enter_context(self.stderr_path.open("ab")) if self.stderr_path else subprocess.STDOUT
            self._process = subprocess.Popen(
                [sys.executable, "-m", "proxy", "serve", "--port", str(self.port), *self.args],
                cwd=self.cwd,
                env=self.env,
                stdout=log,
                stderr=stderr,
            )
        try:
            wait_for_http(f"{self.url}/__lbheartbeat__", self._process, timeout=START_SECONDS)
        except BaseException:
            self.stop()
            raise
        return self

    def freeze(self) -> None:
        """SIGSTOP: the process stays as it is, mid-request, until it is killed or stopped."""
        os.kill(self.pid, signal.SIGSTOP)

    def kill(self) -> None:
        """SIGKILL, as a crash: nothing of it runs any more."""
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM (after SIGCONT, in case it is frozen), SIGKILL if it lingers; always reaped."""
        if self._process is not None and self._process.poll() is None:
            os.kill(self._process.pid, signal.SIGCONT)
            stop_process(self._process)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def log_lines(self) -> list[str]:
        return self.log_path.read_text(errors="replace").splitlines()

    def leaked_secrets(self, secrets: Iterable[str] = LOG_SECRETS) -> list[str]:
        """Log lines of this process holding any of `secrets`."""
        return [f"{secret!r} in: {line}" for line in self.log_lines() for secret in secrets if secret in line]
