"""`tooltool-proxy serve --workers N`: N worker processes answering on one listening socket.

The supervisor binds the socket once and hands its file descriptor to each worker, a
`python -m proxy serve --listen-fd FD` process that runs the ordinary application on it. One
socket rather than SO_REUSEPORT binds, because then the kernel keeps a single accept queue: a
connection waiting in it is taken by whichever worker is free, and none is lost when a worker
dies (each SO_REUSEPORT socket has its own queue, which dies with its worker), and no other
process can bind the port beside us.

The supervisor holds no application state. It gives the workers one upload secret (generated
here when TOOLTOOL_UPLOAD_SECRET is unset, so a put_url made by one worker is accepted by all),
replaces a worker that dies (and logs it), and on SIGTERM or SIGINT passes SIGTERM to every
worker and waits: each stops accepting, finishes the requests it has, and flushes its log.
"""

import contextlib
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import FrameType

log = logging.getLogger("tooltool.workers")

POLL_SECONDS = 0.2
# A worker that dies sooner than this after starting is replaced only after this long, so a
# worker that cannot start does not turn the supervisor into a busy loop.
RESTART_DELAY_SECONDS = 1.0
# How long SIGTERM may take: aiohttp's own graceful shutdown (60 s) and a margin.
DRAIN_SECONDS = 70.0


def parse_workers(value: str) -> int:
    """`auto` (the cores this process may run on) or a positive number."""
    if value == "auto":
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        count = int(value)
    except ValueError:
        raise ValueError("must be a positive number or auto") from None
    if count < 1:
        raise ValueError("must be a positive number or auto")
    return count


def bind(host: str, port: int) -> socket.socket:
    """The listening socket every worker shares (port 0: any free port)."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
    listener = socket.create_server((host, port), family=family, backlog=1024)
    listener.set_inheritable(True)
    return listener


def set_parent_death_signal() -> None:
    """In a worker: receive SIGTERM (a graceful stop) if the supervisor dies without stopping us."""
    if sys.platform == "linux":
        import ctypes

        pr_set_pdeathsig = 1
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


@dataclass
class Worker:
    slot: int
    process: subprocess.Popen[bytes]
    started: float


class Supervisor:
    def __init__(self, listener: socket.socket, host: str, count: int, env: Mapping[str, str]) -> None:
        self.listener = listener
        self.host = host
        self.port = int(listener.getsockname()[1])
        self.count = count
        self.env = dict(env)
        if not self.env.get("TOOLTOOL_UPLOAD_SECRET"):
            self.env["TOOLTOOL_UPLOAD_SECRET"] = secrets.token_urlsafe(32)
        self.workers: dict[int, Worker] = {}
        self.stopping = False

    def _start(self, slot: int) -> None:
        fd = self.listener.fileno()
        command = [sys.executable, "-m", "proxy", "serve", "--host", self.host, "--port", str(self.port)]
        command += ["--listen-fd", str(fd)]
        # A process group of its own: a terminal's Ctrl-C reaches the supervisor only, which then
        # sends each worker one SIGTERM (a second signal would cut aiohttp's graceful shutdown short).
        process = subprocess.Popen(command, pass_fds=(fd,), env=self.env, process_group=0)  # noqa: S603
        self.workers[slot] = Worker(slot, process, time.monotonic())
        log.info("worker started", extra={"worker": slot, "worker_pid": process.pid})

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        try:
            for slot in range(self.count):
                self._start(slot)
            while not self.stopping:
                time.sleep(POLL_SECONDS)
                self._replace_the_dead()
            return self._drain()
        finally:
            self.listener.close()

    def _replace_the_dead(self) -> None:
        for slot, worker in list(self.workers.items()):
            status = worker.process.poll()
            if status is None or self.stopping:
                continue
            lived = time.monotonic() - worker.started
            how = f"signal {-status}" if status < 0 else f"status {status}"
            log.warning(
                "worker died; starting a replacement",
                extra={"worker": slot, "worker_pid": worker.process.pid, "exit": how, "lived_s": round(lived, 1)},
            )
            if lived < RESTART_DELAY_SECONDS:
                time.sleep(RESTART_DELAY_SECONDS)
            if not self.stopping:
                self._start(slot)

    def _drain(self) -> int:
        """SIGTERM to every worker, then wait for all of them (SIGKILL after DRAIN_SECONDS)."""
        live = [w for w in self.workers.values() if w.process.poll() is None]
        log.info("stopping: draining the workers", extra={"workers": len(live)})
        # Ours is one of the socket's descriptors: once each worker closes its own, new
        # connections are refused instead of waiting in a queue nobody takes from.
        self.listener.close()
        for worker in live:
            with contextlib.suppress(ProcessLookupError):
                worker.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + DRAIN_SECONDS
        failed = 0
        for worker in live:
            try:
                status = worker.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("worker did not stop in time; killed", extra={"worker_pid": worker.process.pid})
                worker.process.kill()
                status = worker.process.wait()
            failed += status not in (0, -signal.SIGTERM)  # SIGTERM before it set up its handler
        log.info("stopped", extra={"workers": len(live), "failed": failed})
        return 0 if failed == 0 else 1
