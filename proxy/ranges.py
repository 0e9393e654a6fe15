"""The single byte range of a `Range` header (RFC 9110 §14), as downloads support it."""

import re

from proxy.outcomes import RangeNotSatisfiable

_RANGE = re.compile(r"bytes=(\d{0,19})-(\d{0,19})")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) inclusive, or None to serve the whole file.

    Headers this server does not support (several ranges, other units) or cannot parse are
    ignored, as RFC 9110 allows: the client gets the full file with 200. A range wholly outside
    the file raises RangeNotSatisfiable (a 416).
    """
    if header is None:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None:
        return None
    first_text, last_text = match.groups()
    if not first_text:
        if not last_text:
            return None
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable(size)
        return max(size - suffix, 0), size - 1
    first = int(first_text)
    if last_text and int(last_text) < first:
        return None  # not a valid range at all: ignored, not unsatisfiable
    if first >= size:
        raise RangeNotSatisfiable(size)
    last = int(last_text) if last_text else size - 1
    return first, min(last, size - 1)
