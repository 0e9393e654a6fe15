"""Request logs (mozlog `request.summary` lines), with secrets kept out of them.

`serve` writes its log lines in batches (see LineBuffer): one system call per fraction of a
second instead of one per request, flushed at shutdown and on SIGTERM. Its `request.summary`
line is built directly, byte for byte the line MozlogFormatter makes of the same record, without
a LogRecord; everywhere else (tests, admin commands) the summary is an ordinary logging record.
The middleware that writes it is the HTTP edge's (proxy/http/request_log.py), as is Sentry
(proxy/http/sentry.py).
"""

import json
import logging
import os
import select
import socket
import sys
import threading
import time

from dockerflow.logging import MozlogFormatter

summary_log = logging.getLogger("request.summary")
LOGGER_NAME = "tooltool-proxy"
FLUSH_SECONDS = 0.2
# One write() of at most PIPE_BUF bytes to a pipe is never interleaved with another process's:
# the workers of `serve --workers N` share stdout, so batches are cut at line ends below this.
ATOMIC_WRITE_BYTES = getattr(select, "PIPE_BUF", 4096)
MAX_BUFFERED_LINES = 10_000  # beyond this a writer flushes itself: memory stays bounded

SECRET_HEADERS = {"authorization", "cookie", "x-amz-security-token"}


class LineBuffer:
    """Lines for one file descriptor, written by a background thread every `interval` seconds
    (interval 0: each line at once, by its writer).

    Lines are written in the order they were added, in batches of whole lines of at most
    ATOMIC_WRITE_BYTES (a longer line alone). `flush()` writes what is buffered now; `close()`
    flushes and stops the thread.
    """

    def __init__(self, fd: int, interval: float = FLUSH_SECONDS) -> None:
        self.fd = fd
        self.interval = interval
        self._lines: list[str] = []
        self._lock = threading.Lock()  # guards _lines
        self._write_lock = threading.Lock()  # one writer at a time, so batches keep their order
        self._closed = threading.Event()
        if interval > 0:
            flusher = threading.Thread(target=self._flush_periodically, name="log-flusher", daemon=True)
            flusher.start()

    def append(self, line: str) -> None:
        with self._lock:
            self._lines.append(line)
            full = len(self._lines) >= MAX_BUFFERED_LINES or self.interval <= 0
        if full:
            self.flush()

    def flush(self) -> None:
        with self._write_lock:
            with self._lock:
                lines, self._lines = self._lines, []
            if lines:
                self._write(lines)

    def _write(self, lines: list[str]) -> None:
        batch: list[bytes] = []
        size = 0
        for line in lines:
            data = (line + "\n").encode()
            if batch and size + len(data) > ATOMIC_WRITE_BYTES:
                self._write_all(b"".join(batch))
                batch, size = [], 0
            batch.append(data)
            size += len(data)
        if batch:
            self._write_all(b"".join(batch))

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                written = os.write(self.fd, view)
            except InterruptedError:
                continue
            except OSError:
                return  # stdout is gone (closed pipe): nothing left to tell
            view = view[written:]

    def _flush_periodically(self) -> None:
        while not self._closed.wait(self.interval):
            self.flush()

    def close(self) -> None:
        self._closed.set()
        self.flush()


class BufferedLineHandler(logging.Handler):
    """A logging handler that formats records into a LineBuffer; errors are written at once."""

    def __init__(self, buffer: LineBuffer) -> None:
        super().__init__()
        self.buffer = buffer

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.buffer.append(self.format(record))
        except Exception:
            self.handleError(record)
        if record.levelno >= logging.ERROR:
            self.buffer.flush()

    def flush(self) -> None:
        self.buffer.flush()


class LoggingRequestLog:
    """`request.summary` as a logging record (tests and caplog see every one)."""

    def write(self, fields: dict[str, object]) -> None:
        summary_log.info("", extra=fields)


class BufferedRequestLog:
    """`request.summary` lines straight into a LineBuffer: MozlogFormatter's JSON for the same
    record (same keys, order and encoding; tests/unit/test_request_log.py compares the two), without
    the LogRecord, the handler lock and a write per line."""

    def __init__(self, buffer: LineBuffer) -> None:
        self.buffer = buffer
        envelope = {
            "Type": summary_log.name,
            "Logger": LOGGER_NAME,
            "Hostname": socket.gethostname(),
            "EnvVersion": MozlogFormatter.LOGGING_FORMAT_VERSION,
            "Severity": MozlogFormatter.SYSLOG_LEVEL_MAP[logging.INFO],
            "Pid": os.getpid(),
        }
        # '{"Timestamp": <ns>, "Type": ..., "Pid": <pid>, "Fields": <fields>}'
        self._middle = ", " + json.dumps(envelope)[1:-1] + ', "Fields": '

    def line(self, fields: dict[str, object], timestamp_ns: int) -> str:
        return '{"Timestamp": ' + str(timestamp_ns) + self._middle + json.dumps(fields) + "}"

    def write(self, fields: dict[str, object]) -> None:
        self.buffer.append(self.line(fields, time.time_ns()))


# Where request.summary lines go (read by the request_summary middleware at each request).
request_log: LoggingRequestLog | BufferedRequestLog = LoggingRequestLog()
_line_buffer: LineBuffer | None = None


def configure_logging(level: int = logging.INFO, flush_seconds: float = FLUSH_SECONDS) -> None:
    """`serve`'s logging: mozlog JSON lines on stdout, written in batches (LineBuffer)."""
    global request_log, _line_buffer
    sys.stdout.flush()
    _line_buffer = LineBuffer(sys.stdout.fileno(), flush_seconds)
    handler = BufferedLineHandler(_line_buffer)
    handler.setFormatter(MozlogFormatter(logger_name=LOGGER_NAME))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    if summary_log.isEnabledFor(logging.INFO):
        request_log = BufferedRequestLog(_line_buffer)
    # aiohttp's access log would repeat each request with its query string; ours replaces it
    # (and proxy/http/request_log.py keeps what its parser refuses out of "aiohttp.server").
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def flush_logs() -> None:
    """Write every buffered log line now (at shutdown; SIGTERM ends `serve` through here)."""
    if _line_buffer is not None:
        _line_buffer.flush()
