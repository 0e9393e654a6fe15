"""The documents tooltool lives on: digests, index entries, batches, uploads, manifest.tt.

Pure data: schemas, parsing, validation and serialisation. No I/O and no aiohttp, so the
admin tools, the proxy and the tests all agree on one definition of each document.
"""

from manifests.digest import ALGORITHM, is_valid_digest
from manifests.errors import ValidationError
from manifests.index import IndexEntry, Visibility, parse_visibility
from manifests.manifest import ManifestRecord, dump_manifest, parse_manifest
from manifests.patch import DeleteInstances, FileOperation, SetVisibility, parse_file_patch
from manifests.uploads import Batch, PendingUpload, UploadFile, UploadRequest, parse_upload_request

__all__ = [
    "ALGORITHM",
    "Batch",
    "DeleteInstances",
    "FileOperation",
    "IndexEntry",
    "ManifestRecord",
    "PendingUpload",
    "SetVisibility",
    "UploadFile",
    "UploadRequest",
    "ValidationError",
    "Visibility",
    "dump_manifest",
    "is_valid_digest",
    "parse_file_patch",
    "parse_manifest",
    "parse_upload_request",
    "parse_visibility",
]
