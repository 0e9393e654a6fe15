"""`serve`'s buffered log: the request.summary line it builds without logging is the line
MozlogFormatter makes of the same record, and LineBuffer writes whole lines, in order, in
batches no larger than one atomic pipe write."""

import logging
import os
import threading
import time
from pathlib import Path

import pytest
from dockerflow.logging import MozlogFormatter

from proxy import observability
from proxy.observability import ATOMIC_WRITE_BYTES, BufferedRequestLog, LineBuffer, summary_log

FIELDS_CASES = [
    {"agent": "tooltool.py/1.4", "path": "/sha512/ab", "method": "GET", "code": 302, "t": 0.25, "rid": "0" * 32},
    {"agent": 'quote " back\\slash \x00\x1f', "path": "/é/ü/☃", "method": "HEAD", "code": 404, "t": 12.0},
    {"agent": "", "path": "/upload", "method": "POST", "code": 500, "t": 1e-05, "rid": "f" * 32, "uid": None},
    {"agent": "x" * 5000, "path": "/", "method": "GET", "code": 200, "t": 0.0, "uid": "client/with/slashes"},
]


@pytest.mark.parametrize("fields", FIELDS_CASES)
def test_the_summary_line_is_the_one_mozlog_formatter_writes(fields: dict[str, object], tmp_path: Path) -> None:
    record = summary_log.makeRecord(summary_log.name, logging.INFO, __file__, 1, "", (), None, extra=fields)
    record.created = 1_700_000_000.0
    expected = MozlogFormatter(logger_name=observability.LOGGER_NAME).format(record)
    with (tmp_path / "unused").open("wb") as sink:
        request_log = BufferedRequestLog(LineBuffer(sink.fileno(), interval=0))
        assert request_log.line(fields, 1_700_000_000 * 10**9) == expected


def test_lines_are_written_whole_in_order_and_in_atomic_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    writes: list[bytes] = []
    real_write = os.write

    def recording_write(fd: int, data: bytes | memoryview) -> int:
        writes.append(bytes(data))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", recording_write)  # the module observability writes with
    read_end, write_end = os.pipe()
    received = bytearray()
    reader = threading.Thread(target=lambda: received.extend(iter_pipe(read_end)), daemon=True)
    reader.start()
    buffer = LineBuffer(write_end, interval=0.01)
    lines = [f"line {n} " + "x" * (n % 700) for n in range(3000)] + ["long " + "y" * (3 * ATOMIC_WRITE_BYTES)]
    for line in lines:
        buffer.append(line)
    buffer.close()
    os.close(write_end)
    reader.join(timeout=30)
    os.close(read_end)

    assert received.decode().splitlines() == lines
    assert all(chunk.endswith(b"\n") for chunk in writes)
    assert all(len(chunk) <= ATOMIC_WRITE_BYTES for chunk in writes[:-1])
    assert len(writes) < len(lines) / 5  # batched, not one write per line


def iter_pipe(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_the_flusher_writes_a_line_without_any_flush_call(tmp_path: Path) -> None:
    path = tmp_path / "log"
    with path.open("wb") as sink:
        buffer = LineBuffer(sink.fileno(), interval=0.05)
        buffer.append("written by the flusher")
        deadline = time.monotonic() + 30
        while not path.read_bytes() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert path.read_text() == "written by the flusher\n"
        buffer.close()
