"""Where each document lives in the bucket (DESIGN.md §2). The only place keys are spelled.

Builders (`artifact_key` …) make keys; parsers (`digest_of_artifact_key` …) read listed keys
back, and accept exactly the keys the builders make.
"""

from manifests import is_valid_digest

ARTIFACT_PREFIX = "sha512/"
INDEX_PREFIX = "index/sha512/"
UPLOADS_PREFIX = "uploads/"
QUARANTINE_PREFIX = "quarantine/"
BATCHES_PREFIX = "batches/"
REPLAY_PREFIX = "replay/"
PROBE_PREFIX = "probe/"
JOURNAL_PREFIX = "journal/"
# The search catalog's snapshot (proxy/catalog.py), which every replica starts from.
CATALOG_SNAPSHOT_KEY = "catalog/snapshot.json.gz"
_JSON = ".json"


def artifact_key(digest: str) -> str:
    return f"{ARTIFACT_PREFIX}{digest}"


def digest_of_artifact_key(key: str) -> str | None:
    digest = key.removeprefix(ARTIFACT_PREFIX)
    return digest if is_valid_digest(digest) and key == artifact_key(digest) else None


def index_key(digest: str) -> str:
    return f"{INDEX_PREFIX}{digest}{_JSON}"


def digest_of_index_key(key: str) -> str | None:
    digest = key.removeprefix(INDEX_PREFIX).removesuffix(_JSON)
    return digest if is_valid_digest(digest) and key == index_key(digest) else None


def staging_prefix(digest: str) -> str:
    return f"{UPLOADS_PREFIX}{digest}/"


def staging_key(digest: str, batch_id: int) -> str:
    return f"{staging_prefix(digest)}{batch_id}"


def pending_key(digest: str, batch_id: int) -> str:
    return f"{staging_key(digest, batch_id)}{_JSON}"


def is_pending_key(key: str) -> bool:
    """A pending-upload record, among the keys under a staging prefix."""
    return key.startswith(UPLOADS_PREFIX) and key.endswith(_JSON)


def upload_of_key(key: str) -> tuple[str, int] | None:
    """(digest, batch id) of a staged upload, its verifying copies, the record of its hash on
    arrival, or its pending record."""
    parts = key.split("/")
    if len(parts) != 3 or not key.startswith(UPLOADS_PREFIX) or not is_valid_digest(parts[1]):
        return None
    digest, batch = parts[1], parts[2].split(".", 1)[0]
    if not (batch.isascii() and batch.isdigit()):
        return None
    batch_id = int(batch)
    if key in (staging_key(digest, batch_id), pending_key(digest, batch_id), received_key(digest, batch_id)):
        return digest, batch_id
    if is_verifying_key(key, digest, batch_id):
        return digest, batch_id
    return None


def verifying_key(digest: str, batch_id: int, attempt: str) -> str:
    """One `upload/complete` attempt's private copy of the staged bytes while it hashes them:
    no put_url, other attempt or replica writes it."""
    return f"{staging_key(digest, batch_id)}.verifying-{attempt}"


def received_key(digest: str, batch_id: int) -> str:
    """What the proxy's own PUT endpoint wrote to the staging key and hashed as it arrived (its
    ETag and size). No put_url reaches it; without it, `upload/complete` hashes the staged bytes."""
    return f"{staging_key(digest, batch_id)}.received"


def is_verifying_key(key: str, digest: str, batch_id: int) -> bool:
    """A verifying copy of that upload, of any attempt (or of an older version's single key)."""
    base = f"{staging_key(digest, batch_id)}.verifying"
    return key == base or (key.startswith(f"{base}-") and key[len(base) + 1 :].isalnum())


def batch_key(batch_id: int) -> str:
    return f"{BATCHES_PREFIX}{batch_id}{_JSON}"


def batch_id_of_key(key: str) -> int | None:
    """The id of a listed batch record's key, or None for a key that is not one."""
    name = key.removeprefix(BATCHES_PREFIX).removesuffix(_JSON)
    return int(name) if name.isascii() and name.isdigit() and batch_key(int(name)) == key else None


def quarantine_key(digest: str) -> str:
    """Where `verify --quarantine` moves bytes that do not hash to their name."""
    return f"{QUARANTINE_PREFIX}{artifact_key(digest)}"


def replay_marker_key(timestamp: int, fingerprint: str) -> str:
    """The marker a replica creates (create-if-absent) when it accepts a mutating Hawk request:
    `fingerprint` is a hash of the client id and nonce, `timestamp` the request's Hawk ts, so
    `gc` can tell stale markers from the key alone."""
    return f"{REPLAY_PREFIX}{timestamp:010d}/{fingerprint}"


def replay_marker_time(key: str) -> int | None:
    """The Hawk timestamp a marker key holds, or None for a key replay_marker_key did not make."""
    stamp = key.removeprefix(REPLAY_PREFIX).partition("/")[0]
    return int(stamp) if key.startswith(REPLAY_PREFIX) and len(stamp) == 10 and stamp.isdigit() else None


def probe_key(token: str) -> str:
    """Where the start-up probe checks that the store honours create-if-absent."""
    return f"{PROBE_PREFIX}conditional-writes/{token}"


def journal_record_key(stamp: str, token: str) -> str:
    """A journal record written at `stamp` (proxy/journal.py's sortable UTC time), `token` apart
    from any other written then."""
    return f"{JOURNAL_PREFIX}{stamp}-{token}{_JSON}"
