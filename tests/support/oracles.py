"""Expected answers computed independently of the proxy's code: the PROTOCOL.md §2 error body
and AWS SigV4 query signatures (moto does not check signatures, so the tests do)."""

import hashlib
import hmac
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit


def problem_body(status: int, detail: str) -> dict[str, Any]:
    """The PROTOCOL.md §2 error body, both shapes."""
    title = f"{status} {HTTPStatus(status).phrase}: {detail}"
    shape = {"type": "about:blank", "title": title, "status": status, "detail": detail, "instance": "about:blank"}
    return {**shape, "error": {**shape, "name": title, "description": detail}}


def sigv4_query_signature(
    method: str, url: str, secret_key: str, region: str = "us-east-1", service: str = "s3"
) -> str:
    """AWS Signature Version 4 of a presigned URL, computed from its own query (S3 flavour)."""
    parts = urlsplit(url)
    params = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "X-Amz-Signature"]
    canonical_query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(params))
    query = dict(params)
    signed_headers = query["X-Amz-SignedHeaders"].split(";")
    headers = {"host": parts.netloc}
    canonical_request = "\n".join(
        [
            method,
            parts.path,  # S3 signs the path as sent, without normalising it
            canonical_query,
            "".join(f"{name}:{headers[name]}\n" for name in signed_headers),
            ";".join(signed_headers),
            "UNSIGNED-PAYLOAD",
        ]
    )
    timestamp = query["X-Amz-Date"]
    scope = f"{timestamp[:8]}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", timestamp, scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
    key = f"AWS4{secret_key}".encode()
    for part in (timestamp[:8], region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
