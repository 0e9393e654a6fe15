"""The cluster-wide replay guard for Hawk requests that change something (DESIGN.md §6).

Each process remembers the Hawk nonces it accepted (Authenticator, bounded in bytes), which is
enough for downloads. A request that changes something (POST /upload, upload/complete, PATCH)
must not be accepted twice by any replica behind one load balancer, so accepting one also
creates a marker object `replay/<ts>/<hash of client id and nonce>` with create-if-absent: the
second replica to try finds it and refuses the request. Markers are a few bytes; `gc` removes
them once they are older than any request Hawk's clock-skew window still admits.
"""

import hashlib
import secrets

from proxy.keys import replay_marker_key
from proxy.storage import ObjectStore, PreconditionFailed


class ReplayGuard:
    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    async def claim(self, client_id: str, timestamp: int, nonce: str) -> bool:
        """True if no replica accepted this client's (timestamp, nonce) before; False for a replay."""
        fingerprint = hashlib.sha256(f"{client_id}\n{nonce}".encode()).hexdigest()
        try:
            # A body of its own, so a write retried after a lost answer recognises itself.
            await self.store.write(
                replay_marker_key(timestamp, fingerprint), secrets.token_hex(8).encode(), "text/plain", if_absent=True
            )
        except PreconditionFailed:
            return False
        return True
