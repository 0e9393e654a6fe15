"""Where each document lives in the bucket (DESIGN.md §2). The only place keys are spelled."""

ARTIFACT_PREFIX = "sha512/"
INDEX_PREFIX = "index/sha512/"
UPLOADS_PREFIX = "uploads/"
QUARANTINE_PREFIX = "quarantine/"
BATCHES_PREFIX = "batches/"
REPLAY_PREFIX = "replay/"
PROBE_PREFIX = "probe/"


def artifact_key(digest: str) -> str:
    return f"sha512/{digest}"


def index_key(digest: str) -> str:
    return f"index/sha512/{digest}.json"


def staging_prefix(digest: str) -> str:
    return f"uploads/{digest}/"


def staging_key(digest: str, batch_id: int) -> str:
    return f"uploads/{digest}/{batch_id}"


def pending_key(digest: str, batch_id: int) -> str:
    return f"uploads/{digest}/{batch_id}.json"


def verifying_key(digest: str, batch_id: int, attempt: str) -> str:
    """One `upload/complete` attempt's private copy of the staged bytes while it hashes them:
    no put_url, other attempt or replica writes it."""
    return f"uploads/{digest}/{batch_id}.verifying-{attempt}"


def received_key(digest: str, batch_id: int) -> str:
    """What the proxy's own PUT endpoint wrote to the staging key and hashed as it arrived (its
    ETag and size). No put_url reaches it; without it, `upload/complete` hashes the staged bytes."""
    return f"uploads/{digest}/{batch_id}.received"


def is_verifying_key(key: str, digest: str, batch_id: int) -> bool:
    """A verifying copy of that upload, of any attempt (or of an older version's single key)."""
    base = f"uploads/{digest}/{batch_id}.verifying"
    return key == base or (key.startswith(f"{base}-") and key[len(base) + 1 :].isalnum())


def batch_key(batch_id: int) -> str:
    return f"batches/{batch_id}.json"


def quarantine_key(digest: str) -> str:
    """Where `verify --quarantine` moves bytes that do not hash to their name."""
    return f"{QUARANTINE_PREFIX}sha512/{digest}"


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
