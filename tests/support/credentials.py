"""The clients every test proxy knows (its clients file), and the secrets no log line may hold."""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from proxy.config import DEFAULT_SCOPE_PREFIX

P = DEFAULT_SCOPE_PREFIX


@dataclass(frozen=True)
class Creds:
    client_id: str
    access_token: str
    scopes: tuple[str, ...]


ADMIN = Creds("admin", "admin-secret-token-0123456789", (f"{P}/*",))
PUBLIC_READER = Creds("public-reader", "public-reader-token-0123456789", (f"{P}/download/public",))
INTERNAL_READER = Creds("internal-reader", "internal-reader-token-01234567", (f"{P}/download/internal",))
UPLOADER = Creds(
    "uploader",
    "uploader-token-0123456789abcdef",
    (f"{P}/upload/public", f"{P}/upload/internal", f"{P}/download/*"),
)
PUBLIC_UPLOADER = Creds("public-uploader", "public-uploader-token-012345", (f"{P}/upload/public",))
NOBODY = Creds("nobody", "nobody-token-0123456789abcdefgh", ())
# May issue named temporary credentials called temporary-*, as Taskcluster requires.
TEMP_ISSUER = Creds(
    "temp-issuer",
    "temp-issuer-token-0123456789abcd",
    (f"{P}/download/*", "auth:create-client:temporary-*"),
)
ALL_CREDS = (ADMIN, PUBLIC_READER, INTERNAL_READER, UPLOADER, PUBLIC_UPLOADER, NOBODY, TEMP_ISSUER)
BEARER_TOKEN = "bearer-token-for-ci-0123456789abcdef"
BEARER_SCOPES = (f"{P}/download/public", f"{P}/download/internal")

# What no log line may ever hold, whichever test runs (PROTOCOL.md §6): every credential above,
# Hawk headers, S3 signatures, the token of a proxied put_url and Authorization headers at all.
LOG_SECRETS = (
    *(c.access_token for c in ALL_CREDS),
    BEARER_TOKEN,
    "Hawk mac=",
    "X-Amz-Signature",
    "X-Amz-Credential",
    "Key-Pair-Id=",  # CloudFront signed URLs
    "signature=",
    "Authorization",
)


def write_clients_file(path: Path) -> Path:
    doc = {
        "clients": [
            {"clientId": c.client_id, "accessToken": c.access_token, "scopes": list(c.scopes)} for c in ALL_CREDS
        ],
        "bearerTokens": [
            {"name": "ci", "sha256": hashlib.sha256(BEARER_TOKEN.encode()).hexdigest(), "scopes": list(BEARER_SCOPES)}
        ],
    }
    path.write_text(json.dumps(doc))
    return path
