"""Hawk headers as the two kinds of client make them (PROTOCOL.md §5).

`tooltool_header` follows what tooltool.py does: sha256 MAC, a 6-character nonce, a payload
hash only when there is a body (always over content type application/json), never `ext`.
`taskcluster_header` signs the way the taskcluster library does: through mohawk.Sender, always
with a payload hash, with `ext` carrying authorizedScopes and/or a temporary-credentials
certificate.
"""

import base64
import hashlib
import hmac
import json
import os
import time
from typing import Any
from urllib.parse import urlsplit

import mohawk


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def hawk_mac(
    access_token: str,
    ts: str,
    nonce: str,
    method: str,
    resource: str,
    host: str,
    port: int,
    payload_hash: str = "",
    ext: str = "",
) -> str:
    """The MAC over Hawk 1's normalized request string."""
    normalized = "\n".join(
        ["hawk.1.header", ts, nonce, method.upper(), resource, host, str(port), payload_hash, ext, ""]
    )
    return _b64(hmac.new(access_token.encode(), normalized.encode(), hashlib.sha256).digest())


def tooltool_header(
    client_id: str,
    access_token: str,
    method: str,
    url: str,
    body: bytes | None = None,
    *,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> str:
    parts = urlsplit(url)
    resource = parts.path + (f"?{parts.query}" if parts.query else "")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or base64.urlsafe_b64encode(os.urandom(6)).decode()[:6]
    payload_hash = ""
    if body is not None:
        payload = b"hawk.1.payload\napplication/json\n" + body + b"\n"
        payload_hash = _b64(hashlib.sha256(payload).digest())
    mac = hawk_mac(access_token, ts, nonce, method, resource, parts.hostname or "", port, payload_hash)
    header = f'Hawk mac="{mac}"'
    if payload_hash:
        header += f', hash="{payload_hash}"'
    return header + f', id="{client_id}", ts="{ts}", nonce="{nonce}"'


def taskcluster_ext(certificate: Any = None, authorized_scopes: list[str] | None = None) -> str:
    ext: dict[str, Any] = {}
    if certificate is not None:
        ext["certificate"] = json.loads(certificate) if isinstance(certificate, str | bytes) else certificate
    if authorized_scopes is not None:
        ext["authorizedScopes"] = authorized_scopes
    return base64.urlsafe_b64encode(json.dumps(ext).encode()).decode()


def taskcluster_header(
    client_id: str,
    access_token: str,
    method: str,
    url: str,
    body: bytes | None = None,
    *,
    ext: str | None = None,
) -> str:
    sender = mohawk.Sender(
        credentials={"id": client_id, "key": access_token, "algorithm": "sha256"},
        ext=ext or "",
        url=url,
        content=body or "",
        content_type="application/json" if body else "",
        method=method,
    )
    return str(sender.request_header)
