"""What the services answer, in their own words: domain errors and typed results.

Nothing here knows HTTP. The HTTP edge maps each error type to a status, headers and the JSON
body of PROTOCOL.md §2 in one table (proxy/http/problems.py), and builds the JSON answers of
the typed results in the handlers. Admin commands catch these errors, never web ones.
"""

from dataclasses import dataclass
from enum import Enum

from manifests import Batch, IndexEntry, UploadFile
from proxy.errors import FORBIDDEN_DETAIL

FILE_NOT_FOUND_DETAIL = "The requested file was not found."


class DomainError(Exception):
    """A request the services refuse; `detail` says why, for a person."""

    default_detail = "The request was refused."

    def __init__(self, detail: str | None = None) -> None:
        self.detail = self.default_detail if detail is None else detail
        super().__init__(self.detail)


class NotFound(DomainError):
    default_detail = FILE_NOT_FOUND_DETAIL


class Forbidden(DomainError):
    """Credentials (or none) without the scope the request needs."""

    default_detail = FORBIDDEN_DETAIL


class NeedsCredentials(DomainError):
    """Credentials that failed verification, or none where some are required."""


class InvalidInput(DomainError):
    """Input that can never succeed as sent; `detail` is the reason."""


class RejectedBytes(DomainError):
    """Uploaded bytes of the wrong size or hash; they were deleted."""


class NotYetUploaded(DomainError):
    """upload/complete before the bytes arrived: retry later."""

    default_detail = "The uploaded file has not arrived yet; retry later."


class PutInProgress(DomainError):
    """A second PUT to a put_url while one is being received."""

    default_detail = "An upload to this URL is already in progress; send the file again once it has finished or failed."


class PutStalled(DomainError):
    """The client of a proxied PUT stopped sending the body."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"The upload sent no bytes for {seconds:g} seconds; send the file again.")
        self.seconds = seconds


class BadPutGrant(DomainError):
    """A put_url that is incomplete, tampered with or expired."""


class LengthRequired(DomainError):
    default_detail = "A Content-Length header is required."


class RangeNotSatisfiable(DomainError):
    """A byte range wholly past the end of the file; `size` is the file's."""

    def __init__(self, size: int) -> None:
        super().__init__(f"The range starts past the end of the file ({size} bytes).")
        self.size = size


class AuthServiceUnavailable(DomainError):
    """The Taskcluster auth service could not answer; `detail` names the failure."""


@dataclass(frozen=True)
class BatchFile:
    """One file of a created batch: `stored` when its bytes are already there; otherwise
    `put_url` is where to PUT them (None when the caller PUTs in process, as the import does)."""

    upload: UploadFile
    stored: bool
    put_url: str | None


@dataclass(frozen=True)
class CreatedBatch:
    batch: Batch
    files: tuple[BatchFile, ...]  # in the order of the request

    def staged(self) -> list[BatchFile]:
        return [file for file in self.files if not file.stored]


class CommitOutcome(Enum):
    """What upload/complete found: the bytes are committed, or still awaited."""

    COMMITTED = "committed"
    WAITING = "waiting"


@dataclass(frozen=True)
class VisibleBatch:
    """GET /upload/<id>: the batch and the files the caller may see, by filename: the index
    entry of a committed file, the batch's own record of one never committed."""

    batch: Batch
    files: dict[str, IndexEntry | UploadFile]
