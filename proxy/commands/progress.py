"""Progress of a long admin command: a bar on a terminal, a line every few seconds in a log.

Progress goes to stderr; results (what was found or done) go to stdout through `echo`, which
keeps a terminal's bar intact.
"""

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, TextIO

from tqdm import tqdm

LOG_INTERVAL_SECONDS = 10.0


def format_bytes(count: int) -> str:
    if count < 1024:
        return f"{count} B"
    size = float(count)
    for unit in ("KiB", "MiB", "GiB"):
        size /= 1024
        if size < 1024:
            return f"{size:.1f} {unit}"
    return f"{size / 1024:.1f} TiB"


class Progress:
    """Counts done items (and, optionally, bytes) out of `total`.

    `unit="byte"` counts bytes instead of items. On a terminal tqdm draws the bar; otherwise a
    line goes out every `interval` seconds and one at the end.
    """

    def __init__(
        self,
        what: str,
        total: int,
        unit: str = "file",
        *,
        stream: TextIO | None = None,
        interval: float = LOG_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.what = what
        self.total = total
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self.clock = clock
        self.done = 0
        self.bytes = 0
        self.bar: tqdm[Any] | None = None
        if self.stream.isatty():
            counts_bytes = unit == "byte"
            self.bar = tqdm(
                total=total,
                desc=what,
                unit="B" if counts_bytes else unit,
                unit_scale=counts_bytes,
                unit_divisor=1024,
                file=self.stream,
                dynamic_ncols=True,
            )
        self.logged_at = clock()

    def advance(self, items: int = 1, nbytes: int = 0) -> None:
        """`items` more are done (bytes, when the unit is "byte"); `nbytes` of data went through them."""
        self.done += items
        self.bytes += nbytes
        if self.bar is not None:
            if nbytes:
                self.bar.set_postfix_str(format_bytes(self.bytes), refresh=False)
            self.bar.update(items)
        elif self.clock() - self.logged_at >= self.interval:
            self._log()
            self.logged_at = self.clock()

    def echo(self, line: str) -> None:
        """Print a result line to stdout without breaking the bar."""
        if self.bar is not None:
            tqdm.write(line, file=sys.stdout)
        else:
            print(line, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        else:
            self._log()

    def _log(self) -> None:
        if self.unit == "byte":
            counted = f"{format_bytes(self.done)} of {format_bytes(self.total)}"
        else:
            counted = f"{self.done}/{self.total} {self.unit}s"
            if self.bytes:
                counted += f", {format_bytes(self.bytes)}"
        percent = 100 * self.done // self.total if self.total else 100
        print(f"{self.what}: {counted} ({percent}%)", file=self.stream, flush=True)

    def __enter__(self) -> "Progress":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()
