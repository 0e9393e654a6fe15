"""The documents in manifests/: index entries, manifest.tt records, batches, pending uploads."""

import json

import pytest

from manifests import (
    Batch,
    IndexEntry,
    ManifestRecord,
    PendingUpload,
    UploadFile,
    ValidationError,
    Visibility,
    dump_manifest,
    is_valid_digest,
    parse_manifest,
)

DIGEST = "0f" * 64


@pytest.mark.parametrize(
    ("value", "valid"),
    [(DIGEST, True), (DIGEST.upper(), False), (DIGEST[:-1], False), (DIGEST + "0", False), ("g" * 128, False)],
    ids=["lower-hex-128", "upper-case", "127-chars", "129-chars", "non-hex"],
)
def test_digest_is_exactly_128_lower_case_hex(value: str, valid: bool) -> None:
    assert is_valid_digest(value) is valid


def test_index_entry_round_trips_and_keeps_unknown_fields() -> None:
    entry = IndexEntry(
        digest=DIGEST,
        size=12,
        visibility=Visibility.PUBLIC,
        instances=("us-east-1",),
        filenames=("a.tar.xz",),
        uploaded="2026-11-26T06:07:11.463568Z",
        author="admin",
        extra={"note": "added by hand"},
    )
    again = IndexEntry.from_json(entry.to_json(), DIGEST)
    assert again == entry
    assert again.extra == {"note": "added by hand"}
    assert again.file_record() == {
        "algorithm": "sha512",
        "digest": DIGEST,
        "size": 12,
        "visibility": "public",
        "has_instances": True,
    }


@pytest.mark.parametrize(
    "document",
    [
        b"not json",
        b"[]",
        json.dumps({"digest": DIGEST, "size": 1}).encode(),
        json.dumps({"digest": DIGEST, "size": 1, "visibility": "PUBLIC"}).encode(),
        json.dumps({"digest": DIGEST, "size": "1", "visibility": "public"}).encode(),
        json.dumps({"digest": DIGEST, "size": True, "visibility": "public"}).encode(),
        json.dumps({"digest": "ab" * 64, "size": 1, "visibility": "public"}).encode(),
        json.dumps({"digest": DIGEST, "size": 1, "visibility": "public", "algorithm": "md5"}).encode(),
        json.dumps({"digest": DIGEST, "size": 1, "visibility": "public", "instances": "us-east-1"}).encode(),
        b"\xff\xfe",
    ],
    ids=[
        "not-json",
        "not-object",
        "no-visibility",
        "upper-visibility",
        "size-string",
        "size-bool",
        "other-digest",
        "other-algorithm",
        "instances-not-list",
        "not-utf8",
    ],
)
def test_hand_written_index_entry_problems_are_validation_errors(document: bytes) -> None:
    with pytest.raises(ValidationError):
        IndexEntry.from_json(document, DIGEST)


def test_manifest_is_written_in_tooltool_key_order_and_read_back() -> None:
    records = [
        ManifestRecord("gcc.tar.xz", 10, DIGEST, Visibility.PUBLIC, unpack=True, version="gcc 13"),
        ManifestRecord("plain.bin", 3, DIGEST),
    ]
    text = dump_manifest(records)
    assert list(json.loads(text)[0]) == ["filename", "size", "algorithm", "digest", "unpack", "version", "visibility"]
    assert list(json.loads(text)[1]) == ["filename", "size", "algorithm", "digest"]
    assert text.startswith('[\n  {\n    "filename"')
    assert parse_manifest(text) == records


@pytest.mark.parametrize(
    "record",
    [
        {"filename": "a/b", "size": 1, "algorithm": "sha512", "digest": DIGEST},
        {"filename": "a\\b", "size": 1, "algorithm": "sha512", "digest": DIGEST},
        {"filename": "..", "size": 1, "algorithm": "sha512", "digest": DIGEST},
        {"filename": "a", "size": 1, "algorithm": "sha1", "digest": DIGEST},
        {"filename": "a", "size": -1, "algorithm": "sha512", "digest": DIGEST},
        {"filename": "a", "size": 1, "algorithm": "sha512", "digest": DIGEST, "visibility": "secret"},
    ],
    ids=["slash", "backslash", "dotdot", "sha1", "negative-size", "bad-visibility"],
)
def test_manifest_records_are_validated(record: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        parse_manifest(json.dumps([record]))


def test_batch_and_pending_upload_round_trip() -> None:
    batch = Batch(
        id=1795675894793520,
        uploaded="2026-11-26T06:07:11.463568Z",
        author="admin",
        message="Bug 1: x",
        files=(UploadFile("a.bin", 3, DIGEST, Visibility.INTERNAL),),
    )
    assert Batch.from_json(batch.to_json()) == batch
    pending = PendingUpload(DIGEST, batch.id, 3, Visibility.INTERNAL, "a.bin", "admin", 1795675999.0)
    assert PendingUpload.from_json(pending.to_json()) == pending
    with pytest.raises(ValidationError):
        PendingUpload.from_json(b'{"digest": "x"}')


def test_a_pending_upload_keeps_the_batchs_other_names_for_its_bytes() -> None:
    pending = PendingUpload(DIGEST, 1, 3, Visibility.PUBLIC, "a.bin", "admin", 1.0, other_filenames=("b.bin",))
    assert PendingUpload.from_json(pending.to_json()) == pending
    assert pending.filenames == ("a.bin", "b.bin")
    # Records written before the field existed name one file.
    older = {k: v for k, v in json.loads(pending.to_json()).items() if k != "other_filenames"}
    assert PendingUpload.from_json(json.dumps(older).encode()).filenames == ("a.bin",)
    with pytest.raises(ValidationError):
        PendingUpload.from_json(json.dumps({**older, "other_filenames": "b.bin"}).encode())
