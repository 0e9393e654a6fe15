"""Index objects: `index/sha512/<digest>.json`, the source of a file's size and visibility.

Admins may write these by hand, so `IndexEntry.from_json` trusts nothing: any problem is a
ValidationError, and callers treat an invalid entry as an internal file (fail closed).
"""

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from manifests._fields import get_size, get_str, get_str_list, require_object
from manifests.digest import ALGORITHM, is_valid_digest
from manifests.errors import ValidationError


class Visibility(StrEnum):
    PUBLIC = "public"
    INTERNAL = "internal"


def parse_visibility(value: object) -> Visibility:
    if value == "public":
        return Visibility.PUBLIC
    if value == "internal":
        return Visibility.INTERNAL
    raise ValidationError("visibility must be 'public' or 'internal'")


@dataclass(frozen=True)
class IndexEntry:
    digest: str
    size: int
    visibility: Visibility
    instances: tuple[str, ...] = ()
    filenames: tuple[str, ...] = ()
    uploaded: str | None = None
    author: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def has_instances(self) -> bool:
        return bool(self.instances)

    def file_record(self) -> dict[str, Any]:
        """The `file` shape of the API (PROTOCOL.md §3)."""
        return {
            "algorithm": ALGORITHM,
            "digest": self.digest,
            "size": self.size,
            "visibility": self.visibility.value,
            "has_instances": self.has_instances,
        }

    def to_json(self) -> bytes:
        doc: dict[str, Any] = dict(self.extra)
        doc.update(
            {
                "algorithm": ALGORITHM,
                "digest": self.digest,
                "size": self.size,
                "visibility": self.visibility.value,
                "instances": sorted(self.instances),
                "filenames": sorted(self.filenames),
            }
        )
        if self.uploaded is not None:
            doc["uploaded"] = self.uploaded
        if self.author is not None:
            doc["author"] = self.author
        return json.dumps(doc, indent=2, sort_keys=True).encode() + b"\n"

    @classmethod
    def from_json(cls, data: bytes, expected_digest: str) -> "IndexEntry":
        try:
            doc = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValidationError(f"not valid JSON ({exc})") from None
        obj = require_object(doc, "index entry")
        what = "index entry"
        if obj.get("algorithm", ALGORITHM) != ALGORITHM:
            raise ValidationError(f"{what}: algorithm must be '{ALGORITHM}'")
        digest = get_str(obj, "digest", what)
        if not is_valid_digest(digest):
            raise ValidationError(f"{what}: 'digest' is not a sha512 hex digest")
        if digest != expected_digest:
            raise ValidationError(f"{what}: 'digest' does not match the object's key")
        uploaded = obj.get("uploaded")
        author = obj.get("author")
        if uploaded is not None and not isinstance(uploaded, str):
            raise ValidationError(f"{what}: 'uploaded' must be a string")
        if author is not None and not isinstance(author, str):
            raise ValidationError(f"{what}: 'author' must be a string")
        known = {"algorithm", "digest", "size", "visibility", "instances", "filenames", "uploaded", "author"}
        return cls(
            digest=digest,
            size=get_size(obj, "size", what),
            visibility=parse_visibility(obj.get("visibility")),
            instances=tuple(get_str_list(obj, "instances", what)),
            filenames=tuple(get_str_list(obj, "filenames", what)),
            uploaded=uploaded,
            author=author,
            extra={k: v for k, v in obj.items() if k not in known},
        )
