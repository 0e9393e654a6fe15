"""Upload batches (`POST /upload` bodies, `batches/<id>.json`) and pending-upload records."""

import json
from dataclasses import dataclass
from typing import Any

from manifests._fields import get_size, get_str, require_object
from manifests.digest import ALGORITHM, is_valid_digest
from manifests.errors import ValidationError
from manifests.index import Visibility, parse_visibility
from manifests.manifest import validate_filename

MAX_MESSAGE_LENGTH = 4096
MAX_FILES_PER_BATCH = 1000


@dataclass(frozen=True)
class UploadFile:
    filename: str
    size: int
    digest: str
    visibility: Visibility

    def to_dict(self) -> dict[str, Any]:
        return {
            "algorithm": ALGORITHM,
            "digest": self.digest,
            "size": self.size,
            "visibility": self.visibility.value,
        }


@dataclass(frozen=True)
class UploadRequest:
    message: str
    files: tuple[UploadFile, ...]

    @property
    def visibilities(self) -> set[Visibility]:
        return {f.visibility for f in self.files}


def _parse_upload_file(filename: str, value: Any) -> UploadFile:
    what = f"file {filename[:64]!r}"
    validate_filename(filename)
    obj = require_object(value, what)
    if obj.get("algorithm") != ALGORITHM:
        raise ValidationError(f"{what}: algorithm must be '{ALGORITHM}'")
    digest = get_str(obj, "digest", what, max_length=128)
    if not is_valid_digest(digest):
        raise ValidationError(f"{what}: 'digest' must be 128 lower-case hex characters")
    if "visibility" not in obj:
        raise ValidationError(f"{what}: 'visibility' is required")
    try:
        visibility = parse_visibility(obj["visibility"])
    except ValidationError as exc:
        raise ValidationError(f"{what}: {exc}") from None
    return UploadFile(filename, get_size(obj, "size", what), digest, visibility)


def parse_upload_request(doc: Any) -> UploadRequest:
    """Validate a decoded `POST /upload` body by every rule of PROTOCOL.md §3."""
    obj = require_object(doc, "upload batch")
    if "author" in obj:
        raise ValidationError("upload batch: 'author' is set by the server and must not be sent")
    message = get_str(obj, "message", "upload batch", max_length=MAX_MESSAGE_LENGTH)
    if not message.strip():
        raise ValidationError("upload batch: 'message' must not be empty")
    files = require_object(obj.get("files"), "upload batch: 'files'")
    if not files:
        raise ValidationError("upload batch: 'files' must list at least one file")
    if len(files) > MAX_FILES_PER_BATCH:
        raise ValidationError(f"upload batch: at most {MAX_FILES_PER_BATCH} files per batch")
    parsed = tuple(_parse_upload_file(name, value) for name, value in files.items())
    by_digest: dict[str, UploadFile] = {}
    for upload in parsed:
        seen = by_digest.setdefault(upload.digest, upload)
        if (seen.size, seen.visibility) != (upload.size, upload.visibility):
            raise ValidationError(
                f"upload batch: {seen.filename!r} and {upload.filename!r} have the same digest "
                "but a different size or visibility"
            )
    return UploadRequest(message=message, files=parsed)


@dataclass(frozen=True)
class Batch:
    id: int
    uploaded: str
    author: str
    message: str
    files: tuple[UploadFile, ...]

    def api_shape(self, files: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """The batch as the API answers it, with `files` as the caller may see them."""
        return {
            "id": self.id,
            "uploaded": self.uploaded,
            "author": self.author,
            "message": self.message,
            "files": files,
        }

    def to_json(self) -> bytes:
        doc = {
            "id": self.id,
            "uploaded": self.uploaded,
            "author": self.author,
            "message": self.message,
            "files": {f.filename: f.to_dict() for f in self.files},
        }
        return json.dumps(doc, indent=2, sort_keys=True).encode() + b"\n"

    @classmethod
    def from_json(cls, data: bytes) -> "Batch":
        try:
            obj = require_object(json.loads(data), "batch")
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValidationError(f"batch is not valid JSON ({exc})") from None
        batch_id = obj.get("id")
        if not isinstance(batch_id, int) or isinstance(batch_id, bool):
            raise ValidationError("batch: 'id' must be an integer")
        files = require_object(obj.get("files"), "batch: 'files'")
        return cls(
            id=batch_id,
            uploaded=get_str(obj, "uploaded", "batch"),
            author=get_str(obj, "author", "batch"),
            message=get_str(obj, "message", "batch", max_length=MAX_MESSAGE_LENGTH),
            files=tuple(_parse_upload_file(name, value) for name, value in files.items()),
        )


@dataclass(frozen=True)
class PendingUpload:
    """What `upload/complete` must find in the staged bytes before it commits them."""

    digest: str
    batch_id: int
    size: int
    visibility: Visibility
    filename: str
    author: str
    expires: float  # unix time after which the signed PUT URL no longer works
    region: str = ""  # where the bytes are staged and committed; "" is the default region
    # The batch's other names for the same bytes: they are uploaded once, under `filename`'s
    # put_url, and the index gets every name when they are committed.
    other_filenames: tuple[str, ...] = ()

    @property
    def filenames(self) -> tuple[str, ...]:
        return (self.filename, *self.other_filenames)

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "digest": self.digest,
                "batch_id": self.batch_id,
                "size": self.size,
                "visibility": self.visibility.value,
                "filename": self.filename,
                "author": self.author,
                "expires": self.expires,
                "region": self.region,
                "other_filenames": list(self.other_filenames),
            },
            sort_keys=True,
        ).encode()

    @classmethod
    def from_json(cls, data: bytes) -> "PendingUpload":
        try:
            obj = require_object(json.loads(data), "pending upload")
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValidationError(f"pending upload is not valid JSON ({exc})") from None
        what = "pending upload"
        digest = get_str(obj, "digest", what)
        batch_id = obj.get("batch_id")
        expires = obj.get("expires")
        if not is_valid_digest(digest):
            raise ValidationError(f"{what}: bad digest")
        if not isinstance(batch_id, int) or not isinstance(expires, int | float):
            raise ValidationError(f"{what}: 'batch_id' and 'expires' must be numbers")
        return cls(
            digest=digest,
            batch_id=batch_id,
            size=get_size(obj, "size", what),
            visibility=parse_visibility(obj.get("visibility")),
            filename=get_str(obj, "filename", what),
            author=get_str(obj, "author", what),
            expires=float(expires),
            region=str(obj.get("region", "")),
            other_filenames=_names(obj.get("other_filenames", []), what),
        )


def _names(value: object, what: str) -> tuple[str, ...]:
    """A list of filenames (records written before the field existed have none)."""
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise ValidationError(f"{what}: 'other_filenames' must be a list of strings")
    return tuple(value)
