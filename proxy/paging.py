"""Where the next page of a search begins, and the opaque cursor a client passes back for it.

A search answer holds at most TOOLTOOL_SEARCH_LIMIT results and costs at most
TOOLTOOL_SEARCH_MAX_LOOKUPS index lookups; when it stops early it names the position after
the last result it showed (README "Search without a database"). A position is made only of
what that page showed the caller (a digest, a batch id and filename it answered), so a cursor
can tell nobody of a file it may not download; and it grants nothing: each page is filtered
for its caller like the first.

The cursor is base64url (no padding) of compact JSON: `{"d": digest}` for file searches,
`{"b": batch id}` or `{"b": batch id, "f": filename}` (resume inside that batch, after that
filename) for batch searches, and `{}` for the start (a page that could show nothing before
its lookups ran out: asked again, the lookups it made are cached and it gets further).
Clients must treat it as opaque; anything that does not decode to one of those shapes is
refused.
"""

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from manifests import is_valid_digest

# Far above any cursor this module makes (a batch id and a filename of at most 255 characters,
# JSON-escaped), far below aiohttp's limit on a request line.
MAX_CURSOR_LENGTH = 2048
MAX_BATCH_ID = 10**19 - 1
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


class InvalidCursor(ValueError):
    """The cursor is not one a search answer gave."""


@dataclass(frozen=True)
class FilePosition:
    """After this digest, in digest order."""

    digest: str


@dataclass(frozen=True)
class BatchPosition:
    """After this batch (newest first), or, with `filename`, after that file of it."""

    batch_id: int
    filename: str | None = None


def _encode(doc: dict[str, Any]) -> str:
    data = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _decode(cursor: str) -> dict[str, Any]:
    if len(cursor) > MAX_CURSOR_LENGTH or _BASE64URL.fullmatch(cursor) is None:
        raise InvalidCursor(cursor)
    try:
        doc = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, RecursionError):
        raise InvalidCursor(cursor) from None
    if not isinstance(doc, dict):
        raise InvalidCursor(cursor)
    return doc


def file_cursor(position: FilePosition | None) -> str:
    """The cursor of a position; None is the start (a page that showed nothing yet)."""
    return _encode({} if position is None else {"d": position.digest})


def batch_cursor(position: BatchPosition | None) -> str:
    doc: dict[str, Any] = {}
    if position is not None:
        doc["b"] = position.batch_id
        if position.filename is not None:
            doc["f"] = position.filename
    return _encode(doc)


def parse_file_cursor(cursor: str) -> FilePosition | None:
    doc = _decode(cursor)
    if not doc:
        return None
    digest = doc.get("d")
    if doc.keys() != {"d"} or not isinstance(digest, str) or not is_valid_digest(digest):
        raise InvalidCursor(cursor)
    return FilePosition(digest)


def parse_batch_cursor(cursor: str) -> BatchPosition | None:
    doc = _decode(cursor)
    if not doc:
        return None
    batch_id, filename = doc.get("b"), doc.get("f")
    if (
        doc.keys() not in ({"b"}, {"b", "f"})
        or type(batch_id) is not int  # not a bool either
        or not 0 < batch_id <= MAX_BATCH_ID
        or ("f" in doc and not (isinstance(filename, str) and filename))
    ):
        raise InvalidCursor(cursor)
    return BatchPosition(batch_id, filename)
