"""`manifest.tt`: the JSON list of files tooltool.py fetches into a directory (PROTOCOL.md §7)."""

import json
from dataclasses import dataclass
from typing import Any

from manifests._fields import get_size, get_str, require_object
from manifests.digest import ALGORITHM, is_valid_digest
from manifests.errors import ValidationError
from manifests.index import Visibility, parse_visibility


def validate_filename(name: str) -> str:
    if not name or name in (".", "..") or "/" in name or "\\" in name:
        raise ValidationError(f"invalid filename {name!r}: a bare file name is required")
    if len(name) > 255 or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ValidationError(f"invalid filename {name[:64]!r}: too long or has control characters")
    return name


@dataclass(frozen=True)
class ManifestRecord:
    filename: str
    size: int
    digest: str
    visibility: Visibility | None = None
    unpack: bool = False
    version: str | None = None

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "filename": self.filename,
            "size": self.size,
            "algorithm": ALGORITHM,
            "digest": self.digest,
        }
        if self.unpack:
            doc["unpack"] = True
        if self.version is not None:
            doc["version"] = self.version
        if self.visibility is not None:
            doc["visibility"] = self.visibility.value
        return doc


def parse_manifest(text: str) -> list[ManifestRecord]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"manifest is not valid JSON ({exc})") from None
    if not isinstance(doc, list):
        raise ValidationError("manifest must be a JSON list of file records")
    records = []
    for position, item in enumerate(doc):
        what = f"manifest record {position}"
        obj = require_object(item, what)
        if obj.get("algorithm") != ALGORITHM:
            raise ValidationError(f"{what}: algorithm must be '{ALGORITHM}'")
        digest = get_str(obj, "digest", what)
        if not is_valid_digest(digest):
            raise ValidationError(f"{what}: 'digest' is not a sha512 hex digest")
        visibility = obj.get("visibility")
        version = obj.get("version")
        records.append(
            ManifestRecord(
                filename=validate_filename(get_str(obj, "filename", what)),
                size=get_size(obj, "size", what),
                digest=digest,
                visibility=None if visibility is None else parse_visibility(visibility),
                unpack=obj.get("unpack") is True,
                version=None if version is None else str(version),
            )
        )
    return records


def dump_manifest(records: list[ManifestRecord]) -> str:
    """Serialise as tooltool.py writes it: 2-space indent, its key order."""
    return json.dumps([r.to_dict() for r in records], indent=2) + "\n"
