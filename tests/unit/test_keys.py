"""proxy/keys.py: the parsers accept exactly the keys the builders make."""

import pytest

from proxy import keys

DIGEST = "ab" * 64


def test_parsers_read_back_what_the_builders_make() -> None:
    assert keys.digest_of_artifact_key(keys.artifact_key(DIGEST)) == DIGEST
    assert keys.digest_of_index_key(keys.index_key(DIGEST)) == DIGEST
    assert keys.batch_id_of_key(keys.batch_key(1234)) == 1234
    for key in (
        keys.staging_key(DIGEST, 7),
        keys.pending_key(DIGEST, 7),
        keys.verifying_key(DIGEST, 7, "0123abcd"),
    ):
        assert keys.upload_of_key(key) == (DIGEST, 7)
    assert keys.is_pending_key(keys.pending_key(DIGEST, 7))
    assert not keys.is_pending_key(keys.staging_key(DIGEST, 7))


@pytest.mark.parametrize(
    "key",
    [
        "sha512/not-a-digest",
        f"sha512/{DIGEST}/x",
        f"quarantine/sha512/{DIGEST}",
        f"index/sha512/{DIGEST}",
        f"index/sha512/{DIGEST}.json.bak",
        "batches/12x.json",
        "batches/١٢.json",  # digits that are not ASCII
        f"uploads/{DIGEST}/7.bak",
        f"uploads/{DIGEST}/x7",
        f"other/{DIGEST}/7",
    ],
)
def test_parsers_refuse_keys_no_builder_makes(key: str) -> None:
    assert keys.digest_of_artifact_key(key) is None
    assert keys.digest_of_index_key(key) is None
    assert keys.batch_id_of_key(key) is None
    assert keys.upload_of_key(key) is None


def test_every_prefix_is_the_start_of_its_keys() -> None:
    assert keys.artifact_key(DIGEST).startswith(keys.ARTIFACT_PREFIX)
    assert keys.index_key(DIGEST).startswith(keys.INDEX_PREFIX)
    assert keys.staging_prefix(DIGEST).startswith(keys.UPLOADS_PREFIX)
    assert keys.batch_key(1).startswith(keys.BATCHES_PREFIX)
    assert keys.quarantine_key(DIGEST) == keys.QUARANTINE_PREFIX + keys.artifact_key(DIGEST)
    assert keys.replay_marker_key(1, "f").startswith(keys.REPLAY_PREFIX)
    assert keys.probe_key("t").startswith(keys.PROBE_PREFIX)
    assert keys.journal_record_key("20260101T000000000000", "beef").startswith(keys.JOURNAL_PREFIX)
