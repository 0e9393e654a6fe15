"""Expiring HMAC tokens for the proxy's own PUT endpoint.

A token binds one staging key (digest + batch id), the exact size and an expiry time; it is
carried in the put_url's query string, which is never logged.
"""

import hashlib
import hmac
import time
from dataclasses import dataclass
from urllib.parse import urlencode


@dataclass(frozen=True)
class PutGrant:
    digest: str
    batch_id: int
    size: int
    expires: int
    region: str = ""


def _signature(secret: bytes, grant: PutGrant) -> str:
    message = f"put\n{grant.digest}\n{grant.batch_id}\n{grant.size}\n{grant.expires}\n{grant.region}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def put_query(secret: bytes, grant: PutGrant) -> str:
    return urlencode(
        {
            "batch": grant.batch_id,
            "size": grant.size,
            "expires": grant.expires,
            "region": grant.region,
            "signature": _signature(secret, grant),
        }
    )


class InvalidGrant(Exception):
    """The token is malformed, tampered with or expired."""


def check_put_query(secret: bytes, digest: str, query: dict[str, str], now: float | None = None) -> PutGrant:
    try:
        grant = PutGrant(
            digest=digest,
            batch_id=int(query["batch"]),
            size=int(query["size"]),
            expires=int(query["expires"]),
            region=query.get("region", ""),
        )
        signature = query["signature"]
    except (KeyError, ValueError):
        raise InvalidGrant("the upload URL is incomplete; request a new one with POST /upload") from None
    if not hmac.compare_digest(_signature(secret, grant).encode(), signature.encode()):  # str: ASCII only
        raise InvalidGrant("the upload URL's signature is invalid; request a new one with POST /upload")
    if (time.time() if now is None else now) > grant.expires:
        raise InvalidGrant("the upload URL has expired; request a new one with POST /upload")
    return grant
